package recorder

import (
	"strings"
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
	MimeType               string // "video/VP8", "audio/opus"; others are unsupported (AddTrack returns nil and logs)
	ClockRate              uint32
	Channels               uint16
}

// TrackWriter receives one track's RTP packets. Its method set matches the
// SFU's sink interface. WriteRTP never blocks: it copies the packet (which is
// only valid during the call) into a bounded queue, dropping it when full.
type TrackWriter interface {
	WriteRTP(p *rtp.Packet) error
	Close()
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
	// time: a gap is given up on after whichever bound is hit first.
	videoMaxLate   = 512
	audioMaxLate   = 100
	maxLateTime    = time.Second
	maxTSJumpSecs  = 10 // an RTP timestamp jump larger than this is a discontinuity
	defaultVideoHz = 90000
	defaultAudioHz = 48000
)

var errTrackClosed = apperr.New(apperr.Unavailable, "recorder track closed")

// validateTrack checks and normalizes t, returning its kind.
func validateTrack(t *Track) (kind, error) {
	if t.ParticipantID == "" || len(t.ParticipantID) > maxIDLen || len(t.TrackID) > maxIDLen {
		return 0, apperr.New(apperr.Invalid, "participant/track ID empty or longer than %d", maxIDLen)
	}
	var k kind
	switch strings.ToLower(t.MimeType) {
	case "video/vp8":
		k = kindVideo
		if t.ClockRate == 0 {
			t.ClockRate = defaultVideoHz
		}
	case "audio/opus":
		k = kindAudio
		if t.ClockRate == 0 {
			t.ClockRate = defaultAudioHz
		}
		if t.Channels == 0 || t.Channels > 2 {
			t.Channels = 2 // WebRTC always signals opus/48000/2
		}
	default:
		return 0, apperr.New(apperr.Invalid, "unsupported codec %q", t.MimeType)
	}
	if t.Kind != "" && t.Kind != k.String() {
		return 0, apperr.New(apperr.Invalid, "kind %q does not match %s", t.Kind, t.MimeType)
	}
	if t.ClockRate < 1000 || t.ClockRate > 1_000_000 {
		return 0, apperr.New(apperr.Invalid, "clock rate %d out of range", t.ClockRate)
	}
	return k, nil
}

type inPacket struct {
	p  *rtp.Packet
	at time.Time // arrival
}

// sample is one depacketized frame on the session timeline.
type sample struct {
	w    *trackWriter
	kind kind
	at   time.Duration // since Session.epoch
	dur  time.Duration
	key  bool
	data []byte
}

// trackWriter implements TrackWriter. WriteRTP and Close may be called from
// any goroutine; everything below "owned by run" is touched only by run.
type trackWriter struct {
	s      *Session
	p      *participant
	info   Track
	kind   kind
	reqKF  func()
	q      chan inPacket
	done   chan struct{}
	closer sync.Once

	queueDrops atomic.Uint64
	lastKFReq  atomic.Int64 // session-relative ns of the last keyframe request, -1 = never

	// owned by run
	started  bool
	arrival0 time.Duration // arrival of the first packet, since epoch
	lastTS   uint32        // RTP timestamp of the last sample
	ext      int64         // unwrapped ticks of lastTS since the first packet
	samples  uint64
	lost     uint64 // packets the samplebuilder gave up on
	partial  uint64 // incomplete frames dropped
}

func newTrackWriter(s *Session, p *participant, t Track, k kind, reqKF func()) *trackWriter {
	w := &trackWriter{
		s: s, p: p, info: t, kind: k, reqKF: reqKF,
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
	select {
	case w.q <- inPacket{p: c, at: time.Now()}:
	default:
		w.queueDrops.Add(1)
	}
	return nil
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
		sb = samplebuilder.New(videoMaxLate, &vp8Depacketizer{}, w.info.ClockRate,
			samplebuilder.WithMaxTimeDelay(maxLateTime), samplebuilder.WithRTPHeaders(true),
			samplebuilder.WithPacketHeadHandler(vp8StartsFrame))
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
				"lost_packets", w.lost, "partial_frames", w.partial)
			return
		}
	}
}

func (w *trackWriter) push(sb *samplebuilder.SampleBuilder, in inPacket) {
	if !w.started {
		w.started = true
		w.arrival0 = in.at.Sub(w.s.epoch)
		w.lastTS = in.p.Timestamp
	}
	sb.Push(in.p)
	w.popAll(sb)
}

func (w *trackWriter) popAll(sb *samplebuilder.SampleBuilder) {
	for s := sb.Pop(); s != nil; s = sb.Pop() {
		if s.PrevDroppedPackets > 0 {
			w.lost += uint64(s.PrevDroppedPackets)
			w.requestKeyframe()
		}
		at := w.timeOf(s.PacketTimestamp)
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
			smp.key, _, _ = vp8Keyframe(s.Data)
		}
		w.samples++
		w.p.post(event{typ: evSample, w: w, smp: smp})
	}
}

// timeOf unwraps an RTP timestamp onto the session timeline: the track's
// first packet is placed at its arrival time. TODO: align with RTCP sender
// reports instead.
func (w *trackWriter) timeOf(ts uint32) time.Duration {
	d := int64(int32(ts - w.lastTS))
	if lim := int64(w.info.ClockRate) * maxTSJumpSecs; d > lim || d < -lim {
		// The source restarted its timestamps: continue right after the last sample.
		w.s.log.Warn("RTP timestamp discontinuity", "participant", w.info.ParticipantID, "track", w.info.TrackID, "jump", d)
		d = int64(w.info.ClockRate) / 50
	}
	w.ext += d
	w.lastTS = ts
	return w.arrival0 + time.Duration(w.ext*int64(time.Second)/int64(w.info.ClockRate))
}

// vp8Depacketizer works around pion's samplebuilder: when it gives up on a
// gap and meets a frame whose first packet is lost, it also discards the next
// packet, i.e. the head of the next, intact frame. Calling every non-empty
// packet a partition head avoids that path; popAll then drops the frames that
// do not really start a VP8 frame (vp8StartsFrame) or are not contiguous.
type vp8Depacketizer struct{ codecs.VP8Packet }

func (*vp8Depacketizer) IsPartitionHead(payload []byte) bool { return len(payload) > 0 }

// vp8StartsFrame is the samplebuilder's packet head handler: it sees the
// depacketizer right after it parsed a sample's first packet.
func vp8StartsFrame(d any) any {
	p, ok := d.(*vp8Depacketizer)
	return ok && p.S == 1 && p.PID == 0
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
