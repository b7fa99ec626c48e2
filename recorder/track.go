package recorder

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"jobhall/internal/apperr"
)

// Track describes a published track offered to the recorder.
type Track struct {
	ParticipantID, TrackID string
	Kind                   string // "audio" | "video"
	MimeType               string // "video/VP8", "video/VP9", "video/H264", "audio/opus"; others fail (see AddTrack)
	ClockRate              uint32
	Channels               uint16
}

// TrackWriter receives one track's RTP packets. Its method set matches the
// SFU's sink interface and its optional extensions. WriteRTP never blocks: it
// copies the packet (which is only valid during the call) into a bounded
// queue, dropping it when full. SenderReport goes through the same queue, so
// it stays in order with the packets.
type TrackWriter interface {
	WriteRTP(p *rtp.Packet) error
	Close()
	// SetRetransmitter is called once before the first WriteRTP with a
	// non-blocking function that asks the publisher for the given sequence
	// numbers again; they then arrive through WriteRTP.
	SetRetransmitter(func(seqs []uint16))
	// SenderReport passes an RTCP SR: the sender's wall clock at rtpTimestamp.
	SenderReport(ntp time.Time, rtpTimestamp uint32)
}

type kind int

const (
	kindAudio kind = iota
	kindVideo
	numKinds
)

func (k kind) String() string {
	if k == kindVideo {
		return "video"
	}
	return "audio"
}

const (
	queueLen      = 1024      // packets per track: ~4 s of 2 Mbps video
	maxPayloadLen = 64 * 1024 // larger RTP payloads are bogus

	// Reordering tolerance of the samplebuilders, in packets and in media
	// time: a gap is given up on after whichever bound is hit first. It must
	// cover a retransmission round trip.
	videoMaxLate   = 512
	audioMaxLate   = 100
	maxLateTime    = time.Second
	maxTSJumpSecs  = 10 // an RTP timestamp jump larger than this is a discontinuity
	defaultVideoHz = 90000
	defaultAudioHz = 48000
	maxNACKGap     = 128 // a larger sequence jump is a restart, not loss worth asking for
)

var errTrackClosed = apperr.New(apperr.Unavailable, "recorder track closed")

// ErrUnsupportedCodec is File.Err of a track the recorder cannot store.
var ErrUnsupportedCodec = apperr.New(apperr.Invalid, "unsupported codec")

// validateTrack checks and normalizes t, returning its kind and codec.
func validateTrack(t *Track) (kind, codec, error) {
	if t.ParticipantID == "" || len(t.ParticipantID) > maxIDLen || len(t.TrackID) > maxIDLen {
		return 0, 0, apperr.New(apperr.Invalid, "participant/track ID empty or longer than %d", maxIDLen)
	}
	c, k, ok := codecOf(t.MimeType)
	if !ok {
		return 0, 0, fmt.Errorf("%w %q", ErrUnsupportedCodec, t.MimeType)
	}
	if k == kindVideo && t.ClockRate == 0 {
		t.ClockRate = defaultVideoHz
	}
	if k == kindAudio {
		if t.ClockRate == 0 {
			t.ClockRate = defaultAudioHz
		}
		if t.Channels == 0 || t.Channels > 2 {
			t.Channels = 2 // WebRTC always signals opus/48000/2
		}
	}
	if t.Kind != "" && t.Kind != k.String() {
		return 0, 0, apperr.New(apperr.Invalid, "kind %q does not match %s", t.Kind, t.MimeType)
	}
	if t.ClockRate < 1000 || t.ClockRate > 1_000_000 {
		return 0, 0, apperr.New(apperr.Invalid, "clock rate %d out of range", t.ClockRate)
	}
	return k, c, nil
}

type inPacket struct {
	p    *rtp.Packet // nil: a sender report
	at   time.Time   // arrival
	ntp  time.Time   // sender report's wall clock
	srTS uint32      // sender report's RTP timestamp
}

