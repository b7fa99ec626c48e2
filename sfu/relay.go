package sfu

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/internal/mailbox"
)

// The origin end of a cascade. A Relay is one server-to-server
// PeerConnection from this node to one edge node for one room: every layer
// of every track published in the room crosses it exactly once, with the
// publisher's sequence numbers, timestamps, track and stream ids and RIDs,
// so the edge can rebuild the tracks and pick layers per viewer itself.
// The origin always offers; the edge answers (see RelayInput).

const (
	relayQueueLen     = 512 // packets waiting for the relay writer (~1 s of three layers)
	relayNACKQueue    = 64
	maxRelayTracks    = 64  // tracks one relay carries (and one relay input accepts)
	maxRelaySections  = 128 // m-sections before the relay starts over (SDP growth)
	maxRelaySDPBytes  = 512 << 10
	maxRelayIDBytes   = 256
	relayMaxNACKBatch = 64
)

// RelayEvents receives what a Relay needs the control channel to carry.
// Methods are called from the relay's goroutines and must not block.
type RelayEvents interface {
	// RelayOffer: send to the edge, which answers with RelayInput.Apply;
	// hand the answer to Relay.SetAnswer. One offer is outstanding at a time.
	RelayOffer(offer webrtc.SessionDescription, tracks []RelayTrack)
	// RelayState reports the PeerConnection's state (deduplicated).
	RelayState(state webrtc.PeerConnectionState)
}

// RelayTrack says whose track an m-section of a relay offer carries.
type RelayTrack struct {
	Mid           string `json:"mid"`
	ParticipantID string `json:"participant"`
	TrackID       string `json:"track"`
	StreamID      string `json:"stream"`
	Kind          string `json:"kind"`
}

// RelayTrackStats counts what one relay forwarded of one track.
type RelayTrackStats struct {
	Room, Relay, ParticipantID, TrackID, Kind string
	Layers                                    int    // encodings (RIDs) the relay carries
	Packets, Bytes                            uint64 // RTP packets and payload bytes sent to the edge
	Dropped                                   uint64 // relay queue full, or the edge had not answered for the track yet
	Retransmits                               uint64 // answered edge NACKs
}

// Relay is the origin end of a cascade (see above).
//
// Goroutines: the relay loop (owns the PC's mutations, negotiation state
// and outs; fed by ops), the relay writer (owns the write scratch; every
// packet and retransmission to the edge leaves from it), and one RTCP
// reader per encoding (keyframe requests to the publisher, NACKs to the
// writer).
type Relay struct {
	id   string
	room *Room
	sfu  *SFU
	ev   RelayEvents
	log  *slog.Logger
	pc   *webrtc.PeerConnection

	ops      *mailbox.Box[func()]
	done     chan struct{}
	doneOnce sync.Once
	loopDone chan struct{}
	q        chan relayItem
	nacks    chan relayNACK

	outList atomic.Pointer[[]*relayOut] // for Stats

	// Owned by the loop goroutine.
	outs        map[*publishedTrack]*relayOut
	negotiating bool
	renegotiate bool
	dirty       bool
	answered    bool
	iceStarted  bool

	// Owned by the writer goroutine.
	hdr  rtp.Header
	exts [3]rtp.Extension
	lvl  [1]byte

	stateMu   sync.Mutex
	lastState webrtc.PeerConnectionState

	mu     sync.Mutex
	closed bool
}

// relayOut is one published track on one relay.
type relayOut struct {
	pt    *publishedTrack
	relay *Relay
	tr    *webrtc.RTPTransceiver
	encs  []*relayEnc
	mid   atomic.Pointer[[]byte] // set by the loop once the offer assigned it

	packets, bytes, dropped, retransmits atomic.Uint64
}

// relayEnc is one encoding (RID) of a relayOut: the SFU's own TrackLocal.
type relayEnc struct {
	out  *relayOut
	rid  string
	ridB []byte
	b    atomic.Pointer[relayBinding]
}

type relayBinding struct {
	w                     webrtc.TrackLocalWriter
	ssrc                  uint32
	pt                    uint8
	midID, ridID, levelID uint8
}

type relayItem struct {
	o     *relayOut
	p     *pkt
	layer int8
}

type relayNACK struct {
	o     *relayOut
	layer int8
	seqs  []uint16
}

