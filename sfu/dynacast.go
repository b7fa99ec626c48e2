package sfu

import (
	"slices"
	"sync/atomic"
	"time"
)

// LayerEvents is an optional Events interface (dynacast). PublishedLayers
// is called on the publisher's Events with the simulcast RIDs of one of its
// tracks that it should keep sending (the others nobody consumes: the
// client may stop encoding them, e.g. RTCRtpSender.setParameters with
// encodings[i].active = false). It is called whenever that set changes,
// the first time only once a layer is paused. Called from the SFU's
// dynacast goroutine with no lock held; it must not block.
type LayerEvents interface {
	PublishedLayers(trackID string, active []string)
}

const (
	dynacastInterval = 250 * time.Millisecond
	// A layer no consumer wanted for this long is paused; a wanted one is
	// resumed on the next pass (the egress kicks the loop at once).
	dynacastIdle = 3 * time.Second
	// After a resume the publisher needs a moment to send again; until then
	// the allocator keeps counting on the layer, so it is not paused anew.
	resumeGrace = 2 * time.Second
	// Local sinks (the recorder) move up to a layer only once it has sent
	// this long without a break, so a recording does not follow every
	// flicker of the encoder's top layer.
	sinkSettle = 2 * time.Second
)

// dynState is one published track's dynacast state. paused and resumedAt
// are read by egress workers (layer.usable); the rest is owned by the
// dynacast goroutine.
type dynState struct {
	paused    atomic.Uint32 // layers the publisher was told to stop (bit per rank)
	resumedAt [maxLayers]atomic.Int64

	rids      []string // the track's RIDs from the SDP; nil until first seen
	ranks     []int    // layer rank of each RID
	idleSince [maxLayers]int64
	askKey    [maxLayers]bool  // resumed: request a keyframe once packets flow
	upSince   [maxLayers]int64 // since when each layer sends without a break
}

// usable tells the allocator whether it may pick l: it sends, or it is
// paused only because nobody wanted it (choosing it resumes it).
func (l *layer) usable(now int64) bool {
	if l.active(now) {
		return true
	}
	d := &l.pt.dyn
	return d.paused.Load()&(1<<l.idx) != 0 || now-d.resumedAt[l.idx].Load() < int64(resumeGrace)
}

// kickDynacast makes the dynacast loop run now (a paused layer is wanted).
func (s *SFU) kickDynacast() {
	select {
	case s.dynKick <- struct{}{}:
	default:
	}
}

// wantsPaused reports whether mask asks for a layer of pt that is paused.
func (pt *publishedTrack) wantsPaused(mask uint32) bool {
	return mask&pt.dyn.paused.Load() != 0
}

type layerNotice struct {
	ev     LayerEvents
	track  string
	active []string
}

func (s *SFU) dynacastLoop() {
	t := time.NewTicker(dynacastInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		case <-s.dynKick:
		}
		rooms := s.roomList()
		now := sfuClock()
		var notes []layerNotice
		for _, r := range rooms {
			r.mu.Lock()
			tracks := r.trackListLocked()
			r.mu.Unlock()
			for _, pt := range tracks {
				if n, ok := pt.dynacast(now); ok {
					notes = append(notes, n)
				}
			}
		}
		for _, n := range notes {
			n.ev.PublishedLayers(n.track, n.active)
		}
	}
}

// wanted is the set of layers some consumer of pt wants now: each remote
// subscriber's current and target layer, and the layer feeding local
// sinks. A subscriber not yet negotiated counts as wanting every layer.
// While anyone subscribes, the lowest layer stays on too: it is cheap, and
// a subscriber whose bandwidth collapses must be able to fall back at
// once, not after the publisher's encoder restarts. A relay to edge nodes
// wants every layer: each edge picks layers per viewer from all of them.
func (pt *publishedTrack) wanted() uint32 {
	if len(*pt.relays.Load()) > 0 {
		return 1<<maxLayers - 1
	}
	var m uint32
	downs := *pt.downs.Load()
	if len(downs) > 0 {
		m = 1
		for i := 0; i < maxLayers; i++ {
			if pt.layer(i) != nil {
				m = 1 << i
				break
			}
		}
	}
	for _, dt := range downs {
		if !dt.bound.Load() && !dt.unbound.Load() {
			return 1<<maxLayers - 1
		}
		if dt.live() {
			m |= dt.want.Load()
		}
	}
	if len(*pt.sinkList.Load()) > 0 {
		// Local sinks want the top layer, and the one they take meanwhile.
		m |= 1 << pt.sinkL.Load()
		for i := maxLayers - 1; i >= 0; i-- {
			if pt.layer(i) != nil {
				m |= 1 << i
				break
			}
		}
	}
	return m
}

