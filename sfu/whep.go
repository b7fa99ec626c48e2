package sfu

import (
	"sort"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

// WHEP playback (view-only, client offers): the client's recvonly sections
// become viewSlots, fixed for the life of the connection. Each slot forwards
// one of the room's tracks of its kind and is rebound to another track
// without renegotiation (as replaceTrack does), its outgoing SSRC, sequence
// numbers, timestamps and VP8 picture IDs continuing across the switch.

const maxViewSlots = 4

// viewSlot is one recvonly section of a WHEP client's offer. It is the
// TrackLocal bound to that section's sender; the downTrack of the current
// source borrows its negotiated parameters.
type viewSlot struct {
	kind       webrtc.RTPCodecType
	id, stream string
	sender     *webrtc.RTPSender

	mu     sync.Mutex
	params *bindParams // set by Bind
	cur    *downTrack  // the current source; nil = none
}

func (v *viewSlot) ID() string                { return v.id }
func (v *viewSlot) RID() string               { return "" }
func (v *viewSlot) StreamID() string          { return v.stream }
func (v *viewSlot) Kind() webrtc.RTPCodecType { return v.kind }

// Bind implements webrtc.TrackLocal: the answer is applied.
func (v *viewSlot) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	b := &bindParams{codecs: ctx.CodecParameters(), exts: ctx.HeaderExtensions(), ssrc: uint32(ctx.SSRC()),
		rtxSSRC: uint32(ctx.SSRCRetransmission()), writer: ctx.WriteStream()}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.params = b
	if v.cur != nil {
		if c, err := v.cur.bind(*b); err == nil {
			return c, nil
		}
	}
	for _, c := range b.codecs {
		if c.MimeType != webrtc.MimeTypeRTX {
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, apperr.New(apperr.Invalid, "no codec for %s", v.kind)
}

// Unbind implements webrtc.TrackLocal.
func (v *viewSlot) Unbind(webrtc.TrackLocalContext) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cur != nil {
		v.cur.unbind()
	}
	return nil
}

func (v *viewSlot) current() *downTrack {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cur
}

// setSource makes dt the slot's source (nil: none); dt inherits the
// outgoing stream of the previous one.
func (v *viewSlot) setSource(dt *downTrack) (prev *downTrack) {
	v.mu.Lock()
	defer v.mu.Unlock()
	prev = v.cur
	if prev != nil {
		prev.unbind()
	}
	v.cur = dt
	if dt == nil {
		return prev
	}
	dt.sender = v.sender
	dt.inherit = prev
	if v.params != nil {
		if _, err := dt.bind(*v.params); err != nil {
			dt.pt.owner.log.Debug("view slot cannot carry this codec", "codec", dt.pt.codec.MimeType)
		}
	}
	return prev
}

// JoinWithOffer adds a view-only participant whose client offers (WHEP):
// offer's recvonly audio and video sections carry the room's tracks — the
// first published video and audio, or the publisher chosen with
// SetViewSource — and the answer (with every server ICE candidate) is
// returned. There is no server-initiated renegotiation: when a source ends
// or another is chosen, the section is rebound to the next track of its
// kind. info.CanPublish is ignored (view only).
func (r *Room) JoinWithOffer(info ParticipantInfo, ev Events, offer webrtc.SessionDescription) (*Participant, webrtc.SessionDescription, error) {
	var none webrtc.SessionDescription
	if err := checkSDP(offer, webrtc.SDPTypeOffer); err != nil {
		r.sfu.reapRoom(r)
		return nil, none, err
	}
	parsed, err := offer.Unmarshal()
	if err != nil {
		r.sfu.reapRoom(r)
		return nil, none, apperr.Wrap(err, apperr.Invalid, "invalid offer SDP")
	}
	if n := viewSections(parsed); n == 0 || n > maxViewSlots {
		r.sfu.reapRoom(r)
		return nil, none, apperr.New(apperr.Invalid, "offer needs 1 to %d receiving audio/video sections, has %d", maxViewSlots, n)
	}
	info.CanPublish, info.CanSubscribe = false, true
	reply := make(chan answerResult, 1)
	p, err := r.join(info, ev, true, func(p *Participant) {
		// First on the loop, before the subscribe ops of the join.
		p.ops.Push(func() { reply <- p.answerView(offer) })
	})
	if err != nil {
		return nil, none, err
	}
	var res answerResult
	select {
	case res = <-reply:
	case <-p.done:
		return nil, none, errLeft()
	}
	if res.err != nil {
		p.Leave()
		return nil, none, res.err
	}
	t := time.NewTimer(gatherTimeout)
	defer t.Stop()
	select {
	case <-res.gathered:
	case <-t.C:
		p.log.Warn("ICE gathering slow; answering with the candidates so far")
	case <-p.done:
		return nil, none, errLeft()
	}
	return p, *p.sub.LocalDescription(), nil
}

type answerResult struct {
	gathered <-chan struct{}
	err      error
}

// viewSections counts the offer's audio/video sections that can receive.
func viewSections(d *sdp.SessionDescription) int {
	n := 0
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		if _, ok := m.Attribute("sendonly"); ok {
			continue
		}
		if _, ok := m.Attribute("inactive"); ok {
			continue
		}
		n++
	}
	return n
}

