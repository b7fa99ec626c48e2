package sfu

import (
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"

	"jobhall/internal/rtpfields"
)

// The publish side's feedback interceptor: one per publish PC (and relay
// input), in place of Pion's NACK generator, receiver-report interceptor
// and TWCC sender. Those three each wrapped the RTP reader, each unmarshalled
// the header into a fresh rtp.Header, each took a lock per packet and each
// ran its own goroutine; this one reads sequence number, timestamp and the
// transport-wide sequence number straight from the bytes, takes the
// stream's own lock once per packet and allocates nothing per packet. One
// goroutine per PC (feedbackInterceptor.loop) sends, every feedbackTick,
// the TWCC feedback and the NACKs, and every rrEvery ticks the receiver
// reports, all in one compound RTCP write when they fit.
//
// Known gap (Pion's generator has it too): a packet repaired over RTX
// reaches the track through Pion's repair reader, not through the primary
// stream's reader, so its NACK slot stays empty and it is asked for again
// each tick until nackMaxTries (Pion: until it left a 512-packet window).
const (
	feedbackTick   = 100 * time.Millisecond
	rrEvery        = 10   // receiver reports every rrEvery ticks (1 s)
	nackWindow     = 512  // sequence numbers tracked per stream for NACKs (power of two)
	nackMaxTries   = 10   // NACKs per missing packet (about 1 s), then it is given up
	twccBufLen     = 256  // transport-wide records a stream holds between ticks
	maxDropout     = 3000 // a larger sequence jump is a restart, confirmed by the next packet (RFC 3550 A.1)
	rtcpWriteLimit = 1100 // bytes of RTCP per write (one SRTCP packet under the path MTU)
)

// feedbackFactory makes one feedbackInterceptor per PeerConnection and
// leaves it in built.last, for the direct SRTP path (SFU.newPublishPC).
type feedbackFactory struct {
	log   *slog.Logger
	built *fbBuilt
}

// fbBuilt hands the interceptor Pion just built to whoever holds mu
// around NewPeerConnection (Pion builds it synchronously there).
type fbBuilt struct {
	mu   sync.Mutex
	last *feedbackInterceptor // guarded by mu
}

func (f feedbackFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	fi := newFeedbackInterceptor(f.log)
	if f.built != nil {
		f.built.last = fi
	}
	return fi, nil
}

type feedbackInterceptor struct {
	interceptor.NoOp
	log   *slog.Logger
	start time.Time // arrival times are measured from here
	ssrc  uint32    // sender SSRC of everything it sends
	wake  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	streams []*fbStream
	bound   bool // the RTCP writer is bound and the loop started
	closed  bool
}