func (e *relayEnc) ID() string                { return e.out.pt.info.TrackID }
func (e *relayEnc) RID() string               { return e.rid }
func (e *relayEnc) StreamID() string          { return e.out.pt.info.StreamID }
func (e *relayEnc) Kind() webrtc.RTPCodecType { return e.out.pt.kind }

// Bind implements webrtc.TrackLocal: negotiation completed.
func (e *relayEnc) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, ok := matchCodec(e.out.pt.codec.RTPCodecCapability, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	exts := ctx.HeaderExtensions()
	b := &relayBinding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType),
		midID: extID(exts, uriMid), ridID: extID(exts, uriRID)}
	if e.out.pt.kind == webrtc.RTPCodecTypeAudio {
		b.levelID = extID(exts, uriAudioLevel)
	}
	e.b.Store(b)
	return c, nil
}

// Unbind implements webrtc.TrackLocal.
func (e *relayEnc) Unbind(webrtc.TrackLocalContext) error {
	e.b.Store(nil)
	return nil
}

// AddRelay opens the origin end of a cascade towards one edge: every
// current and future track of the room is offered to it (RelayEvents).
// id names the edge (for logs and Stats). Close it when the control channel
// ends; it closes itself when the room closes.
func (r *Room) AddRelay(id string, ev RelayEvents) (*Relay, error) {
	if id == "" || len(id) > maxRelayIDBytes {
		return nil, apperr.New(apperr.Invalid, "invalid relay id")
	}
	if ev == nil {
		return nil, apperr.New(apperr.Invalid, "sfu: nil RelayEvents")
	}
	s := r.sfu
	pc, err := s.newPeerConnection(s.relayAPI)
	if err != nil {
		return nil, err
	}
	rl := &Relay{
		id: id, room: r, sfu: s, ev: ev, pc: pc,
		log:      s.log.With("room", r.id, "relay", id),
		ops:      mailbox.New[func()](0),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		q:        make(chan relayItem, relayQueueLen),
		nacks:    make(chan relayNACK, relayNACKQueue),
		outs:     map[*publishedTrack]*relayOut{},
	}
	rl.outList.Store(&[]*relayOut{})
	// An application section gives the first offer ICE and DTLS before any
	// track exists, so the link is up (and watched) before the trainer
	// starts. Nothing is sent on it.
	if _, err := pc.CreateDataChannel("cascade", nil); err != nil {
		_ = pc.Close()
		return nil, apperr.Wrap(err, apperr.Internal, "sfu: relay data channel")
	}
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) { rl.emitState() })
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if st != webrtc.ICEConnectionStateNew {
			rl.ops.Push(rl.onICEStarted)
		}
	})
	loopOK := s.spawn(rl.loop)
	if !loopOK || !s.spawn(rl.writer) {
		if !loopOK {
			close(rl.loopDone)
		}
		rl.shutdown()
		return nil, apperr.New(apperr.Unavailable, "sfu is closed")
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		rl.shutdown()
		return nil, apperr.New(apperr.Unavailable, "room %s is closed", r.id)
	}
	r.relays[rl] = struct{}{}
	for pt := range r.tracks {
		rl.enqueueAdd(pt)
	}
	// Even with no track yet the edge gets an offer, so the connection (and
	// its liveness) is up before the trainer starts.
	rl.ops.Push(func() { rl.dirty = true })
	r.mu.Unlock()
	rl.log.Info("relay opened")
	return rl, nil
}

// ID returns the relay's id (the edge's name).
func (rl *Relay) ID() string { return rl.id }

// SetAnswer applies the edge's answer to the outstanding offer.
func (rl *Relay) SetAnswer(answer webrtc.SessionDescription) error {
	if answer.Type != webrtc.SDPTypeAnswer {
		return apperr.New(apperr.Invalid, "expected an SDP answer, got %q", answer.Type.String())
	}
	if len(answer.SDP) > maxRelaySDPBytes {
		return apperr.New(apperr.TooLarge, "SDP too large: %d bytes", len(answer.SDP))
	}
	reply := make(chan error, 1)
	if !rl.ops.Push(func() { reply <- rl.applyAnswer(answer) }) {
		return apperr.New(apperr.Conflict, "relay is closed")
	}
	select {
	case err := <-reply:
		return err
	case <-rl.done:
		return apperr.New(apperr.Conflict, "relay is closed")
	}
}

