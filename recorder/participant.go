package recorder

import (
	"sync"
	"sync/atomic"
	"time"
)

const (
	mailboxLen      = 256
	maxPendingCount = 1024     // samples buffered before a file is open
	maxPendingBytes = 32 << 20 // and their total size
)

type eventType int

const (
	evSample eventType = iota
	evTrackDone
)

type event struct {
	typ eventType
	w   *trackWriter
	smp sample
}

// participant is one participant's muxer: run owns all fields below
// "owned by run"; the rest is set up front or guarded as noted.
type participant struct {
	s    *Session
	id   string
	in   chan event    // samples and track ends from track goroutines
	stop chan struct{} // closed by Session.Close
	wake chan struct{} // cap 1: a track was handed over

	liveTracks atomic.Int32 // tracks whose goroutine runs; read by AddTrack

	mu    sync.Mutex
	added []*trackWriter // handed over by AddTrack, not yet taken by run

	clockMu     sync.Mutex
	haveClock   bool
	clockOffset time.Duration // our wall clock minus the sender's, fixed at its first report

	// owned by run
	live         map[*trackWriter]bool
	active       [numKinds]*trackWriter // newest track of each kind; others' samples are dropped
	seg          *segment
	pending      []sample
	pendingBytes int
	pendingDrops int
	openTimer    *time.Timer
	vcfg         *videoConfig // from the newest video keyframe seen
	stopping     bool
}

func newParticipant(s *Session, id string) *participant {
	return &participant{
		s:    s,
		id:   id,
		in:   make(chan event, mailboxLen),
		stop: make(chan struct{}),
		wake: make(chan struct{}, 1),
		live: make(map[*trackWriter]bool),
	}
}