func newFeedbackInterceptor(log *slog.Logger) *feedbackInterceptor {
	return &feedbackInterceptor{
		log:   log,
		start: time.Now(),
		ssrc:  rand.Uint32(),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// fbStream is one received SSRC. Its reader goroutine (Pion's reads of the
// stream) is the only writer of the per-packet fields; the loop and the
// RTCP reader read and reset them under mu.
type fbStream struct {
	next      interceptor.RTPReader
	fi        *feedbackInterceptor
	ssrc      uint32
	twccID    uint8  // transport-wide-cc extension id; 0 = not negotiated
	nack      bool   // the codec negotiated generic NACK
	clockRate uint64 // RTP clock (Hz); 0 = unknown, no jitter

	mu sync.Mutex
	// Sequence numbers, extended to 64 bits (RFC 3550 A.1).
	started  bool
	maxExt   int64 // highest extended sequence number received
	baseExt  int64 // the first one (since the last restart)
	badSeq   uint16
	badValid bool  // badSeq is the packet that would confirm a restart
	received int64 // packets counted since baseExt
	// Receiver-report state: counts at the previous report, lost packets
	// carried over a restart, interarrival jitter ×16 (RFC 3550 A.8).
	expPrior, recvPrior int64
	lostCarry           int64
	jitter              uint32
	lastTransit         int32
	haveTransit         bool
	lsr                 uint32 // middle 32 bits of the last SR's NTP time
	lsrAt               int64  // when it came (ns since start); 0 = none yet
	// NACK window: bit e%nackWindow is set when extended seq e (within
	// nackWindow of maxExt) arrived; tries counts NACKs sent for it.
	got   [nackWindow / 64]uint64
	tries [nackWindow]uint8
	// Transport-wide records since the loop last drained them.
	twN    int
	twSeq  [twccBufLen]uint16
	twAt   [twccBufLen]int64 // arrival, µs since start
	twDrop uint64
}

// BindRTCPWriter starts the PC's feedback loop on its RTCP writer; Pion
// calls it once, when the PeerConnection is made.
func (fi *feedbackInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.closed || fi.bound {
		return w
	}
	fi.bound = true
	fi.wg.Add(1)
	go fi.loop(w)
	return w
}

// BindRemoteStream wraps one received SSRC's reader (media, RTX or probe).
func (fi *feedbackInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	st := &fbStream{next: r, fi: fi, ssrc: info.SSRC, clockRate: uint64(info.ClockRate)}
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == uriTWCC && e.ID > 0 && e.ID < 256 {
			st.twccID = uint8(e.ID)
		}
	}
	for _, f := range info.RTCPFeedback {
		if f.Type == "nack" && f.Parameter == "" {
			st.nack = true
		}
	}
	fi.mu.Lock()
	fi.removeLocked(info.SSRC)
	fi.streams = append(fi.streams, st)
	fi.mu.Unlock()
	select { // the loop starts ticking with the first stream
	case fi.wake <- struct{}{}:
	default:
	}
	return st
}

// UnbindRemoteStream forgets a stream (its receiver stopped).
func (fi *feedbackInterceptor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	fi.mu.Lock()
	fi.removeLocked(info.SSRC)
	fi.mu.Unlock()
}

func (fi *feedbackInterceptor) removeLocked(ssrc uint32) {
	for i, st := range fi.streams {
		if st.ssrc == ssrc {
			fi.streams = append(fi.streams[:i], fi.streams[i+1:]...)
			return
		}
	}
}

func (fi *feedbackInterceptor) stream(ssrc uint32) *fbStream {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	for _, st := range fi.streams {
		if st.ssrc == ssrc {
			return st
		}
	}
	return nil
}

// BindRTCPReader notes the publisher's sender reports (for LSR and DLSR)
// without unmarshalling the compound packet.
func (fi *feedbackInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err != nil {
			return n, a, err
		}
		for p := b[:n]; len(p) >= 8; {
			l := (int(binary.BigEndian.Uint16(p[2:4])) + 1) * 4
			if l > len(p) {
				break
			}
			if p[1] == 200 && l >= 28 { // SR: SSRC, then the 64-bit NTP time
				if st := fi.stream(binary.BigEndian.Uint32(p[4:8])); st != nil {
					ntp := binary.BigEndian.Uint64(p[8:16])
					now := fi.now()
					st.mu.Lock()
					st.lsr, st.lsrAt = uint32(ntp>>16), max(now, 1)
					st.mu.Unlock()
				}
			}
			p = p[l:]
		}
		return n, a, nil
	})
}

// Close stops the loop and waits for it.
func (fi *feedbackInterceptor) Close() error {
	fi.mu.Lock()
	if !fi.closed {
		fi.closed = true
		close(fi.done)
	}
	fi.mu.Unlock()
	fi.wg.Wait()
	return nil
}

func (fi *feedbackInterceptor) now() int64 { return int64(time.Since(fi.start)) }

// Read is the per-packet path: Pion's read, then the fields from the raw
// bytes and one update of the stream under its lock.
func (st *fbStream) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	n, a, err := st.next.Read(b, a)
	if err != nil {
		return n, a, err
	}
	if f, ok := rtpfields.Parse(b[:n], st.twccID); ok {
		st.packet(f, st.fi.now())
	}
	return n, a, nil
}