// answerView answers the WHEP offer on the loop goroutine: one slot per
// receiving section, named after the source it will start with.
func (p *Participant) answerView(offer webrtc.SessionDescription) answerResult {
	if err := p.sub.SetRemoteDescription(offer); err != nil {
		return answerResult{err: apperr.Wrap(err, apperr.Invalid, "offer rejected")}
	}
	p.flushCandidates(Subscriber)
	initial := p.room.viewCandidates(p.info.ID, p.follow)
	for _, tr := range p.sub.GetTransceivers() {
		if tr.Sender() != nil || (tr.Direction() != webrtc.RTPTransceiverDirectionSendonly && tr.Direction() != webrtc.RTPTransceiverDirectionSendrecv) {
			continue
		}
		kind := tr.Kind()
		v := &viewSlot{kind: kind, id: kind.String(), stream: "jobhall"}
		for i, pt := range initial {
			if pt != nil && pt.kind == kind {
				v.id, v.stream = pt.info.TrackID, pt.info.ParticipantID
				initial[i] = nil
				break
			}
		}
		sender, err := p.sub.AddTrack(v)
		if err != nil {
			return answerResult{err: apperr.Wrap(err, apperr.Internal, "add view track")}
		}
		v.sender = sender
		p.slots = append(p.slots, v)
		p.sfu.spawn(func() { p.sfu.readSenderRTCP(sender, v.current) })
	}
	answer, err := p.sub.CreateAnswer(nil)
	if err != nil {
		return answerResult{err: apperr.Wrap(err, apperr.Invalid, "cannot answer offer")}
	}
	gathered := webrtc.GatheringCompletePromise(p.sub)
	if err := p.sub.SetLocalDescription(answer); err != nil {
		return answerResult{err: apperr.Wrap(err, apperr.Internal, "set local answer")}
	}
	p.dirty = true // bind the slots once the join's subscribe ops are in
	return answerResult{gathered: gathered}
}

// viewCandidates lists the room's tracks others may view, the followed
// publisher's first, then by publish order.
func (r *Room) viewCandidates(self, follow string) []*publishedTrack {
	r.mu.Lock()
	l := make([]*publishedTrack, 0, len(r.tracks))
	for pt := range r.tracks {
		if pt.info.ParticipantID != self {
			l = append(l, pt)
		}
	}
	r.mu.Unlock()
	sortView(l, follow)
	return l
}

func sortView(l []*publishedTrack, follow string) {
	sort.Slice(l, func(i, j int) bool {
		fi, fj := l[i].info.ParticipantID == follow, l[j].info.ParticipantID == follow
		if fi != fj {
			return fi
		}
		return l[i].order < l[j].order
	})
}

// SetViewSource makes a WHEP viewer watch publisherID's tracks (the first
// of each kind) when it publishes; "" = the first publisher. The sections
// switch at once if the publisher has tracks, else on its next publish.
func (p *Participant) SetViewSource(publisherID string) error {
	if !p.view {
		return apperr.New(apperr.Conflict, "not a view-only (WHEP) participant")
	}
	if !p.ops.Push(func() {
		p.follow = publisherID
		p.dirty = true
	}) {
		return errLeft()
	}
	return nil
}

// rebindSlots points each slot at the best available track of its kind.
// Loop goroutine only.
func (p *Participant) rebindSlots() {
	avail := make([]*publishedTrack, 0, len(p.avail))
	for pt := range p.avail {
		if !pt.isClosed() {
			avail = append(avail, pt)
		}
	}
	sortView(avail, p.follow)
	used := map[*publishedTrack]bool{}
	for _, v := range p.slots {
		var want *publishedTrack
		for _, pt := range avail {
			if pt.kind == v.kind && !used[pt] {
				want = pt
				break
			}
		}
		cur := v.current()
		if cur != nil && cur.pt == want {
			used[want] = true
			continue
		}
		var dt *downTrack
		if want != nil {
			used[want] = true
			dt = newDownTrack(want, p.eg)
		}
		prev := v.setSource(dt)
		if prev != nil {
			delete(p.downs, prev.pt)
			prev.pt.removeDown(prev)
		}
		if dt != nil {
			p.downs[want] = dt
			want.addDown(dt)
		}
		p.publishDowns()
	}
}
