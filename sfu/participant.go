package sfu

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/internal/mailbox"
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
	eg   *egress                // nil when the participant may not subscribe
	fb   *feedbackInterceptor   // the publish PC's (set once)
	in   atomic.Pointer[srtpIn] // the publish PC's direct SRTP path once DTLS is up; closedIn after shutdown

	ops       *mailbox.Box[func()]
	done      chan struct{} // closed by shutdown; stops the loop
	doneOnce  sync.Once
	loopDone  chan struct{} // closed when the loop has exited
	loopAlive bool          // set once in newParticipant
	view      bool          // WHEP viewer: client offers, fixed view slots (set once)
	relayIn   bool          // the edge end of a cascade (set once, before it is visible)

	// Owned by the loop goroutine (see package doc).
	downs       map[*publishedTrack]*downTrack
	negotiating bool                         // an offer is out, waiting for the answer
	renegotiate bool                         // something changed while negotiating
	dirty       bool                         // the current batch of ops changed the subscribe PC
	answered    bool                         // the first answer has been applied
	iceStarted  bool                         // the subscribe PC's ICE agent left state "new"
	iceRestart  bool                         // the next subscriber offer restarts ICE
	slots       []*viewSlot                  // view mode: the offer's sections
	avail       map[*publishedTrack]struct{} // view mode: tracks it may show
	follow      string                       // view mode: preferred publisher
	// pionRTCP: the subscriber's RTCP reaches Pion (no direct SRTCP path),
	// so every sender has a reader goroutine. Set once, never cleared.
	pionRTCP bool

	pubMu sync.Mutex // serialises Publish negotiations

	stateMu   sync.Mutex
	lastState [2]webrtc.PeerConnectionState

	mu           sync.Mutex
	closed       bool
	tracks       map[*publishedTrack]struct{}
	byRecv       map[*webrtc.RTPReceiver]*publishedTrack // simulcast layers share a receiver
	muted        [2]bool                                 // by kind (audio, video): see SetMuted
	pendingCands [2][]webrtc.ICECandidateInit
	remoteSet    [2]bool           // remote description applied at least once
	relayOwners  map[string]string // relay input: mid -> the origin's participant ID
}