// packet counts one arrival at now (ns since the interceptor's start).
func (st *fbStream) packet(f rtpfields.Fields, now int64) {
	nudge := false
	st.mu.Lock()
	if f.HasTW {
		if st.twN < twccBufLen {
			st.twSeq[st.twN], st.twAt[st.twN] = f.TWSeq, now/1000
			st.twN++
			nudge = st.twN == twccBufLen/2
		} else {
			st.twDrop++
		}
	}
	st.sequenceLocked(f, now)
	st.mu.Unlock()
	if nudge { // drain before the buffer fills
		select {
		case st.fi.wake <- struct{}{}:
		default:
		}
	}
}

func (st *fbStream) sequenceLocked(f rtpfields.Fields, now int64) {
	if !st.started {
		st.started = true
		st.restartLocked(f.Seq)
		st.jitterLocked(f.TS, now)
		return
	}
	d := int64(int16(f.Seq - uint16(st.maxExt)))
	if d > maxDropout || d < -maxDropout {
		// A restart if the next packet follows this one; until then a stray.
		if st.badValid && f.Seq == st.badSeq {
			st.lostCarry += st.lostLocked()
			st.restartLocked(f.Seq)
			st.haveTransit = false
			st.jitterLocked(f.TS, now)
		} else {
			st.badSeq, st.badValid = f.Seq+1, true
		}
		return
	}
	st.badValid = false
	st.received++
	ext := st.maxExt + d
	if d <= 0 { // late or repeated: fill its NACK slot
		if -d < nackWindow {
			st.markLocked(ext, true)
		}
		return
	}
	if d >= nackWindow {
		st.got = [nackWindow / 64]uint64{}
		st.tries = [nackWindow]uint8{}
	} else {
		for e := st.maxExt + 1; e < ext; e++ { // skipped: missing until they come
			st.markLocked(e, false)
		}
	}
	st.markLocked(ext, true)
	st.maxExt = ext
	st.jitterLocked(f.TS, now)
}

// restartLocked starts counting afresh at seq (first packet or a restart).
func (st *fbStream) restartLocked(seq uint16) {
	ext := int64(seq) + 1<<16 // one cycle up, so a reordered earlier packet stays positive
	st.maxExt, st.baseExt, st.received = ext, ext, 1
	st.expPrior, st.recvPrior = 0, 0
	st.badValid = false
	st.got = [nackWindow / 64]uint64{}
	st.tries = [nackWindow]uint8{}
	st.markLocked(ext, true)
}

// markLocked records extended seq e in the NACK window as arrived or
// missing; a newly missing one has not been asked for yet.
func (st *fbStream) markLocked(e int64, arrived bool) {
	i := e & (nackWindow - 1)
	if arrived {
		st.got[i>>6] |= 1 << (i & 63)
		return
	}
	st.got[i>>6] &^= 1 << (i & 63)
	st.tries[i] = 0
}

// jitterLocked updates the interarrival jitter with an in-order packet.
func (st *fbStream) jitterLocked(ts uint32, now int64) {
	if st.clockRate == 0 {
		return
	}
	ns := uint64(now)
	arrival := uint32(ns/1e9*st.clockRate + ns%1e9*st.clockRate/1e9)
	transit := int32(arrival - ts)
	if st.haveTransit {
		d := transit - st.lastTransit
		if d < 0 {
			d = -d
		}
		st.jitter += uint32(d) - (st.jitter+8)>>4
	}
	st.lastTransit, st.haveTransit = transit, true
}

func (st *fbStream) lostLocked() int64 {
	return st.maxExt - st.baseExt + 1 - st.received
}

// appendMissingLocked appends the sequence numbers to NACK now: missing,
// within the window, not before the first packet, asked for fewer than
// nackMaxTries times.
func (st *fbStream) appendMissingLocked(dst []uint16) []uint16 {
	lo := max(st.baseExt, st.maxExt-nackWindow+1)
	for e := lo; e < st.maxExt; {
		i := e & (nackWindow - 1)
		w := st.got[i>>6]
		if i&63 == 0 && e+64 <= st.maxExt && w == ^uint64(0) {
			e += 64
			continue
		}
		if w&(1<<(i&63)) == 0 && st.tries[i] < nackMaxTries {
			st.tries[i]++
			dst = append(dst, uint16(e))
		}
		e++
	}
	return dst
}

