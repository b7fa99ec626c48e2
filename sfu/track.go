package sfu

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TrackInfo describes a published track.
type TrackInfo struct {
	ParticipantID, TrackID, StreamID, RID string
	Kind                                  string // "audio" or "video"
	MimeType                              string // e.g. "video/VP8", "audio/opus"
	ClockRate                             uint32
	Channels                              uint16
}

// LocalSubscriber receives the tracks of a room in-process (the recorder).
type LocalSubscriber interface {
	// AddTrack is called once per published track; return nil to ignore the track.
	AddTrack(t TrackInfo, requestKeyframe func()) LocalTrackSink
}

// LocalTrackSink receives one track's packets. WriteRTP and Close are called
// from one goroutine owned by the SFU, never concurrently. For a simulcast
// track the sink gets the highest layer that sends, rewritten into one
// continuous stream: it moves down at once when that layer stops and up
// once a higher one has sent for a while (settleSink).
//
// A sink may also implement SenderReportSink and RetransmitSink; the SFU
// checks with type assertions.
type LocalTrackSink interface {
	WriteRTP(p *rtp.Packet) error // p is only valid during the call
	Close()                       // the track ended or the local subscriber was removed
}

// SenderReportSink is an optional LocalTrackSink interface. SenderReport is
// called on the sink's goroutine, in order with WriteRTP, whenever the
// publisher's RTCP sender report for the forwarded layer arrives, with the
// RTP timestamp translated to the sink's stream (the one WriteRTP carries):
// ntp is the wall-clock time at which the stream's clock read rtpTimestamp.
// Reports of a layer the sink is not (yet) following are not passed on.
type SenderReportSink interface {
	SenderReport(ntp time.Time, rtpTimestamp uint32)
}

// RetransmitSink is an optional LocalTrackSink interface. SetRetransmitter
// is called once, on the sink's goroutine, before the first WriteRTP, with
// a function the sink may call from any goroutine (it never blocks; a
// burst beyond its queue is dropped) to ask for sequence numbers again, in
// the sink's stream numbering. The SFU serves them from its packet cache
// or NACKs the publisher; the packets then arrive through WriteRTP again,
// with the same sequence numbers and timestamps as the first time.
type RetransmitSink interface {
	SetRetransmitter(func(seqs []uint16))
}

const (
	maxLayers     = 3
	layerQueueLen = 128 // packets between the socket reader (direct path) or Pion's reader and the layer's reader
)

// layer is one encoding of a published track (one simulcast RID, or the
// only one). Its reader goroutine owns the read side.
type layer struct {
	pt     *publishedTrack
	idx    int // quality rank: 0 low .. 2 high
	rid    string
	remote *webrtc.TrackRemote
	ssrc   uint32
	cache  *packetCache
	kf     keyframeThrottle

	// Packets for the reader: from Pion (pump) and from the direct path
	// (srtpIn, never blocking); quit is closed when Pion's track ends.
	in   chan *pkt
	quit chan struct{}

	bitrate atomic.Int64 // bps, measured over ~1 s windows
	lastPkt atomic.Int64 // sfuClock of the last packet
	width   atomic.Uint32
	height  atomic.Uint32

	// hmu serialises handle: the reader goroutine's packets and those the
	// socket reader handles inline (small fan-outs) go one at a time, in
	// order. It guards the fields below.
	hmu      sync.Mutex
	winStart int64 // bitrate window
	winBytes int64
	loud     int32 // smoothed audio level
	lastTS   uint32
	inFrame  bool        // a video frame's packets were queued without its end
	wait     *time.Timer // audio's bounded wait on a full subscriber queue
}

// active reports whether the layer sent within the last second.
func (l *layer) active(now int64) bool {
	last := l.lastPkt.Load()
	return last != 0 && now-last < int64(time.Second)
}

// rate is the layer's measured bitrate, or a default by rank before the
// first measurement.
func (l *layer) rate() int64 {
	if r := l.bitrate.Load(); r > 0 {
		return r
	}
	if l.pt.kind == webrtc.RTPCodecTypeAudio {
		return 40_000
	}
	return [maxLayers]int64{150_000, 500_000, 1_500_000}[l.idx]
}