// handOver gives a new track to the muxer without blocking.
func (p *participant) handOver(w *trackWriter) {
	p.liveTracks.Add(1)
	p.mu.Lock()
	p.added = append(p.added, w)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// post is called by track goroutines; it blocks only them.
func (p *participant) post(e event) {
	p.in <- e
}

func (p *participant) run() {
	defer p.s.wg.Done()
	stop := p.stop
	for {
		p.takeAdded()
		if p.stopping && len(p.live) == 0 {
			p.finish()
			return
		}
		var timerC <-chan time.Time
		if p.openTimer != nil {
			timerC = p.openTimer.C
		}
		select {
		case <-p.wake:
		case e := <-p.in:
			p.takeAdded() // a track's events come after its hand-over
			p.handle(e)
		case <-timerC:
			p.openTimer = nil
			p.tryOpen(true)
		case <-stop:
			p.stopping = true
			stop = nil
		}
	}
}

func (p *participant) takeAdded() {
	p.mu.Lock()
	added := p.added
	p.added = nil
	p.mu.Unlock()
	for _, w := range added {
		p.addTrack(w)
	}
}

func (p *participant) addTrack(w *trackWriter) {
	p.live[w] = true
	p.active[w.kind] = w
	if w.kind == kindVideo {
		p.vcfg = nil // wait for this track's keyframe
	}
	if p.seg != nil {
		if p.seg.has(w.kind) {
			// A different video codec gets a new file at its first keyframe (handle).
			// Re-publish: continue in this file; new video waits for its keyframe.
			if w.kind == kindVideo {
				p.seg.videoStarted = false
			}
			return
		}
		// The file has no room for this kind: start a new one.
		p.s.log.Info("new track kind: starting a new file", "participant", p.id, "kind", w.kind)
		p.finalize()
		if v := p.active[kindVideo]; v != nil {
			v.requestKeyframe()
		}
	}
	p.startTimer()
	p.tryOpen(false)
}

func (p *participant) handle(e event) {
	switch e.typ {
	case evSample:
		s := e.smp
		if p.active[s.kind] != e.w {
			return // superseded by a re-publish
		}
		if s.kind == kindVideo && s.key && s.cfg != nil {
			p.vcfg = s.cfg
			if p.seg != nil && (!p.seg.has(kindVideo) || !p.seg.vcfg.sameStream(s.cfg)) {
				// New codec (or H.264 parameter sets), or video after a file
				// opened without it: a new file keeps each one decodable by
				// every player. A new size alone stays in the file.
				p.s.log.Info("video format changed: starting a new file", "participant", p.id,
					"width", s.cfg.width, "height", s.cfg.height)
				p.finalize()
				p.buffer(s)
				p.tryOpen(true)
				return
			}
		}
		if p.seg != nil {
			p.seg.write(s)
			return
		}
		p.buffer(s)
		p.tryOpen(false)
	case evTrackDone:
		p.liveTracks.Add(-1)
		delete(p.live, e.w)
		if p.active[e.w.kind] == e.w {
			p.active[e.w.kind] = nil
		}
		if len(p.live) == 0 {
			// The participant left (or the session closes): finish its file now.
			p.finish()
		}
	}
}

// buffer keeps s until a file opens, dropping the oldest sample when full.
func (p *participant) buffer(s sample) {
	p.pending = append(p.pending, s)
	p.pendingBytes += len(s.data)
	for len(p.pending) > maxPendingCount || p.pendingBytes > maxPendingBytes {
		p.pendingBytes -= len(p.pending[0].data)
		p.pending[0] = sample{}
		p.pending = p.pending[1:]
		p.pendingDrops++
	}
}

func (p *participant) startTimer() {
	if p.openTimer == nil && p.seg == nil {
		p.openTimer = time.NewTimer(openDelay)
	}
}

func (p *participant) stopTimer() {
	if p.openTimer != nil {
		p.openTimer.Stop()
		p.openTimer = nil
	}
}

// tryOpen opens a file when both kinds are present and the video frame size
// is known, or unconditionally when force (timer fired, tracks ended).
func (p *participant) tryOpen(force bool) {
	if p.seg != nil {
		return
	}
	var has [numKinds]bool
	for k := range numKinds {
		has[k] = p.active[k] != nil
	}
	for _, s := range p.pending {
		if s.kind == kindAudio || s.key {
			has[s.kind] = true
		}
	}
	if !has[kindAudio] && !has[kindVideo] {
		return
	}
	if !force && !(has[kindAudio] && has[kindVideo] && p.vcfg != nil) {
		return
	}
	if has[kindVideo] && p.vcfg == nil {
		has[kindVideo] = false // no keyframe yet: the file cannot declare its video track
	}
	if !has[kindAudio] && !has[kindVideo] {
		return
	}
	p.stopTimer()
	if p.pendingDrops > 0 {
		p.s.log.Warn("pre-open buffer overflowed", "participant", p.id, "dropped_samples", p.pendingDrops)
	}
	channels := 2
	if a := p.active[kindAudio]; a != nil {
		channels = int(a.info.Channels)
	}
	p.seg = openSegment(p.s, p.id, has, p.vcfg, channels)
	// The earliest buffered sample is media time 0, whatever order they came in.
	for i, s := range p.pending {
		if i == 0 || s.at < p.seg.origin {
			p.seg.origin, p.seg.haveOrigin = s.at, true
		}
	}
	for _, s := range p.pending {
		p.seg.write(s)
	}
	clear(p.pending)
	p.pending, p.pendingBytes, p.pendingDrops = p.pending[:0], 0, 0
}

// finalize closes the open file, if any, and reports it.
func (p *participant) finalize() {
	if p.seg == nil {
		return
	}
	f := p.seg.close()
	p.seg = nil
	p.s.fileDone(f)
}

// finish writes out whatever is buffered and closes the file.
func (p *participant) finish() {
	if len(p.pending) > 0 {
		p.tryOpen(true)
	}
	p.finalize()
	p.stopTimer()
	clear(p.pending)
	p.pending, p.pendingBytes = p.pending[:0], 0
}

// senderTime maps a sender's wall clock onto the session timeline. The
// sender's clock is fixed to ours by its first report (of any of its tracks),
// so later reports align its audio and video exactly however the RTP clocks
// drift.
func (p *participant) senderTime(ntp, arrival time.Time) time.Duration {
	p.clockMu.Lock()
	if !p.haveClock {
		p.clockOffset, p.haveClock = arrival.Sub(ntp), true
	}
	off := p.clockOffset
	p.clockMu.Unlock()
	return ntp.Add(off).Sub(p.s.epoch)
}