// Close removes the relay from its room and closes the PeerConnection.
// Idempotent.
func (rl *Relay) Close() {
	rl.mu.Lock()
	if rl.closed {
		rl.mu.Unlock()
		return
	}
	rl.closed = true
	rl.mu.Unlock()
	r := rl.room
	r.mu.Lock()
	delete(r.relays, rl)
	r.mu.Unlock()
	rl.shutdown()
	r.sfu.reapRoom(r)
	rl.log.Info("relay closed")
}

// shutdown stops the loop and the writer and closes the PC (its RTCP
// readers end with it).
func (rl *Relay) shutdown() {
	rl.doneOnce.Do(func() { close(rl.done) })
	rl.ops.Close()
	<-rl.loopDone
	for pt, o := range rl.outs {
		pt.removeRelay(o)
	}
	rl.outs = map[*publishedTrack]*relayOut{}
	if err := rl.pc.Close(); err != nil {
		rl.log.Debug("close relay PC", "err", err)
	}
	rl.emitState()
}

func (rl *Relay) emitState() {
	rl.stateMu.Lock()
	defer rl.stateMu.Unlock()
	st := rl.pc.ConnectionState()
	if st == rl.lastState {
		return
	}
	rl.lastState = st
	rl.log.Debug("relay state", "state", st)
	rl.ev.RelayState(st)
}

func (rl *Relay) enqueueAdd(pt *publishedTrack)    { rl.ops.Push(func() { rl.addTrack(pt) }) }
func (rl *Relay) enqueueRemove(pt *publishedTrack) { rl.ops.Push(func() { rl.removeTrack(pt) }) }

// Loop side.

func (rl *Relay) loop() {
	defer close(rl.loopDone)
	for {
		select {
		case <-rl.done:
			return
		case <-rl.ops.Wake():
		}
		for _, op := range rl.ops.Drain() {
			select {
			case <-rl.done:
				return
			default:
			}
			op()
		}
		if rl.dirty {
			rl.dirty = false
			rl.negotiate()
		}
	}
}