// publishedTrack is one track a participant publishes, with up to three
// simulcast layers.
type publishedTrack struct {
	info         TrackInfo
	owner        *Participant
	recv         *webrtc.RTPReceiver
	kind         webrtc.RTPCodecType
	codec        webrtc.RTPCodecParameters
	ck           codecKind
	audioLevelID uint8
	order        uint64 // publish order in the room (set under Room.mu)

	layers [maxLayers]atomic.Pointer[layer]

	downs    atomic.Pointer[[]*downTrack] // reader's view of remote subscribers
	sinkList atomic.Pointer[[]*sinkWorker]
	relays   atomic.Pointer[[]*relayOut] // reader's view of relays to edge nodes
	sinkL    atomic.Int32                // layer feeding local sinks (the highest that sends; settleSink)

	recvPackets, recvBytes atomic.Uint64 // everything the readers accepted, all layers

	level atomic.Int32 // smoothed audio loudness 0..127 (127 loud), for active speaker
	dyn   dynState     // dynacast: layers paused because nobody wants them
	muted atomic.Bool  // server-side mute: nothing is forwarded

	mu       sync.Mutex
	downSet  map[*downTrack]struct{}
	sinks    map[*localReg]*sinkWorker
	relaySet map[*relayOut]struct{}
	readers  int // layer readers still running
	closed   bool
}