// sample is one depacketized frame on the session timeline.
type sample struct {
	w    *trackWriter
	kind kind
	at   time.Duration // since Session.epoch
	dur  time.Duration
	key  bool
	cfg  *videoConfig // a video keyframe's file config
	data []byte
}

// trackWriter implements TrackWriter. WriteRTP, SenderReport and Close may
// be called from any goroutine; everything below "owned by run" is touched
// only by run.
type trackWriter struct {
	s      *Session
	p      *participant
	info   Track
	kind   kind
	codec  codec
	reqKF  func()
	q      chan inPacket
	done   chan struct{}
	closer sync.Once

	retransmit atomic.Pointer[func([]uint16)]
	queueDrops atomic.Uint64
	lastKFReq  atomic.Int64 // session-relative ns of the last keyframe request, -1 = never

	// owned by run
	started  bool
	arrival0 time.Duration // arrival of the first packet, since epoch
	lastTS   uint32        // RTP timestamp of the last sample
	ext      int64         // unwrapped ticks of lastTS since the first packet
	haveSR   bool
	// Moving from one clock mapping to the next (arrival to the first
	// sender report, then each report) would jump the timeline. Video keeps
	// it continuous through corr, worked off by at most 1 ms a frame; audio
	// follows the mapping but never overlaps the frame before (audioEnd),
	// and skips a frame when it has fallen a whole frame behind.
	corr       time.Duration
	audioEnd   time.Duration // end of the last audio frame kept
	remap      bool          // a sender report changed the mapping
	mapped     bool          // lastRaw is set
	lastRaw    time.Duration // the mapping's time for lastRawExt
	lastRawExt int64
	srExt      int64         // unwrapped ticks of the newest sender report
	srAt       time.Duration // its wall clock on the session timeline
	early      *inPacket     // a sender report that came before the first packet
	maxSeq     uint16
	samples    uint64
	lost       uint64 // packets the samplebuilder gave up on
	partial    uint64 // incomplete frames dropped
	syncDrops  uint64 // audio frames skipped to stay with the sender clock
	nacked     uint64 // sequence numbers asked for again
}

func newTrackWriter(s *Session, p *participant, t Track, k kind, c codec, reqKF func()) *trackWriter {
	w := &trackWriter{
		s: s, p: p, info: t, kind: k, codec: c, reqKF: reqKF,
		q:    make(chan inPacket, queueLen),
		done: make(chan struct{}),
	}
	w.lastKFReq.Store(-1)
	return w
}

// WriteRTP implements TrackWriter.
func (w *trackWriter) WriteRTP(p *rtp.Packet) error {
	select {
	case <-w.done:
		return errTrackClosed
	default:
	}
	if p == nil || len(p.Payload) > maxPayloadLen || len(w.q) == cap(w.q) {
		w.queueDrops.Add(1)
		return nil
	}
	c := &rtp.Packet{
		Header: rtp.Header{
			Version:        p.Version,
			Marker:         p.Marker,
			PayloadType:    p.PayloadType,
			SequenceNumber: p.SequenceNumber,
			Timestamp:      p.Timestamp,
			SSRC:           p.SSRC,
		},
		Payload: append([]byte(nil), p.Payload...),
	}
	w.enqueue(inPacket{p: c, at: time.Now()})
	return nil
}

func (w *trackWriter) enqueue(in inPacket) {
	select {
	case w.q <- in:
	default:
		w.queueDrops.Add(1)
	}
}

// SetRetransmitter implements TrackWriter.
func (w *trackWriter) SetRetransmitter(f func(seqs []uint16)) {
	if f != nil {
		w.retransmit.Store(&f)
	}
}

// SenderReport implements TrackWriter.
func (w *trackWriter) SenderReport(ntp time.Time, rtpTimestamp uint32) {
	select {
	case <-w.done:
		return
	default:
	}
	w.enqueue(inPacket{at: time.Now(), ntp: ntp, srTS: rtpTimestamp})
}

