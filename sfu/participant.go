package sfu

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

// Target names one of a participant's two PeerConnections.
type Target int

const (
	Publisher  Target = iota // client offers, server answers; carries the client's media
	Subscriber               // server offers, client answers; carries everyone else's media
)

func (t Target) String() string {
	switch t {
	case Publisher:
		return "publisher"
	case Subscriber:
		return "subscriber"
	default:
		return fmt.Sprintf("target(%d)", int(t))
	}
}

func (t Target) valid() bool { return t == Publisher || t == Subscriber }

// ParticipantInfo identifies a participant and what it may do.
type ParticipantInfo struct {
	ID, Name                 string
	CanPublish, CanSubscribe bool
}

// Events is implemented by the signalling connection. Methods are called from
// Pion or SFU goroutines and MUST NOT block (the implementation enqueues to a
// mailbox). Calls for one participant and Target arrive in order.
type Events interface {
	// SubscriberOffer: send to the client, a server-initiated offer on the
	// subscribe PC. Answer with Participant.SetSubscriberAnswer.
	SubscriberOffer(offer webrtc.SessionDescription)
	// ICECandidate: send to the client. Only called for the Subscriber target
	// (the publish answer already carries every server candidate) and never
	// for the end-of-candidates nil. Always follows the offer it belongs to.
	ICECandidate(target Target, c webrtc.ICECandidateInit)
	// ConnectionState reports changes of either PeerConnection, deduplicated;
	// Failed means the client should rejoin. Closed arrives after Leave.
	ConnectionState(target Target, state webrtc.PeerConnectionState)
}

// Participant is one client in a room with its two PeerConnections.
type Participant struct {
	info ParticipantInfo
	room *Room
	sfu  *SFU
	ev   Events
	log  *slog.Logger
	pub  *webrtc.PeerConnection
	sub  *webrtc.PeerConnection

	ops       *mailbox
	done      chan struct{} // closed by shutdown; stops the loop
	doneOnce  sync.Once
	loopDone  chan struct{} // closed when the loop has exited
	loopAlive bool          // set once in newParticipant

	// Owned by the loop goroutine (see package doc).
	downs       map[*publishedTrack]*downTrack
	negotiating bool // an offer is out, waiting for the answer
	renegotiate bool // something changed while negotiating
	dirty       bool // the current batch of ops changed the subscribe PC
	answered    bool // the first answer has been applied
	iceStarted  bool // the subscribe PC's ICE agent left state "new"

	pubMu sync.Mutex // serialises Publish negotiations

	stateMu   sync.Mutex
	lastState [2]webrtc.PeerConnectionState

	mu           sync.Mutex
	closed       bool
	tracks       map[*publishedTrack]struct{}
	pendingCands [2][]webrtc.ICECandidateInit
	remoteSet    [2]bool // remote description applied at least once
}

func newParticipant(r *Room, info ParticipantInfo, ev Events) (*Participant, error) {
	s := r.sfu
	p := &Participant{
		info: info, room: r, sfu: s, ev: ev,
		log:      s.log.With("room", r.id, "participant", info.ID),
		ops:      newMailbox(),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		downs:    map[*publishedTrack]*downTrack{},
		tracks:   map[*publishedTrack]struct{}{},
	}
	var err error
	if p.pub, err = s.newPeerConnection(); err != nil {
		return nil, err
	}
	if p.sub, err = s.newPeerConnection(); err != nil {
		_ = p.pub.Close()
		return nil, err
	}
	p.pub.OnTrack(p.onTrack)
	p.pub.OnConnectionStateChange(func(webrtc.PeerConnectionState) { p.emitState(Publisher) })
	p.sub.OnConnectionStateChange(func(webrtc.PeerConnectionState) { p.emitState(Subscriber) })
	p.sub.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if st != webrtc.ICEConnectionStateNew {
			p.ops.push(p.onICEStarted)
		}
	})
	p.sub.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		p.ops.push(func() { p.ev.ICECandidate(Subscriber, init) })
	})
	p.loopAlive = s.spawn(p.loop)
	if !p.loopAlive {
		p.shutdown()
		return nil, apperr.New(apperr.Unavailable, "sfu is closed")
	}
	return p, nil
}

// ID returns the participant ID.
func (p *Participant) ID() string { return p.info.ID }

func (p *Participant) pc(t Target) *webrtc.PeerConnection {
	if t == Publisher {
		return p.pub
	}
	return p.sub
}

func (p *Participant) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func errLeft() error { return apperr.New(apperr.Conflict, "participant has left") }