func newPublishedTrack(owner *Participant, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *publishedTrack {
	codec := remote.Codec()
	pt := &publishedTrack{
		info: TrackInfo{
			ParticipantID: owner.info.ID,
			TrackID:       remote.ID(),
			StreamID:      remote.StreamID(),
			RID:           remote.RID(),
			Kind:          remote.Kind().String(),
			MimeType:      codec.MimeType,
			ClockRate:     codec.ClockRate,
			Channels:      codec.Channels,
		},
		owner:    owner,
		recv:     recv,
		kind:     remote.Kind(),
		codec:    codec,
		ck:       codecKindOf(codec.MimeType),
		downSet:  map[*downTrack]struct{}{},
		sinks:    map[*localReg]*sinkWorker{},
		relaySet: map[*relayOut]struct{}{},
	}
	if recv != nil {
		pt.audioLevelID = extID(recv.GetParameters().HeaderExtensions, uriAudioLevel)
	}
	pt.downs.Store(&[]*downTrack{})
	pt.sinkList.Store(&[]*sinkWorker{})
	pt.relays.Store(&[]*relayOut{})
	return pt
}

// addLayer registers a layer (one RID) and reports its index, or -1 when
// the track already has that layer or no room for another.
func (pt *publishedTrack) addLayerLocked(remote *webrtc.TrackRemote) *layer {
	idx := layerRank(remote.RID())
	if remote.RID() == "" {
		idx = 0
	}
	if idx < 0 {
		for i := 0; i < maxLayers; i++ {
			if pt.layers[i].Load() == nil {
				idx = i
				break
			}
		}
	}
	if idx < 0 || pt.layers[idx].Load() != nil {
		return nil
	}
	// ~0.75 s of a 1.5 Mbit/s layer: NACKs older than nackMaxAge are not
	// answered anyway, and each slot pins a 1.5 KB buffer.
	n := 128
	if pt.kind == webrtc.RTPCodecTypeAudio {
		n = 64
	}
	l := &layer{pt: pt, idx: idx, rid: remote.RID(), remote: remote, ssrc: uint32(remote.SSRC()), cache: newPacketCache(n),
		in: make(chan *pkt, layerQueueLen), quit: make(chan struct{})}
	owner, ssrc, sfu := pt.owner, l.ssrc, pt.owner.sfu
	l.kf.send = func() {
		sfu.keyframes.Add(1)
		_ = owner.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
	pt.layers[idx].Store(l)
	pt.readers++
	if int32(idx) > pt.sinkL.Load() || pt.readers == 1 {
		pt.sinkL.Store(int32(idx))
	}
	return l
}

func (pt *publishedTrack) layer(i int) *layer {
	if i < 0 || i >= maxLayers {
		return nil
	}
	return pt.layers[i].Load()
}

func (pt *publishedTrack) isVideo() bool { return pt.kind == webrtc.RTPCodecTypeVideo }

func (pt *publishedTrack) isClosed() bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.closed
}

// requestKeyframe asks for a keyframe on layer i (throttled per layer);
// i < 0 means the layer that feeds local sinks.
func (pt *publishedTrack) requestKeyframe(i int) {
	if !pt.isVideo() {
		return
	}
	if i < 0 {
		i = int(pt.sinkL.Load())
	}
	if l := pt.layer(i); l != nil {
		l.kf.request()
	}
}

func (pt *publishedTrack) addDown(dt *downTrack) {
	pt.mu.Lock()
	pt.downSet[dt] = struct{}{}
	pt.publishDownsLocked()
	pt.mu.Unlock()
}

func (pt *publishedTrack) removeDown(dt *downTrack) {
	pt.mu.Lock()
	delete(pt.downSet, dt)
	pt.publishDownsLocked()
	pt.mu.Unlock()
}

func (pt *publishedTrack) publishDownsLocked() { storeSnapshot(&pt.downs, pt.downSet) }

// storeSnapshot publishes the members of set as the readers' copy-on-write
// list (the readers load it without a lock).
func storeSnapshot[T comparable](dst *atomic.Pointer[[]T], set map[T]struct{}) {
	l := make([]T, 0, len(set))
	for v := range set {
		l = append(l, v)
	}
	dst.Store(&l)
}

// inlineMax is the largest fan-out the socket reader forwards itself (an
// interview's): it saves the hand-off to the layer's reader goroutine, one
// goroutine wake-up per received packet. Larger fan-outs stay on the
// reader goroutine so the socket reader never spends long on one packet.
const inlineMax = 4

// push takes a packet from the direct path; it never blocks the socket
// reader (a full queue drops, counted). Small fan-outs are forwarded at
// once unless packets already wait for the reader (order is kept).
func (l *layer) push(p *pkt) {
	pt := l.pt
	if len(l.in) == 0 && len(*pt.downs.Load())+len(*pt.sinkList.Load())+len(*pt.relays.Load()) <= inlineMax {
		l.handle(pt.owner.sfu, p, true)
		return
	}
	select {
	case l.in <- p:
	default:
		p.release()
		l.pt.owner.sfu.drops.ingressQueue.Add(1)
	}
}

// pump feeds the reader what Pion's receive chain delivers (everything
// before the direct path takes the layer's SSRC, and whatever it leaves to
// Pion) and closes quit when the track ends. Pion's reader goroutine.
func (l *layer) pump(s *SFU) {
	defer close(l.quit)
	for {
		p := getPkt()
		n, _, err := l.remote.Read(p.buf[:])
		if err != nil {
			p.release()
			if errors.Is(err, io.ErrShortBuffer) {
				s.drops.oversized.Add(1)
				continue
			}
			if !errors.Is(err, io.EOF) {
				l.pt.owner.log.Debug("track read ended", "track", l.pt.info.TrackID, "rid", l.rid, "err", err)
			}
			return
		}
		p.n = n
		select {
		case l.in <- p:
		case <-l.pt.owner.done:
			p.release()
			return
		}
	}
}

// read forwards one layer's packets until it ends. It runs on the layer's
// reader goroutine and never blocks on a subscriber (audio waits at most
// audioWait per packet in total).
func (l *layer) read(s *SFU) {
	l.hmu.Lock()
	l.wait = time.NewTimer(time.Hour)
	l.wait.Stop()
	l.hmu.Unlock()
	defer l.wait.Stop()
	for {
		select {
		case p := <-l.in:
			l.handle(s, p, false)
		case <-l.quit:
			for { // what the direct path queued meanwhile
				select {
				case p := <-l.in:
					p.release()
				default:
					return
				}
			}
		}
	}
}

// handle forwards one packet to the layer's subscribers, sinks and relays.
// inline: the socket reader calls, so audio does not wait on a full queue.
func (l *layer) handle(s *SFU, p *pkt, inline bool) {
	pt := l.pt
	video := pt.isVideo()
	n := p.n
	if n > maxPacket-16 || !p.parse(pt.ck, pt.audioLevelID) {
		if n > maxPacket-16 {
			s.drops.oversized.Add(1)
		} else {
			s.drops.malformed.Add(1)
		}
		p.release()
		return
	}
	l.hmu.Lock()
	defer l.hmu.Unlock()
	now := sfuClock()
	p.arrival, p.layer = now, int8(l.idx)
	l.lastPkt.Store(now)
	pt.recvPackets.Add(1)
	pt.recvBytes.Add(uint64(p.payEnd - p.payStart))
	if l.winStart == 0 {
		l.winStart = now
	}
	l.winBytes += int64(n)
	if el := now - l.winStart; el >= int64(time.Second) {
		l.bitrate.Store(l.winBytes * 8 * int64(time.Second) / el)
		l.winStart, l.winBytes = now, 0
	}
	if p.keyframe && p.width != 0 {
		l.width.Store(uint32(p.width))
		l.height.Store(uint32(p.height))
	}
	if pt.muted.Load() {
		l.loud = 0
		pt.level.Store(0)
		p.release()
		return
	}
	if !video && pt.audioLevelID != 0 {
		// Exponential smoothing of loudness, 127 = loudest.
		v := int32(0)
		if p.voice || p.audioLevel < 127 {
			v = 127 - int32(p.audioLevel)
		}
		l.loud += (v - l.loud) / 4
		pt.level.Store(l.loud)
	}
	// Video is kept for NACKs only while someone takes this layer: a
	// simulcast layer nobody watches costs no cache slot (nor its memory).
	cached := !video
	keep := func() {
		if !cached {
			l.cache.put(p)
			cached = true
		}
	}

	// Wake subscribers' workers once a frame: at its end, or at the
	// next frame's first packet when the end was lost.
	wake := !video || p.marker || (l.inFrame && p.ts != l.lastTS)
	l.inFrame, l.lastTS = video && !p.marker, p.ts
	var deadline time.Time
	var wait *time.Timer // nil: audio does not wait (on the socket reader)
	if !inline {
		wait = l.wait
	}
	bit := uint32(1) << l.idx
	for _, dt := range *pt.downs.Load() {
		if dt.want.Load()&bit != 0 {
			keep()
			dt.eg.enqueue(dt, p, video, wake, wait, &deadline)
		}
	}
	if int32(l.idx) == pt.sinkL.Load() {
		for _, w := range *pt.sinkList.Load() {
			keep()
			w.enqueue(p, int8(l.idx))
		}
	}
	// Every layer crosses to each edge node once; edges choose per viewer.
	for _, o := range *pt.relays.Load() {
		keep()
		o.enqueue(p, int8(l.idx))
	}
	p.release()
}

// attachSink hands the track to a local subscriber. Called with no lock held.
func (pt *publishedTrack) attachSink(s *SFU, reg *localReg) {
	if pt.isClosed() || reg.removed.Load() {
		return
	}
	info := pt.info
	if pt.ck == codecRED {
		info.MimeType = webrtc.MimeTypeOpus // sinks get the primary encoding (sinkWorker.write)
	}
	sink := reg.ls.AddTrack(info, func() { pt.requestKeyframe(-1) })
	if sink == nil {
		return
	}
	w := &sinkWorker{sink: sink, q: make(chan sinkItem, sinkQueueLen), quit: make(chan struct{}), sfu: s, pt: pt,
		ask: make(chan []uint16, sinkAskQueue)}
	w.srs, _ = sink.(SenderReportSink)
	w.rw.init(pt.isVideo(), pt.info.ClockRate)
	w.rw.target = int(pt.sinkL.Load())
	pt.mu.Lock()
	if pt.closed || reg.removed.Load() {
		pt.mu.Unlock()
		sink.Close()
		return
	}
	if !s.spawn(w.run) {
		pt.mu.Unlock()
		sink.Close()
		return
	}
	pt.sinks[reg] = w
	pt.publishSinksLocked()
	pt.mu.Unlock()
	pt.requestKeyframe(-1)
}

func (pt *publishedTrack) detachSink(reg *localReg) {
	pt.mu.Lock()
	w := pt.sinks[reg]
	delete(pt.sinks, reg)
	pt.publishSinksLocked()
	pt.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

func (pt *publishedTrack) publishSinksLocked() {
	l := make([]*sinkWorker, 0, len(pt.sinks))
	for _, w := range pt.sinks {
		l = append(l, w)
	}
	pt.sinkList.Store(&l)
}

// markClosed marks the track closed and hands back its sinks for stopSinks;
// it reports whether this call closed the track. No call-outs, so it may run
// under Room.mu.
func (pt *publishedTrack) markClosed() (map[*localReg]*sinkWorker, bool) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.closed {
		return nil, false
	}
	pt.closed = true
	sinks := pt.sinks
	pt.sinks = map[*localReg]*sinkWorker{}
	pt.publishSinksLocked()
	pt.relaySet = map[*relayOut]struct{}{}
	pt.publishRelaysLocked()
	for i := range pt.layers {
		if l := pt.layers[i].Load(); l != nil {
			l.kf.close()
		}
	}
	return sinks, true
}

func (pt *publishedTrack) stopSinks(sinks map[*localReg]*sinkWorker) {
	for _, w := range sinks {
		w.stop()
	}
}

// releaseCaches drops cached packets once every reader has ended.
func (pt *publishedTrack) releaseCaches() {
	for i := range pt.layers {
		if l := pt.layers[i].Load(); l != nil {
			l.cache.clear()
		}
	}
}

// keyframeThrottle sends at most one request per keyframeInterval. A request
// inside the interval is deferred to its end rather than dropped, so a
// subscriber that starts just after another one still gets a keyframe.
type keyframeThrottle struct {
	send func()

	mu     sync.Mutex
	last   time.Time
	timer  *time.Timer
	closed bool
}

func (k *keyframeThrottle) request() {
	k.mu.Lock()
	if k.closed || k.timer != nil {
		k.mu.Unlock()
		return
	}
	now := time.Now()
	if wait := keyframeInterval - now.Sub(k.last); wait > 0 {
		k.timer = time.AfterFunc(wait, k.fire)
		k.mu.Unlock()
		return
	}
	k.last = now
	k.mu.Unlock()
	k.send()
}

func (k *keyframeThrottle) fire() {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	k.timer = nil
	k.last = time.Now()
	k.mu.Unlock()
	k.send()
}

func (k *keyframeThrottle) close() {
	k.mu.Lock()
	k.closed = true
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	k.mu.Unlock()
}

// sinkItem is a packet or, with p nil, a sender report of layer.
type sinkItem struct {
	p     *pkt
	layer int8
	ntp   uint64
	srTS  uint32
}

const (
	sinkHistLen  = 1024 // packets remembered for a sink's retransmission requests
	maxSinkAsk   = 256  // sequence numbers per request
	sinkAskQueue = 16   // requests waiting for the worker
)

// sinkHist maps a sink's sequence number back to its source packet.
type sinkHist struct {
	ts    uint32
	out   uint16
	src   uint16
	layer int8
	ok    bool
}

// sinkWorker delivers one track to one LocalTrackSink on its own goroutine
// through a bounded queue; when the queue is full the packet is dropped and
// counted, so the track reader never waits for a slow sink.
type sinkWorker struct {
	sink     LocalTrackSink
	pt       *publishedTrack
	q        chan sinkItem
	quit     chan struct{}
	stopOnce sync.Once
	sfu      *SFU

	resync atomic.Bool   // continue after a gap (unmute): relock at the next (key)frame
	ask    chan []uint16 // retransmission requests (RetransmitSink)

	rw   rewriter // owned by run
	pkt  rtp.Packet
	hist []sinkHist // owned by run; nil unless the sink is a RetransmitSink
	srs  SenderReportSink
}

func (w *sinkWorker) enqueue(p *pkt, layer int8) {
	p.retain()
	select {
	case w.q <- sinkItem{p: p, layer: layer}:
		w.sfu.forwarded.Add(1)
	default:
		p.release()
		w.sfu.drops.sinkFull.Add(1)
	}
}

func (w *sinkWorker) stop() { w.stopOnce.Do(func() { close(w.quit) }) }

// enqueueSR passes a publisher's sender report of layer on, if the sink
// wants reports; a full queue drops it (the next one comes within seconds).
func (w *sinkWorker) enqueueSR(layer int8, ntp uint64, ts uint32) {
	if w.srs == nil {
		return
	}
	select {
	case w.q <- sinkItem{layer: layer, ntp: ntp, srTS: ts}:
	default:
	}
}

func (w *sinkWorker) deliverSR(it sinkItem) {
	if !w.rw.started || int(it.layer) != w.rw.cur {
		return // not the layer the sink's timeline follows
	}
	w.srs.SenderReport(ntpToTime(it.ntp), it.srTS+w.rw.tsOff)
}

func ntpToTime(v uint64) time.Time {
	sec := int64(v>>32) - 2208988800
	nsec := int64((v & 0xffffffff) * 1e9 >> 32)
	return time.Unix(sec, nsec)
}

func (w *sinkWorker) deliver(it sinkItem) {
	if it.p == nil {
		w.deliverSR(it)
		return
	}
	defer it.p.release()
	if w.resync.Load() && w.resync.Swap(false) {
		w.rw.needKey = true
	}
	// Follow the highest layer the track has.
	if t := int(w.pt.sinkL.Load()); t != w.rw.target {
		w.rw.target = t
		w.pt.requestKeyframe(t)
	}
	seq, ts, ok := w.rw.accept(it.p, int(it.layer))
	if !ok {
		if w.rw.video && w.rw.needKey {
			w.pt.requestKeyframe(w.rw.target)
		}
		return
	}
	if w.hist != nil {
		w.hist[seq%sinkHistLen] = sinkHist{ts: ts, out: seq, src: it.p.seq, layer: it.layer, ok: true}
	}
	w.write(it.p, seq, ts)
}

func (w *sinkWorker) write(src *pkt, seq uint16, ts uint32) {
	p := &w.pkt
	p.Header = rtp.Header{Version: 2, Marker: src.marker, PayloadType: uint8(w.pt.codec.PayloadType),
		SequenceNumber: seq, Timestamp: ts, SSRC: w.pt.layer(0).ssrcOr(w.pt)}
	p.Payload = src.payload()
	if w.pt.ck == codecRED {
		pl, ok := redPrimary(p.Payload)
		if !ok || len(pl) == 0 {
			return
		}
		p.Payload = pl
	}
	_ = w.sink.WriteRTP(p)
}

// retransmit serves a RetransmitSink's request: from the layer cache when
// the packet is still there, else by a NACK to the publisher (the repaired
// packet then comes through the reader like any other).
func (w *sinkWorker) retransmit(seqs []uint16) {
	var lost [maxLayers][]uint16
	for _, seq := range seqs {
		var l *layer
		var src uint16
		ts, haveTS := uint32(0), false
		if h := &w.hist[seq%sinkHistLen]; h.ok && h.out == seq {
			l, src, ts, haveTS = w.pt.layer(int(h.layer)), h.src, h.ts, true
		} else if r := &w.rw; r.started && r.cur >= 0 {
			// Never forwarded (lost before the SFU): map it through the
			// current lock if it falls inside it.
			src = seq - r.seqOff
			if int16(src-r.lockSeq) < 0 || int16(r.highSeq-src) < 0 {
				continue
			}
			l = w.pt.layer(r.cur)
		}
		if l == nil {
			continue
		}
		if p := l.cache.get(src); p != nil {
			if !haveTS {
				ts = p.ts + w.rw.tsOff
			}
			w.write(p, seq, ts)
			p.release()
			w.sfu.retransmits.Add(1)
			continue
		}
		lost[l.idx] = append(lost[l.idx], src)
	}
	for i, srcs := range lost {
		if len(srcs) == 0 {
			continue
		}
		if l := w.pt.layer(i); l != nil && w.pt.owner != nil && w.pt.owner.pub != nil {
			_ = w.pt.owner.pub.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: l.ssrc,
				Nacks: rtcp.NackPairsFromSequenceNumbers(srcs)}})
		}
	}
}

func (w *sinkWorker) run() {
	defer w.sink.Close()
	if rs, ok := w.sink.(RetransmitSink); ok {
		w.hist = make([]sinkHist, sinkHistLen)
		ask := w.ask
		rs.SetRetransmitter(func(seqs []uint16) {
			if len(seqs) == 0 {
				return
			}
			c := append([]uint16(nil), seqs[:min(len(seqs), maxSinkAsk)]...)
			select {
			case ask <- c:
			default:
			}
		})
	}
	for {
		select {
		case seqs := <-w.ask:
			w.retransmit(seqs)
		case it := <-w.q:
			w.deliver(it)
		case <-w.quit:
			// Deliver what was already queued (the last frames matter to a
			// recording), then close.
			for {
				select {
				case it := <-w.q:
					w.deliver(it)
				default:
					return
				}
			}
		}
	}
}

// ssrcOr gives local sinks one stable SSRC per track.
func (l *layer) ssrcOr(pt *publishedTrack) uint32 {
	if l != nil {
		return l.ssrc
	}
	for i := range pt.layers {
		if x := pt.layers[i].Load(); x != nil {
			return x.ssrc
		}
	}
	return 0
}