// Close implements TrackWriter. It does not wait: the track goroutine drains
// what is queued, flushes its samplebuilder and tells the muxer.
func (w *trackWriter) Close() {
	w.closer.Do(func() { close(w.done) })
}

// requestKeyframe calls the SFU's callback at most once per keyframeThrottle.
// The start request always goes through.
// Safe from any goroutine.
func (w *trackWriter) requestKeyframe() {
	if w.kind != kindVideo || w.reqKF == nil {
		return
	}
	now := int64(time.Since(w.s.epoch))
	last := w.lastKFReq.Load()
	if last >= 0 && now-last < int64(w.s.keyframeEvery) {
		return
	}
	if w.lastKFReq.CompareAndSwap(last, now) {
		w.reqKF()
	}
}

func (w *trackWriter) run() {
	defer w.s.wg.Done()
	defer w.s.trackDone(w)

	var sb *samplebuilder.SampleBuilder
	if w.kind == kindVideo {
		sb = samplebuilder.New(videoMaxLate, newDepacketizer(w.codec), w.info.ClockRate,
			samplebuilder.WithMaxTimeDelay(maxLateTime), samplebuilder.WithRTPHeaders(true),
			samplebuilder.WithPacketHeadHandler(startsFrame))
		w.requestKeyframe()
	} else {
		sb = samplebuilder.New(audioMaxLate, &codecs.OpusPacket{}, w.info.ClockRate,
			samplebuilder.WithMaxTimeDelay(maxLateTime))
	}
	for {
		select {
		case in := <-w.q:
			w.push(sb, in)
		case <-w.done:
			for drained := false; !drained; {
				select {
				case in := <-w.q:
					w.push(sb, in)
				default:
					drained = true
				}
			}
			// Flush then Pop again, or the last frames are lost.
			sb.Flush()
			w.popAll(sb)
			w.p.post(event{typ: evTrackDone, w: w})
			w.s.log.Info("track ended", "participant", w.info.ParticipantID, "track", w.info.TrackID,
				"kind", w.kind, "samples", w.samples, "queue_drops", w.queueDrops.Load(),
				"lost_packets", w.lost, "partial_frames", w.partial, "nacked", w.nacked, "sync_drops", w.syncDrops)
			return
		}
	}
}

func (w *trackWriter) push(sb *samplebuilder.SampleBuilder, in inPacket) {
	if in.p == nil {
		if !w.started {
			w.early = &in
			return
		}
		w.senderReport(in)
		return
	}
	if !w.started {
		w.started = true
		w.arrival0 = in.at.Sub(w.s.epoch)
		w.lastTS = in.p.Timestamp
		w.maxSeq = in.p.SequenceNumber - 1
		if w.early != nil {
			w.senderReport(*w.early)
			w.early = nil
		}
	}
	w.askAgain(in.p.SequenceNumber)
	sb.Push(in.p)
	w.popAll(sb)
}

// askAgain asks the publisher for the packets a forward sequence jump skipped
// (once per gap; the samplebuilder waits for them up to its bounds).
func (w *trackWriter) askAgain(seq uint16) {
	d := int16(seq - w.maxSeq)
	if d <= 0 {
		return // old, reordered or a retransmission
	}
	if f := w.retransmit.Load(); f != nil && d > 1 && d <= maxNACKGap {
		seqs := make([]uint16, 0, d-1)
		for s := w.maxSeq + 1; s != seq; s++ {
			seqs = append(seqs, s)
		}
		w.nacked += uint64(len(seqs))
		(*f)(seqs)
	}
	w.maxSeq = seq
}

// senderReport maps the report's RTP time onto the session timeline through
// the participant's sender clock, shared by its audio and video.
func (w *trackWriter) senderReport(in inPacket) {
	w.srExt = w.ext + int64(int32(in.srTS-w.lastTS))
	w.srAt = w.p.senderTime(in.ntp, in.at)
	w.haveSR = true
	w.remap = true
}