// reportLocked makes the stream's reception report block at now.
func (st *fbStream) reportLocked(now int64) rtcp.ReceptionReport {
	expected := st.maxExt - st.baseExt + 1
	lost := st.lostCarry + expected - st.received
	expInt, recvInt := expected-st.expPrior, st.received-st.recvPrior
	st.expPrior, st.recvPrior = expected, st.received
	var fraction uint8
	if lostInt := expInt - recvInt; expInt > 0 && lostInt > 0 {
		fraction = uint8(min(255, lostInt<<8/expInt))
	}
	rr := rtcp.ReceptionReport{
		SSRC:               st.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(min(max(lost, 0), 0x7fffff)),
		LastSequenceNumber: uint32(st.maxExt - 1<<16),
		Jitter:             st.jitter >> 4,
	}
	if st.lsrAt > 0 {
		rr.LastSenderReport = st.lsr
		rr.Delay = uint32((now - st.lsrAt) * 65536 / 1e9)
	}
	return rr
}

// loop is the PC's one feedback goroutine. It owns the TWCC recorder.
func (fi *feedbackInterceptor) loop(w interceptor.RTCPWriter) {
	defer fi.wg.Done()
	select { // nothing to do before the first stream
	case <-fi.done:
		return
	case <-fi.wake:
	}
	rec := twcc.NewRecorder(fi.ssrc)
	tick := time.NewTicker(feedbackTick)
	defer tick.Stop()
	var (
		streams []*fbStream
		seqs    []uint16
		twSeq   [twccBufLen]uint16
		twAt    [twccBufLen]int64
		pkts    []rtcp.Packet
	)
	drain := func() {
		fi.mu.Lock()
		streams = append(streams[:0], fi.streams...)
		fi.mu.Unlock()
		for _, st := range streams {
			st.mu.Lock()
			n := copy(twSeq[:], st.twSeq[:st.twN])
			copy(twAt[:], st.twAt[:n])
			st.twN = 0
			ssrc := st.ssrc
			st.mu.Unlock()
			for i := 0; i < n; i++ {
				rec.Record(ssrc, twSeq[i], twAt[i])
			}
		}
	}
	for ticks := 1; ; ticks++ {
		select {
		case <-fi.done:
			return
		case <-fi.wake:
			drain()
			ticks--
			continue
		case <-tick.C:
		}
		drain()
		pkts = pkts[:0]
		if ticks%rrEvery == 0 {
			now := fi.now()
			rr := &rtcp.ReceiverReport{SSRC: fi.ssrc}
			for _, st := range streams {
				st.mu.Lock()
				if st.started {
					rr.Reports = append(rr.Reports, st.reportLocked(now))
				}
				st.mu.Unlock()
				if len(rr.Reports) == 31 { // the report count is five bits
					pkts = append(pkts, rr)
					rr = &rtcp.ReceiverReport{SSRC: fi.ssrc}
				}
			}
			if len(rr.Reports) > 0 {
				pkts = append(pkts, rr)
			}
		}
		pkts = append(pkts, rec.BuildFeedbackPacket()...)
		for _, st := range streams {
			if !st.nack {
				continue
			}
			st.mu.Lock()
			seqs = st.appendMissingLocked(seqs[:0])
			st.mu.Unlock()
			if len(seqs) > 0 {
				pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: fi.ssrc, MediaSSRC: st.ssrc,
					Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
			}
		}
		fi.write(w, pkts)
		clear(pkts) // drop the references until the next tick
	}
}

// write sends pkts in as few compound packets as fit rtcpWriteLimit.
func (fi *feedbackInterceptor) write(w interceptor.RTCPWriter, pkts []rtcp.Packet) {
	for len(pkts) > 0 {
		n, size := 1, pkts[0].MarshalSize()
		for n < len(pkts) && size+pkts[n].MarshalSize() <= rtcpWriteLimit {
			size += pkts[n].MarshalSize()
			n++
		}
		if _, err := w.Write(pkts[:n], nil); err != nil {
			fi.log.Debug("feedback write failed", "err", err)
			return
		}
		pkts = pkts[n:]
	}
}