// Publish applies the client's offer for its publish PC (first time and
// renegotiations) and returns the answer, which carries all server ICE
// candidates. Errors leave the participant usable.
func (p *Participant) Publish(offer webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	var none webrtc.SessionDescription
	if !p.info.CanPublish {
		return none, apperr.New(apperr.Forbidden, "publishing is not allowed")
	}
	if p.isClosed() {
		return none, errLeft()
	}
	if err := checkSDP(offer, webrtc.SDPTypeOffer); err != nil {
		return none, err
	}
	parsed, err := offer.Unmarshal()
	if err != nil {
		return none, apperr.Wrap(err, apperr.Invalid, "invalid offer SDP")
	}
	if n := sendingSections(parsed); n > maxTracksPerParticipant {
		return none, apperr.New(apperr.TooLarge, "too many tracks: %d (max %d)", n, maxTracksPerParticipant)
	}

	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if p.isClosed() {
		return none, errLeft()
	}
	if err := p.pub.SetRemoteDescription(offer); err != nil {
		return none, apperr.Wrap(err, apperr.Invalid, "offer rejected")
	}
	answer, err := p.pub.CreateAnswer(nil)
	if err != nil {
		p.rollbackPub()
		return none, apperr.Wrap(err, apperr.Invalid, "cannot answer offer")
	}
	gathered := webrtc.GatheringCompletePromise(p.pub)
	if err := p.pub.SetLocalDescription(answer); err != nil {
		p.rollbackPub()
		return none, apperr.Wrap(err, apperr.Internal, "set local answer")
	}
	p.flushCandidates(Publisher)
	// Host candidates on the UDP mux are known at once; waiting lets the
	// answer carry them, so no trickle ordering can break on the publish PC.
	t := time.NewTimer(gatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
		p.log.Warn("ICE gathering slow; answering with the candidates so far")
	case <-p.done:
		return none, errLeft()
	}
	return *p.pub.LocalDescription(), nil
}

func (p *Participant) rollbackPub() {
	if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
		p.log.Warn("publish rollback failed", "err", err)
	}
}

func checkSDP(d webrtc.SessionDescription, want webrtc.SDPType) error {
	if d.Type != want {
		return apperr.New(apperr.Invalid, "expected an SDP %s, got %q", want, d.Type.String())
	}
	if len(d.SDP) > maxSDPBytes {
		return apperr.New(apperr.TooLarge, "SDP too large: %d bytes (max %d)", len(d.SDP), maxSDPBytes)
	}
	return nil
}

// sendingSections counts active audio/video sections the client sends on.
func sendingSections(d *sdp.SessionDescription) int {
	n := 0
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" {
			continue
		}
		if m.MediaName.Port.Value == 0 {
			continue // rejected or stopped section
		}
		if _, ok := m.Attribute("recvonly"); ok {
			continue
		}
		if _, ok := m.Attribute("inactive"); ok {
			continue
		}
		n++
	}
	return n
}

// SetSubscriberAnswer applies the client's answer to the latest subscriber offer.
func (p *Participant) SetSubscriberAnswer(answer webrtc.SessionDescription) error {
	if err := checkSDP(answer, webrtc.SDPTypeAnswer); err != nil {
		return err
	}
	reply := make(chan error, 1)
	if !p.ops.push(func() { reply <- p.applyAnswer(answer) }) {
		return errLeft()
	}
	select {
	case err := <-reply:
		return err
	case <-p.done:
		return errLeft()
	}
}

// AddICECandidate adds a client candidate; candidates are buffered until the
// target PC has a remote description.
func (p *Participant) AddICECandidate(target Target, c webrtc.ICECandidateInit) error {
	if !target.valid() {
		return apperr.New(apperr.Invalid, "invalid target %d", int(target))
	}
	if len(c.Candidate) > maxCandidateBytes {
		return apperr.New(apperr.TooLarge, "ICE candidate too large")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errLeft()
	}
	if !p.remoteSet[target] {
		defer p.mu.Unlock()
		if len(p.pendingCands[target]) >= maxPendingCandidates {
			return apperr.New(apperr.TooLarge, "too many early ICE candidates")
		}
		p.pendingCands[target] = append(p.pendingCands[target], c)
		return nil
	}
	p.mu.Unlock()
	if err := p.pc(target).AddICECandidate(c); err != nil {
		return apperr.Wrap(err, apperr.Invalid, "ICE candidate rejected")
	}
	return nil
}

// flushCandidates is called once the target has a remote description.
func (p *Participant) flushCandidates(target Target) {
	p.mu.Lock()
	p.remoteSet[target] = true
	pending := p.pendingCands[target]
	p.pendingCands[target] = nil
	p.mu.Unlock()
	for _, c := range pending {
		if err := p.pc(target).AddICECandidate(c); err != nil {
			p.log.Debug("buffered ICE candidate rejected", "target", target, "err", err)
		}
	}
}

// Leave closes both PCs, unpublishes the participant's tracks (subscribers
// renegotiate) and removes it from the room. Idempotent.
func (p *Participant) Leave() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	tracks := p.tracks
	p.tracks = map[*publishedTrack]struct{}{}
	p.mu.Unlock()

	for pt := range tracks {
		p.room.unpublish(pt)
	}
	p.shutdown()
	p.room.removeParticipant(p)
	p.log.Info("participant left")
}

// shutdown stops the loop, then closes both PCs; closing ends the readers.
func (p *Participant) shutdown() {
	p.doneOnce.Do(func() { close(p.done) })
	p.ops.close()
	if p.loopAlive {
		<-p.loopDone
	}
	// The loop has exited, so its state is ours now.
	for pt := range p.downs {
		pt.remoteSubs.Add(-1)
	}
	p.downs = map[*publishedTrack]*downTrack{}
	if err := p.sub.Close(); err != nil {
		p.log.Debug("close subscribe PC", "err", err)
	}
	if err := p.pub.Close(); err != nil {
		p.log.Debug("close publish PC", "err", err)
	}
}