// rids lists the encodings a published track has, from its publisher's
// negotiated parameters, so every layer is declared in the first offer
// (encodings cannot be added to a sender once it has sent).
func (pt *publishedTrack) rids() []string {
	if pt.kind != webrtc.RTPCodecTypeVideo || pt.recv == nil {
		return []string{""}
	}
	var out []string
	for _, t := range pt.recv.Tracks() {
		if rid := t.RID(); rid != "" && len(out) < maxLayers {
			out = append(out, rid)
		}
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

func (rl *Relay) addTrack(pt *publishedTrack) {
	if _, ok := rl.outs[pt]; ok || pt.isClosed() {
		return
	}
	if len(rl.outs) >= maxRelayTracks {
		rl.log.Warn("relay track limit reached; track not relayed", "track", pt.info.TrackID)
		return
	}
	if len(rl.pc.GetTransceivers()) >= maxRelaySections {
		// Removed tracks leave inactive sections behind; start over rather
		// than grow the SDP without bound (the edge reconnects).
		rl.log.Info("relay has too many sections; closing it for a fresh start")
		go rl.Close()
		return
	}
	o := &relayOut{pt: pt, relay: rl}
	for _, rid := range pt.rids() {
		o.encs = append(o.encs, &relayEnc{out: o, rid: rid, ridB: []byte(rid)})
	}
	tr, err := rl.pc.AddTransceiverFromTrack(o.encs[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		rl.log.Warn("cannot add track to relay", "track", pt.info.TrackID, "err", err)
		return
	}
	for _, e := range o.encs[1:] {
		if err := tr.Sender().AddEncoding(e); err != nil {
			rl.log.Warn("cannot add encoding to relay", "track", pt.info.TrackID, "rid", e.rid, "err", err)
		}
	}
	o.tr = tr
	rl.outs[pt] = o
	rl.publishOuts()
	for _, e := range o.encs {
		e := e
		rl.sfu.spawn(func() { rl.readRTCP(tr.Sender(), e) })
	}
	pt.addRelay(o)
	rl.dirty = true
}

func (rl *Relay) removeTrack(pt *publishedTrack) {
	o, ok := rl.outs[pt]
	if !ok {
		return
	}
	delete(rl.outs, pt)
	rl.publishOuts()
	pt.removeRelay(o)
	if err := rl.pc.RemoveTrack(o.tr.Sender()); err != nil {
		rl.log.Debug("remove track from relay", "track", pt.info.TrackID, "err", err)
	}
	rl.dirty = true
}

func (rl *Relay) publishOuts() {
	l := make([]*relayOut, 0, len(rl.outs))
	for _, o := range rl.outs {
		l = append(l, o)
	}
	rl.outList.Store(&l)
}

// negotiate sends an offer, or notes that another is due once the
// outstanding one is answered (and, as on subscribe PCs, once ICE started).
func (rl *Relay) negotiate() {
	if rl.negotiating || (rl.answered && !rl.iceStarted) {
		rl.renegotiate = true
		return
	}
	offer, err := rl.pc.CreateOffer(nil)
	if err != nil {
		rl.log.Warn("create relay offer", "err", err)
		return
	}
	gathered := webrtc.GatheringCompletePromise(rl.pc)
	if err := rl.pc.SetLocalDescription(offer); err != nil {
		rl.log.Warn("set relay offer", "err", err)
		return
	}
	t := time.NewTimer(gatherTimeout)
	select {
	case <-gathered:
	case <-t.C:
		rl.log.Warn("relay ICE gathering slow; offering the candidates so far")
	case <-rl.done:
		t.Stop()
		return
	}
	t.Stop()
	tracks := make([]RelayTrack, 0, len(rl.outs))
	for pt, o := range rl.outs {
		mid := o.tr.Mid()
		if o.mid.Load() == nil && mid != "" {
			b := []byte(mid)
			o.mid.Store(&b)
		}
		tracks = append(tracks, RelayTrack{Mid: mid, ParticipantID: pt.info.ParticipantID, TrackID: pt.info.TrackID,
			StreamID: pt.info.StreamID, Kind: pt.info.Kind})
	}
	rl.negotiating = true
	rl.ev.RelayOffer(*rl.pc.LocalDescription(), tracks)
}

func (rl *Relay) applyAnswer(answer webrtc.SessionDescription) error {
	if !rl.negotiating {
		return apperr.New(apperr.Conflict, "no relay offer outstanding")
	}
	if err := rl.pc.SetRemoteDescription(answer); err != nil {
		return apperr.Wrap(err, apperr.Invalid, "relay answer rejected")
	}
	rl.negotiating = false
	rl.answered = true
	rl.negotiatePending()
	return nil
}

func (rl *Relay) onICEStarted() {
	rl.iceStarted = true
	rl.negotiatePending()
}

func (rl *Relay) negotiatePending() {
	if rl.renegotiate && !rl.negotiating {
		rl.renegotiate = false
		rl.negotiate()
	}
}

// Reader side (layer reader goroutines).

// enqueue hands a packet to the relay writer; it never blocks: a full
// queue drops the packet (the edge NACKs it, or asks for a keyframe).
func (o *relayOut) enqueue(p *pkt, layer int8) {
	p.retain()
	select {
	case o.relay.q <- relayItem{o: o, p: p, layer: layer}:
	default:
		p.release()
		o.dropped.Add(1)
		o.relay.sfu.drops.relayQueue.Add(1)
	}
}

// Writer side.

func (rl *Relay) writer() {
	for {
		select {
		case it := <-rl.q:
			rl.write(it.o, it.p, it.layer, false)
			it.p.release()
		case n := <-rl.nacks:
			rl.resend(n)
		case <-rl.done:
			for {
				select {
				case it := <-rl.q:
					it.p.release()
				default:
					return
				}
			}
		}
	}
}

// write sends one packet of layer on o's matching encoding, with the
// publisher's sequence number and timestamp. Allocation-free.
func (rl *Relay) write(o *relayOut, p *pkt, layer int8, retransmit bool) {
	l := o.pt.layer(int(layer))
	if l == nil {
		return
	}
	var e *relayEnc
	if len(o.encs) == 1 {
		e = o.encs[0]
	} else {
		for _, x := range o.encs {
			if x.rid == l.rid {
				e = x
				break
			}
		}
	}
	if e == nil {
		return
	}
	b := e.b.Load()
	if b == nil {
		if !retransmit {
			o.dropped.Add(1) // the edge has not answered for this track yet
		}
		return
	}
	h := &rl.hdr
	*h = rtp.Header{Version: 2, Marker: p.marker, PayloadType: b.pt, SequenceNumber: p.seq, Timestamp: p.ts,
		SSRC: b.ssrc, Extensions: rl.exts[:0]}
	if m := o.mid.Load(); m != nil && b.midID != 0 {
		_ = h.SetExtension(b.midID, *m)
	}
	if e.rid != "" && b.ridID != 0 {
		_ = h.SetExtension(b.ridID, e.ridB)
	}
	if b.levelID != 0 {
		rl.lvl[0] = p.audioLevel & 0x7f
		if p.voice {
			rl.lvl[0] |= 0x80
		}
		_ = h.SetExtension(b.levelID, rl.lvl[:])
	}
	pay := p.payload()
	if _, err := b.w.WriteRTP(h, pay); err != nil {
		rl.sfu.writeErrs.Add(1)
		return
	}
	if retransmit {
		o.retransmits.Add(1)
		rl.sfu.retransmits.Add(1)
		return
	}
	o.packets.Add(1)
	o.bytes.Add(uint64(len(pay)))
	rl.sfu.relayPackets.Add(1)
	rl.sfu.relayBytes.Add(uint64(len(pay)))
}

// resend answers an edge's NACK from the layer's cache (the relay keeps
// the publisher's sequence numbers, so no mapping is needed).
func (rl *Relay) resend(n relayNACK) {
	l := n.o.pt.layer(int(n.layer))
	if l == nil {
		return
	}
	for _, seq := range n.seqs {
		if p := l.cache.get(seq); p != nil {
			rl.write(n.o, p, n.layer, true)
			p.release()
		} else {
			rl.sfu.nackMiss.Add(1)
		}
	}
}

// readRTCP drains one encoding's RTCP from the edge: keyframe requests go
// to the publisher (throttled per layer), NACKs to the writer.
func (rl *Relay) readRTCP(sender *webrtc.RTPSender, e *relayEnc) {
	s := rl.sfu
	buf := make([]byte, 1500)
	var window int64
	count := 0
	for {
		var n int
		var err error
		if e.rid == "" {
			n, _, err = sender.Read(buf)
		} else {
			n, _, err = sender.ReadSimulcast(buf, e.rid)
		}
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			s.drops.malformed.Add(1)
			continue
		}
		if now := sfuClock(); now-window > int64(time.Second) {
			window, count = now, 0
		}
		for _, p := range pkts {
			if count++; count > rtcpPerSecond {
				s.drops.rtcpFlood.Add(1)
				continue
			}
			layer := e.layer()
			if layer < 0 {
				continue
			}
			switch x := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				e.out.pt.requestKeyframe(layer)
			case *rtcp.TransportLayerNack:
				s.nacks.Add(uint64(len(x.Nacks)))
				seqs := nackSeqs(x, relayMaxNACKBatch)
				select {
				case rl.nacks <- relayNACK{o: e.out, layer: int8(layer), seqs: seqs}:
				default:
					s.drops.rtcpFlood.Add(1)
				}
			}
		}
	}
}

// layer is the index of the published layer this encoding carries, or -1.
func (e *relayEnc) layer() int {
	pt := e.out.pt
	for i := 0; i < maxLayers; i++ {
		if l := pt.layer(i); l != nil && (l.rid == e.rid || len(e.out.encs) == 1) {
			return i
		}
	}
	return -1
}

func nackSeqs(n *rtcp.TransportLayerNack, max int) []uint16 {
	var out []uint16
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			if len(out) >= max {
				return out
			}
			out = append(out, seq)
		}
	}
	return out
}

// addRelay makes the layer readers feed o.
func (pt *publishedTrack) addRelay(o *relayOut) {
	pt.mu.Lock()
	if !pt.closed {
		pt.relaySet[o] = struct{}{}
		pt.publishRelaysLocked()
	}
	pt.mu.Unlock()
}

func (pt *publishedTrack) removeRelay(o *relayOut) {
	pt.mu.Lock()
	delete(pt.relaySet, o)
	pt.publishRelaysLocked()
	pt.mu.Unlock()
}

func (pt *publishedTrack) publishRelaysLocked() { storeSnapshot(&pt.relays, pt.relaySet) }

// stats lists the relay's per-track counters.
func (rl *Relay) stats() []RelayTrackStats {
	outs := *rl.outList.Load()
	st := make([]RelayTrackStats, 0, len(outs))
	for _, o := range outs {
		st = append(st, RelayTrackStats{Room: rl.room.id, Relay: rl.id, ParticipantID: o.pt.info.ParticipantID,
			TrackID: o.pt.info.TrackID, Kind: o.pt.info.Kind, Layers: len(o.encs),
			Packets: o.packets.Load(), Bytes: o.bytes.Load(), Dropped: o.dropped.Load(), Retransmits: o.retransmits.Load()})
	}
	return st
}
