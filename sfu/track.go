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
// from one goroutine owned by the SFU, never concurrently.
type LocalTrackSink interface {
	WriteRTP(p *rtp.Packet) error // p is only valid during the call
	Close()                       // the track ended or the local subscriber was removed
}

// publishedTrack is one track a participant publishes.
type publishedTrack struct {
	info   TrackInfo
	owner  *Participant
	remote *webrtc.TrackRemote
	// fanout is bound once per subscribe PC; Pion rewrites SSRC and payload
	// type per binding.
	fanout     *webrtc.TrackLocalStaticRTP
	kf         keyframeThrottle
	remoteSubs atomic.Int64 // subscribe PCs carrying this track, for Stats

	sinkList atomic.Pointer[[]*sinkWorker] // reader's lock-free view of sinks

	mu     sync.Mutex
	sinks  map[*localReg]*sinkWorker
	closed bool
}

func newPublishedTrack(owner *Participant, remote *webrtc.TrackRemote) (*publishedTrack, error) {
	codec := remote.Codec()
	fan, err := webrtc.NewTrackLocalStaticRTP(codec.RTPCodecCapability, remote.ID(), owner.info.ID)
	if err != nil {
		return nil, err
	}
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
		owner:  owner,
		remote: remote,
		fanout: fan,
		sinks:  map[*localReg]*sinkWorker{},
	}
	pt.sinkList.Store(&[]*sinkWorker{})
	ssrc := uint32(remote.SSRC())
	pt.kf.send = func() {
		_ = owner.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
	return pt, nil
}

func (pt *publishedTrack) isVideo() bool { return pt.remote.Kind() == webrtc.RTPCodecTypeVideo }

func (pt *publishedTrack) isClosed() bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.closed
}

// requestKeyframe asks the publisher for a keyframe, throttled per track.
func (pt *publishedTrack) requestKeyframe() {
	if pt.isVideo() {
		pt.kf.request()
	}
}

// read forwards packets until the track ends. It runs on the track reader
// goroutine and never blocks on a consumer.
func (pt *publishedTrack) read(s *SFU) {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := pt.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				pt.owner.log.Debug("track read ended", "track", pt.info.TrackID, "err", err)
			}
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		if subs := pt.remoteSubs.Load(); subs > 0 {
			// Errors name PeerConnections that are going away; the participant
			// loop removes them.
			if err := pt.fanout.WriteRTP(&pkt); err == nil {
				s.forwarded.Add(uint64(subs))
			}
		}
		for _, w := range *pt.sinkList.Load() {
			w.enqueue(buf[:n])
		}
	}
}

// attachSink hands the track to a local subscriber. Called with no lock held.
func (pt *publishedTrack) attachSink(s *SFU, reg *localReg) {
	if pt.isClosed() || reg.removed.Load() {
		return
	}
	sink := reg.ls.AddTrack(pt.info, pt.requestKeyframe)
	if sink == nil {
		return
	}
	w := &sinkWorker{sink: sink, q: make(chan *[]byte, sinkQueueLen), quit: make(chan struct{}), sfu: s}
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
	pt.requestKeyframe()
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
	pt.kf.close()
	return sinks, true
}

func (pt *publishedTrack) stopSinks(sinks map[*localReg]*sinkWorker) {
	for _, w := range sinks {
		w.stop()
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

var packetBufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1500)
	return &b
}}

// sinkWorker delivers one track to one LocalTrackSink on its own goroutine
// through a bounded queue; when the queue is full the packet is dropped and
// counted, so the track reader never waits for a slow sink.
type sinkWorker struct {
	sink     LocalTrackSink
	q        chan *[]byte
	quit     chan struct{}
	stopOnce sync.Once
	sfu      *SFU
}

func (w *sinkWorker) enqueue(raw []byte) {
	bp := packetBufPool.Get().(*[]byte)
	*bp = append((*bp)[:0], raw...)
	select {
	case w.q <- bp:
		w.sfu.forwarded.Add(1)
	default:
		packetBufPool.Put(bp)
		w.sfu.dropped.Add(1)
	}
}

func (w *sinkWorker) stop() { w.stopOnce.Do(func() { close(w.quit) }) }

func (w *sinkWorker) run() {
	defer w.sink.Close()
	var pkt rtp.Packet
	deliver := func(bp *[]byte) {
		if pkt.Unmarshal(*bp) == nil {
			_ = w.sink.WriteRTP(&pkt)
		}
		packetBufPool.Put(bp)
	}
	for {
		select {
		case bp := <-w.q:
			deliver(bp)
		case <-w.quit:
			// Deliver what was already queued (the last frames matter to a
			// recording), then close.
			for {
				select {
				case bp := <-w.q:
					deliver(bp)
				default:
					return
				}
			}
		}
	}
}

// downTrack is one published track on one subscriber's PC. It wraps the
// shared fan-out track so the SFU learns when Pion binds it (negotiation
// complete) and can ask the publisher for a keyframe right then.
type downTrack struct {
	*webrtc.TrackLocalStaticRTP
	pt     *publishedTrack
	sender *webrtc.RTPSender
}

// Bind implements webrtc.TrackLocal.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, err := d.TrackLocalStaticRTP.Bind(ctx)
	if err == nil {
		d.pt.requestKeyframe()
	}
	return c, err
}

// readRTCP drains the sender's RTCP (so NACK and report interceptors run)
// and forwards PLI/FIR to the publisher.
func (d *downTrack) readRTCP() {
	for {
		pkts, _, err := d.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.pt.requestKeyframe()
			}
		}
	}
}