func newParticipant(r *Room, info ParticipantInfo, ev Events, view bool) (*Participant, error) {
	s := r.sfu
	p := &Participant{
		info: info, room: r, sfu: s, ev: ev,
		log:      s.log.With("room", r.id, "participant", info.ID),
		ops:      mailbox.New[func()](0),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		view:     view,
		downs:    map[*publishedTrack]*downTrack{},
		avail:    map[*publishedTrack]struct{}{},
		tracks:   map[*publishedTrack]struct{}{},
		byRecv:   map[*webrtc.RTPReceiver]*publishedTrack{},
	}
	var err error
	// A view-only participant gets no publish PC: half the memory of a
	// broadcast viewer.
	if info.CanPublish {
		if p.pub, p.fb, err = s.newPublishPC(); err != nil {
			return nil, err
		}
		p.pub.OnTrack(p.onTrack)
		p.pub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			if st == webrtc.PeerConnectionStateConnected {
				p.startDirectIn()
			}
			p.emitState(Publisher)
		})
	}
	if p.sub, err = s.newPeerConnection(s.subAPI); err != nil {
		if p.pub != nil {
			_ = p.pub.Close()
		}
		return nil, err
	}
	p.sub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected && p.eg != nil && p.eg.out.Load() == nil {
			if bc, ok := s.conn.(*batchConn); ok {
				if o := newSRTPOut(p.sub, bc, p.eg); o != nil {
					if p.eg.out.CompareAndSwap(nil, o) {
						p.eg.setPooled(o.dst.Load() != nil)
					} else {
						o.detach() // the participant closed meanwhile
					}
				}
			}
			if p.eg.out.Load() == nil {
				p.needPionRTCP()
			}
		}
		p.emitState(Subscriber)
	})
	p.sub.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if st != webrtc.ICEConnectionStateNew {
			p.ops.Push(p.onICEStarted)
		}
	})
	p.sub.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil || view { // a view answer carries every candidate
			return
		}
		init := c.ToJSON()
		p.ops.Push(func() { p.ev.ICECandidate(Subscriber, init) })
	})
	if info.CanSubscribe {
		p.eg = newEgress(p)
	}
	p.loopAlive = s.spawn(p.loop)
	if !p.loopAlive || (p.eg != nil && !s.spawn(p.eg.run)) {
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
	if err := p.checkOffer(offer); err != nil {
		return none, err
	}
	parsed, err := offer.Unmarshal()
	if err != nil {
		return none, apperr.Wrap(err, apperr.Invalid, "invalid offer SDP")
	}
	if n, max := sendingSections(parsed), p.maxTracks(); n > max {
		return none, apperr.New(apperr.TooLarge, "too many tracks: %d (max %d)", n, max)
	}

	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if p.isClosed() {
		return none, errLeft()
	}
	if err := p.pub.SetRemoteDescription(preferVP8(offer, parsed)); err != nil {
		return none, apperr.Wrap(err, apperr.Invalid, "offer rejected")
	}
	preferRED(p.pub)
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

// maxTracks bounds what the participant may publish: a relay input carries
// a whole room.
func (p *Participant) maxTracks() int {
	if p.relayIn {
		return maxRelayTracks
	}
	return maxTracksPerParticipant
}

func (p *Participant) checkOffer(offer webrtc.SessionDescription) error {
	if !p.relayIn {
		return checkSDP(offer, webrtc.SDPTypeOffer)
	}
	if offer.Type != webrtc.SDPTypeOffer {
		return apperr.New(apperr.Invalid, "expected an SDP offer, got %q", offer.Type.String())
	}
	if len(offer.SDP) > maxRelaySDPBytes {
		return apperr.New(apperr.TooLarge, "SDP too large: %d bytes (max %d)", len(offer.SDP), maxRelaySDPBytes)
	}
	return nil
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
	if !p.ops.Push(func() { reply <- p.applyAnswer(answer) }) {
		return errLeft()
	}
	select {
	case err := <-reply:
		return err
	case <-p.done:
		return errLeft()
	}
}

// RestartICE makes the next subscriber offer an ICE-restart offer (new
// credentials) and sends it as soon as no other offer is outstanding. The
// publish PC restarts when the client offers with new credentials.
func (p *Participant) RestartICE() error {
	if p.view {
		return apperr.New(apperr.Conflict, "a WHEP viewer restarts ICE with a new offer")
	}
	if !p.ops.Push(func() {
		p.iceRestart = true
		p.dirty = true
	}) {
		return errLeft()
	}
	return nil
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
	if target == Publisher && p.pub == nil {
		return apperr.New(apperr.Forbidden, "publishing is not allowed")
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
	p.ops.Close()
	if p.loopAlive {
		<-p.loopDone
	}
	// The loop has exited, so its state is ours now.
	for pt, dt := range p.downs {
		pt.removeDown(dt)
	}
	p.downs = map[*publishedTrack]*downTrack{}
	if p.eg != nil {
		p.eg.downs.Store(&[]*downTrack{})
		if o := p.eg.out.Swap(closedOut); o != nil && o != closedOut {
			o.detach()
		}
		p.eg.stop()
	}
	if in := p.in.Swap(closedIn); in != nil && in != closedIn {
		in.detach()
	}
	if err := p.sub.Close(); err != nil {
		p.log.Debug("close subscribe PC", "err", err)
	}
	if p.pub == nil {
		return
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

// onTrack runs on a Pion goroutine when a published track's first packet
// arrives; for simulcast once per layer (RID), all on one receiver.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	s := p.sfu
	mid := ""
	if p.relayIn {
		for _, tr := range p.pub.GetTransceivers() {
			if tr.Receiver() == recv {
				mid = tr.Mid()
				break
			}
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	pt := p.byRecv[recv]
	isNew := pt == nil
	owner := p.info.ID
	if isNew && p.relayIn {
		if owner = p.relayOwners[mid]; owner == "" || owner == p.info.ID {
			p.mu.Unlock()
			s.drops.rejectedTracks.Add(1)
			p.log.Warn("relayed track without an owner; ignoring", "track", remote.ID(), "mid", mid)
			return
		}
	}
	if isNew {
		if len(p.tracks) >= p.maxTracks() {
			p.mu.Unlock()
			s.drops.rejectedTracks.Add(1)
			p.log.Warn("track limit reached; ignoring track", "track", remote.ID())
			return
		}
		pt = newPublishedTrack(p, remote, recv)
		pt.info.ParticipantID = owner // a relayed track keeps its origin publisher's ID
		if k := remote.Kind(); k == webrtc.RTPCodecTypeAudio || k == webrtc.RTPCodecTypeVideo {
			pt.muted.Store(p.muted[k-1])
		}
		p.tracks[pt] = struct{}{}
		p.byRecv[recv] = pt
	}
	pt.mu.Lock()
	l := pt.addLayerLocked(remote)
	pt.mu.Unlock()
	p.mu.Unlock()
	if l == nil {
		s.drops.rejectedTracks.Add(1)
		p.log.Warn("duplicate or surplus layer; ignoring", "track", remote.ID(), "rid", remote.RID())
		return
	}

	if !s.spawn(func() {
		l.read(s)
		if in := p.directIn(); in != nil {
			in.remove(l)
		}
		p.layerEnded(pt)
	}) {
		p.layerEnded(pt)
		return
	}
	if !s.spawn(func() { l.pump(s) }) {
		close(l.quit)
	}
	if in := p.directIn(); in != nil {
		in.add(l)
	}
	rid := remote.RID()
	s.spawn(func() {
		// Drain so the interceptors run; nothing a publisher sends here is
		// acted on, and a flood beyond rtcpPerSecond is counted.
		var window int64
		n := 0
		for {
			var pkts []rtcp.Packet
			var err error
			if rid == "" {
				pkts, _, err = recv.ReadRTCP()
			} else {
				pkts, _, err = recv.ReadSimulcastRTCP(rid)
			}
			if err != nil {
				return
			}
			if now := sfuClock(); now-window > int64(time.Second) {
				window, n = now, 0
			}
			if n += len(pkts); n > rtcpPerSecond {
				s.drops.rtcpFlood.Add(uint64(len(pkts)))
				continue
			}
			for _, pk := range pkts {
				if sr, ok := pk.(*rtcp.SenderReport); ok && sr.SSRC == l.ssrc && int32(l.idx) == pt.sinkL.Load() {
					for _, w := range *pt.sinkList.Load() {
						w.enqueueSR(int8(l.idx), sr.NTPTime, sr.RTPTime)
					}
				}
			}
		}
	})
	if !isNew {
		p.log.Info("simulcast layer added", "track", pt.info.TrackID, "rid", rid)
		p.room.layerAdded(pt)
		return
	}
	p.log.Info("track published", "track", pt.info.TrackID, "kind", pt.info.Kind, "codec", pt.info.MimeType, "rid", rid)
	p.room.publish(pt)
}

// layerEnded runs when a layer's reader stops; the last one ends the track.
func (p *Participant) layerEnded(pt *publishedTrack) {
	pt.mu.Lock()
	pt.readers--
	last := pt.readers == 0
	pt.mu.Unlock()
	if !last {
		return
	}
	p.mu.Lock()
	delete(p.tracks, pt)
	if p.byRecv[pt.recv] == pt {
		delete(p.byRecv, pt.recv)
	}
	p.mu.Unlock()
	p.room.unpublish(pt)
	pt.releaseCaches()
}

// Loop side: everything below runs on the participant loop goroutine.

func (p *Participant) loop() {
	defer close(p.loopDone)
	for {
		select {
		case <-p.done:
			return
		case <-p.ops.Wake():
		}
		for _, op := range p.ops.Drain() {
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
			if p.view {
				p.rebindSlots()
			} else {
				p.negotiate()
			}
		}
	}
}

func (p *Participant) enqueueSubscribe(pt *publishedTrack) {
	p.ops.Push(func() { p.subscribe(pt) })
}

func (p *Participant) enqueueUnsubscribe(pt *publishedTrack) {
	p.ops.Push(func() { p.unsubscribe(pt) })
}

func (p *Participant) subscribe(pt *publishedTrack) {
	if p.view {
		p.avail[pt] = struct{}{}
		p.dirty = true
		return
	}
	if _, ok := p.downs[pt]; ok || pt.isClosed() || p.eg == nil {
		return
	}
	dt := newDownTrack(pt, p.eg)
	tr, err := p.sub.AddTransceiverFromTrack(dt, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		p.log.Warn("cannot add track to subscribe PC", "track", pt.info.TrackID, "err", err)
		return
	}
	dt.sender = tr.Sender()
	p.downs[pt] = dt
	p.publishDowns()
	pt.addDown(dt)
	if p.pionRTCP {
		p.readRTCP(dt)
	}
	p.dirty = true
}

// needPionRTCP is called when the subscriber's RTCP cannot take the direct
// SRTCP path (no srtpOut, or its selected pair is not UDP): from then on
// every sender gets a reader. With the direct path, which handles all of a
// subscriber's RTCP, these goroutines (one per forwarded track, with their
// buffers) are never started; the few packets Pion sees meanwhile (before
// the path is set up, or across a pair switch) wait in its bounded read
// buffers.
func (p *Participant) needPionRTCP() {
	p.ops.Push(func() {
		if p.pionRTCP {
			return
		}
		p.pionRTCP = true
		for _, dt := range p.downs {
			p.readRTCP(dt)
		}
	})
}

func (p *Participant) readRTCP(dt *downTrack) {
	p.sfu.spawn(func() { p.sfu.readSenderRTCP(dt.sender, func() *downTrack { return dt }) })
}

// publishDowns gives the egress worker the current list of downTracks.
func (p *Participant) publishDowns() {
	l := make([]*downTrack, 0, len(p.downs))
	for _, dt := range p.downs {
		l = append(l, dt)
	}
	p.eg.downs.Store(&l)
}

func (p *Participant) unsubscribe(pt *publishedTrack) {
	if p.view {
		delete(p.avail, pt)
		p.dirty = true
		return
	}
	dt, ok := p.downs[pt]
	if !ok {
		return
	}
	delete(p.downs, pt)
	p.publishDowns()
	pt.removeDown(dt)
	dt.want.Store(0)
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
	var opts *webrtc.OfferOptions
	if p.iceRestart {
		opts = &webrtc.OfferOptions{ICERestart: true}
	}
	offer, err := p.sub.CreateOffer(opts)
	if err != nil {
		p.log.Warn("create subscriber offer", "err", err)
		return
	}
	p.iceRestart = false
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

// directIn is the publish PC's direct SRTP path, nil until it is set up
// or after shutdown.
func (p *Participant) directIn() *srtpIn {
	if in := p.in.Load(); in != closedIn {
		return in
	}
	return nil
}

// startDirectIn sets up the publish PC's direct SRTP path (srtpIn) once
// its DTLS is up, and takes the layers already published onto it.
func (p *Participant) startDirectIn() {
	if p.in.Load() != nil {
		return
	}
	in := newSRTPIn(p.sfu, p.pub, p.fb)
	if in == nil {
		return
	}
	if !p.in.CompareAndSwap(nil, in) {
		in.detach() // closed meanwhile, or set up twice
		return
	}
	p.mu.Lock()
	var layers []*layer
	for pt := range p.tracks {
		for i := range pt.layers {
			if l := pt.layers[i].Load(); l != nil {
				layers = append(layers, l)
			}
		}
	}
	p.mu.Unlock()
	for _, l := range layers {
		in.add(l)
	}
}