func (p *Participant) emitState(t Target) {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	st := p.pc(t).ConnectionState()
	if st == p.lastState[t] {
		return
	}
	p.lastState[t] = st
	p.log.Debug("connection state", "target", t, "state", st)
	p.ev.ConnectionState(t, st)
}

// onTrack runs on a Pion goroutine when a published track's first packet arrives.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if len(p.tracks) >= maxTracksPerParticipant {
		p.mu.Unlock()
		p.log.Warn("track limit reached; ignoring track", "track", remote.ID())
		return
	}
	pt, err := newPublishedTrack(p, remote)
	if err != nil {
		p.mu.Unlock()
		p.log.Warn("cannot forward track", "track", remote.ID(), "err", err)
		return
	}
	p.tracks[pt] = struct{}{}
	p.mu.Unlock()

	s := p.sfu
	if !s.spawn(func() {
		pt.read(s)
		p.trackEnded(pt)
	}) {
		p.trackEnded(pt)
		return
	}
	s.spawn(func() {
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				return
			}
		}
	})
	p.log.Info("track published", "track", pt.info.TrackID, "kind", pt.info.Kind, "codec", pt.info.MimeType)
	p.room.publish(pt)
}

func (p *Participant) trackEnded(pt *publishedTrack) {
	p.mu.Lock()
	delete(p.tracks, pt)
	p.mu.Unlock()
	p.room.unpublish(pt)
}

// Loop side: everything below runs on the participant loop goroutine.

func (p *Participant) loop() {
	defer close(p.loopDone)
	for {
		select {
		case <-p.done:
			return
		case <-p.ops.wake:
		}
		for _, op := range p.ops.drain() {
			select {
			case <-p.done:
				return
			default:
			}
			op()
		}
		// One offer per batch of changes.
		if p.dirty {
			p.dirty = false
			p.negotiate()
		}
	}
}

func (p *Participant) enqueueSubscribe(pt *publishedTrack) {
	p.ops.push(func() { p.subscribe(pt) })
}

func (p *Participant) enqueueUnsubscribe(pt *publishedTrack) {
	p.ops.push(func() { p.unsubscribe(pt) })
}

func (p *Participant) subscribe(pt *publishedTrack) {
	if _, ok := p.downs[pt]; ok || pt.isClosed() {
		return
	}
	dt := &downTrack{TrackLocalStaticRTP: pt.fanout, pt: pt}
	tr, err := p.sub.AddTransceiverFromTrack(dt, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		p.log.Warn("cannot add track to subscribe PC", "track", pt.info.TrackID, "err", err)
		return
	}
	dt.sender = tr.Sender()
	p.downs[pt] = dt
	pt.remoteSubs.Add(1)
	p.sfu.spawn(dt.readRTCP)
	p.dirty = true
}

func (p *Participant) unsubscribe(pt *publishedTrack) {
	dt, ok := p.downs[pt]
	if !ok {
		return
	}
	delete(p.downs, pt)
	pt.remoteSubs.Add(-1)
	if err := p.sub.RemoveTrack(dt.sender); err != nil {
		p.log.Debug("remove track from subscribe PC", "track", pt.info.TrackID, "err", err)
	}
	p.dirty = true
}

// negotiate sends a subscriber offer, or records that one more is needed
// once the outstanding one is answered.
//
// After the first answer Pion starts ICE on another goroutine, and only then
// records the remote credentials; a second answer applied before that is
// overwritten by the stale first one (and a Pion client treats the early
// re-offer as an ICE restart). So re-offers also wait for ICE to start.
func (p *Participant) negotiate() {
	if p.negotiating || (p.answered && !p.iceStarted) {
		p.renegotiate = true
		return
	}
	offer, err := p.sub.CreateOffer(nil)
	if err != nil {
		p.log.Warn("create subscriber offer", "err", err)
		return
	}
	if err := p.sub.SetLocalDescription(offer); err != nil {
		p.log.Warn("set subscriber offer", "err", err)
		return
	}
	p.negotiating = true
	p.ev.SubscriberOffer(offer)
}

func (p *Participant) applyAnswer(answer webrtc.SessionDescription) error {
	if !p.negotiating {
		return apperr.New(apperr.Conflict, "no subscriber offer outstanding")
	}
	if err := p.sub.SetRemoteDescription(answer); err != nil {
		return apperr.Wrap(err, apperr.Invalid, "subscriber answer rejected")
	}
	p.negotiating = false
	p.answered = true
	p.flushCandidates(Subscriber)
	p.negotiatePending()
	return nil
}

func (p *Participant) onICEStarted() {
	p.iceStarted = true
	p.negotiatePending()
}

func (p *Participant) negotiatePending() {
	if p.renegotiate && !p.negotiating {
		p.renegotiate = false
		p.negotiate()
	}
}