// settleSink picks the layer local sinks follow (dynacast goroutine): the
// highest layer that sends, moving down at once when the current one stops
// (an encoder under CPU or bandwidth pressure drops its top layer) and up
// only to a layer that has sent for sinkSettle.
func (pt *publishedTrack) settleSink(now int64) {
	d := &pt.dyn
	best := -1
	for i := maxLayers - 1; i >= 0; i-- {
		l := pt.layer(i)
		if l == nil || !l.active(now) {
			d.upSince[i] = 0
			continue
		}
		if d.upSince[i] == 0 {
			d.upSince[i] = now
		}
		if best < 0 {
			best = i
		}
	}
	cur := int(pt.sinkL.Load())
	if best < 0 || best == cur {
		return
	}
	if l := pt.layer(cur); l != nil && l.active(now) && (best < cur || now-d.upSince[best] < int64(sinkSettle)) {
		return
	}
	pt.sinkL.Store(int32(best))
}

// dynacast updates pt's paused layers (dynacast goroutine only) and
// returns the notice to send when they changed.
func (pt *publishedTrack) dynacast(now int64) (layerNotice, bool) {
	d := &pt.dyn
	if !pt.isVideo() || pt.isClosed() {
		return layerNotice{}, false
	}
	if len(*pt.sinkList.Load()) > 0 {
		pt.settleSink(now)
	}
	if d.rids == nil {
		if pt.recv == nil {
			return layerNotice{}, false
		}
		d.rids = []string{}
		for _, tr := range pt.recv.Tracks() {
			if r := layerRank(tr.RID()); r >= 0 && tr.RID() != "" {
				d.rids = append(d.rids, tr.RID())
				d.ranks = append(d.ranks, r)
			}
		}
	}
	if len(d.rids) < 2 {
		return layerNotice{}, false // not simulcast: nothing to pause
	}
	want := pt.wanted()
	paused := d.paused.Load()
	next := paused
	for i := 0; i < maxLayers; i++ {
		bit := uint32(1) << i
		l := pt.layer(i)
		switch {
		case want&bit != 0:
			d.idleSince[i] = 0
			if paused&bit != 0 {
				next &^= bit
				d.resumedAt[i].Store(now)
				d.askKey[i] = true
			}
		case l == nil || paused&bit != 0:
			// Not sending yet, or already paused.
		case d.idleSince[i] == 0:
			d.idleSince[i] = now
		case now-d.idleSince[i] >= int64(dynacastIdle) && now-d.resumedAt[i].Load() >= int64(resumeGrace):
			next |= bit
		}
		// A resumed layer gets a keyframe request once it sends again (the
		// one asked for when it was chosen went to a silent encoder).
		if d.askKey[i] && l != nil && l.lastPkt.Load() > d.resumedAt[i].Load() {
			d.askKey[i] = false
			l.kf.request()
		}
	}
	if next == paused {
		return layerNotice{}, false
	}
	d.paused.Store(next)
	if pt.owner == nil {
		return layerNotice{}, false
	}
	ev, ok := pt.owner.ev.(LayerEvents)
	if !ok {
		return layerNotice{}, false
	}
	active := make([]string, 0, len(d.rids))
	for i, rid := range d.rids {
		if next&(1<<d.ranks[i]) == 0 {
			active = append(active, rid)
		}
	}
	return layerNotice{ev: ev, track: pt.info.TrackID, active: slices.Clip(active)}, true
}