func (w *trackWriter) popAll(sb *samplebuilder.SampleBuilder) {
	for s := sb.Pop(); s != nil; s = sb.Pop() {
		if s.PrevDroppedPackets > 0 {
			w.lost += uint64(s.PrevDroppedPackets)
			w.requestKeyframe()
		}
		at := w.timeOf(s.PacketTimestamp)
		if w.kind == kindAudio {
			// An Opus packet says how much sound it holds; the gap to the
			// next packet (s.Duration) is longer across silence.
			frameDur := opusDuration(s.Data)
			if w.samples > 0 && at < w.audioEnd {
				if w.audioEnd-at >= frameDur && frameDur > 0 {
					w.syncDrops++ // a whole frame behind the sender clock: skip one to catch up
					continue
				}
				at = w.audioEnd
			}
			w.audioEnd = at + frameDur
		}
		if w.kind == kindVideo && (s.Metadata != true || !completeFrame(s.RTPHeaders)) {
			// Missing its first, a middle or its last packet: drop it.
			w.partial++
			w.requestKeyframe()
			continue
		}
		if len(s.Data) == 0 {
			continue
		}
		smp := sample{w: w, kind: w.kind, at: at, dur: s.Duration, data: s.Data, key: true}
		if w.kind == kindVideo {
			smp.key, smp.cfg, smp.data = inspectVideo(w.codec, s.Data)
		}
		w.samples++
		w.p.post(event{typ: evSample, w: w, smp: smp})
	}
}

// timeOf unwraps an RTP timestamp onto the session timeline: through the
// newest sender report when one came, else relative to the arrival of the
// track's first packet.
func (w *trackWriter) timeOf(ts uint32) time.Duration {
	d := int64(int32(ts - w.lastTS))
	if lim := int64(w.info.ClockRate) * maxTSJumpSecs; d > lim || d < -lim {
		// The source restarted its timestamps: continue right after the last
		// sample; the old sender report no longer applies.
		w.s.log.Warn("RTP timestamp discontinuity", "participant", w.info.ParticipantID, "track", w.info.TrackID, "jump", d)
		d = int64(w.info.ClockRate) / 50
		if w.haveSR {
			w.srAt += w.ticks(w.ext + d - w.srExt)
			w.srExt = w.ext + d
		}
	}
	w.ext += d
	w.lastTS = ts
	raw := w.arrival0 + w.ticks(w.ext)
	if w.haveSR {
		raw = w.srAt + w.ticks(w.ext-w.srExt)
	}
	if w.kind == kindAudio {
		return raw
	}
	if w.remap && w.mapped {
		w.corr += w.lastRaw + w.ticks(w.ext-w.lastRawExt) - raw // the old mapping, continued
	}
	w.remap, w.mapped, w.lastRaw, w.lastRawExt = false, true, raw, w.ext
	switch {
	case w.corr > time.Millisecond:
		w.corr -= time.Millisecond
	case w.corr < -time.Millisecond:
		w.corr += time.Millisecond
	default:
		w.corr = 0
	}
	return raw + w.corr
}

func (w *trackWriter) ticks(n int64) time.Duration {
	return time.Duration(n * int64(time.Second) / int64(w.info.ClockRate))
}

// completeFrame reports whether a video sample's packets are contiguous and
// end with the marker bit.
func completeFrame(hs []*rtp.Header) bool {
	if len(hs) == 0 {
		return false
	}
	for i := 1; i < len(hs); i++ {
		if hs[i].SequenceNumber != hs[i-1].SequenceNumber+1 {
			return false
		}
	}
	return hs[len(hs)-1].Marker
}

// opusDuration is the sound in an Opus packet (RFC 6716 section 3.1), or 0
// when the packet is not Opus-shaped.
func opusDuration(p []byte) time.Duration {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	config := toc >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // Hybrid: 10, 20 ms
		frame = [2]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	switch toc & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	default:
		if len(p) < 2 {
			return 0
		}
		return time.Duration(p[1]&0x3f) * frame
	}
}
