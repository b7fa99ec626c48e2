package sfu

import (
	"encoding/binary"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"jobhall/internal/rtpfields"
)

// fakeSource replays RTP packets to the interceptor chain, then EOF.
type fakeSource struct {
	mu   sync.Mutex
	pkts [][]byte
}

func (s *fakeSource) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pkts) == 0 {
		return 0, nil, io.EOF
	}
	n := copy(b, s.pkts[0])
	s.pkts = s.pkts[1:]
	return n, a, nil
}

type rtcpSink struct {
	mu   sync.Mutex
	pkts []rtcp.Packet
	n    int // writes
}

func (w *rtcpSink) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pkts = append(w.pkts, pkts...)
	w.n++
	return 0, nil
}

func (w *rtcpSink) take() []rtcp.Packet {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pkts
	w.pkts = nil
	return p
}

func rtpBytes(seq uint16, ts uint32, ssrc uint32, twID uint8, tw uint16) []byte {
	h := rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}
	if twID != 0 {
		_ = h.SetExtension(twID, binary.BigEndian.AppendUint16(nil, tw))
	}
	b, _ := (&rtp.Packet{Header: h, Payload: make([]byte, 1000)}).Marshal()
	return b
}

var videoInfo = func(ssrc uint32) *interceptor.StreamInfo {
	return &interceptor.StreamInfo{SSRC: ssrc, ClockRate: 90000, MimeType: "video/VP8",
		RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: uriTWCC, ID: 3}},
		RTCPFeedback:        []interceptor.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}}
}

// NACKs name exactly the missing sequence numbers (across a wrap), each at
// most nackMaxTries times; a late arrival is no longer asked for; a stream
// without nack gets none; one goroutine per PC, gone after Close.
func TestFeedbackNACKs(t *testing.T) {
	defer goleak.VerifyNone(t)
	fi := newFeedbackInterceptor(slog.Default())
	sink := &rtcpSink{}
	fi.BindRTCPWriter(sink)
	src := &fakeSource{}
	missing := map[uint16]bool{65530: true, 65535: true, 0: true, 1: true, 40: true}
	for s := uint16(65500); s != 100; s++ {
		if !missing[s] {
			src.pkts = append(src.pkts, rtpBytes(s, uint32(s)*3000, 1111, 3, s))
		}
	}
	r := fi.BindRemoteStream(videoInfo(1111), src)
	audio := &fakeSource{}
	for s := uint16(10); s < 50; s++ {
		if s != 20 {
			audio.pkts = append(audio.pkts, rtpBytes(s, uint32(s)*960, 2222, 0, 0))
		}
	}
	ra := fi.BindRemoteStream(&interceptor.StreamInfo{SSRC: 2222, ClockRate: 48000, MimeType: "audio/opus"}, audio)
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf, nil); err != nil {
			break
		}
	}
	for {
		if _, _, err := ra.Read(buf, nil); err != nil {
			break
		}
	}
	// Exactly one timer goroutine for the PC (polled: a goroutine not yet
	// scheduled shows in stacks under its go-statement wrapper).
	waitUntil(t, "one feedback goroutine for the PC", func() bool { return loopGoroutines() == 1 })
	asked := map[uint16]int{}
	collect := func() {
		for _, p := range sink.take() {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				if n.MediaSSRC != 1111 {
					t.Fatalf("NACK for SSRC %d", n.MediaSSRC)
				}
				for _, pr := range n.Nacks {
					for _, s := range pr.PacketList() {
						asked[s]++
					}
				}
			}
		}
	}
	waitUntil(t, "every missing packet NACKed", func() bool {
		collect()
		for s := range missing {
			if asked[s] == 0 {
				return false
			}
		}
		return true
	})
	for s := range asked {
		if !missing[s] {
			t.Fatalf("NACKed %d, which arrived", s)
		}
	}
	for s := range missing {
		if asked[s] == 0 {
			t.Fatalf("%d never NACKed (asked %v)", s, asked)
		}
	}
	// 40 arrives late: no more NACKs for it.
	src.mu.Lock()
	src.pkts = append(src.pkts, rtpBytes(40, 40*3000, 1111, 3, 40))
	src.mu.Unlock()
	if _, _, err := r.Read(buf, nil); err != nil {
		t.Fatal(err)
	}
	n40 := asked[40]
	waitUntil(t, "packet 0 given up", func() bool { collect(); return asked[0] >= nackMaxTries })
	time.Sleep(3 * feedbackTick) // no more for it after that
	collect()
	if asked[40] > n40+1 { // at most one tick raced with the late arrival
		t.Fatalf("40 asked %d times after it arrived (%d before)", asked[40], n40)
	}
	for s, n := range asked {
		if n > nackMaxTries {
			t.Fatalf("%d NACKed %d times, want at most %d", s, n, nackMaxTries)
		}
	}
	if asked[0] != nackMaxTries {
		t.Fatalf("0 NACKed %d times, want %d", asked[0], nackMaxTries)
	}
	if err := fi.Close(); err != nil {
		t.Fatal(err)
	}
}

// Receiver reports: fraction and cumulative lost, extended highest
// sequence number across a wrap, jitter of a steady stream near 0, LSR and
// DLSR from a sender report seen on the RTCP reader.
func TestFeedbackReceiverReport(t *testing.T) {
	fi := newFeedbackInterceptor(slog.Default())
	st := fi.BindRemoteStream(videoInfo(7), &fakeSource{}).(*fbStream)
	now := int64(time.Second)
	// 200 packets 65436..99 (a wrap), every tenth lost, 10 ms apart at 90 kHz.
	for i := 0; i < 200; i++ {
		seq := uint16(65436 + i)
		if i%10 == 5 {
			continue
		}
		st.packet(rtpfields.Fields{Seq: seq, TS: uint32(i) * 900}, now+int64(i)*int64(10*time.Millisecond))
	}
	sr := &rtcp.SenderReport{SSRC: 7, NTPTime: 0x1122334455667788}
	raw, _ := sr.Marshal()
	rr := &rtcp.ReceiverReport{SSRC: 1}
	rrRaw, _ := rr.Marshal()
	compound := append(rrRaw, raw...)
	reader := fi.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, compound), a, nil
	}))
	if _, _, err := reader.Read(make([]byte, 1500), nil); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	at := st.lsrAt
	rep := st.reportLocked(at + int64(1500*time.Millisecond))
	st.mu.Unlock()
	if rep.FractionLost != 256/10 || rep.TotalLost != 20 {
		t.Fatalf("fraction %d/256, total %d; want 25/256, 20", rep.FractionLost, rep.TotalLost)
	}
	if want := uint32(1<<16 | 99); rep.LastSequenceNumber != want {
		t.Fatalf("extended highest %#x, want %#x", rep.LastSequenceNumber, want)
	}
	if rep.Jitter > 1 {
		t.Fatalf("jitter %d for a steady stream", rep.Jitter)
	}
	if rep.LastSenderReport != 0x33445566 || rep.Delay != 3*65536/2 {
		t.Fatalf("LSR %#x DLSR %d", rep.LastSenderReport, rep.Delay)
	}
	// The next report covers only what came since.
	for i := 200; i < 300; i++ {
		st.packet(rtpfields.Fields{Seq: uint16(65436 + i), TS: uint32(i) * 900}, now+int64(i)*int64(10*time.Millisecond))
	}
	st.mu.Lock()
	rep = st.reportLocked(now)
	st.mu.Unlock()
	if rep.FractionLost != 0 || rep.TotalLost != 20 {
		t.Fatalf("second report: fraction %d total %d", rep.FractionLost, rep.TotalLost)
	}
	// Jittery arrivals: ±5 ms around the clock.
	for i := 300; i < 400; i++ {
		d := int64(5 * time.Millisecond)
		if i%2 == 0 {
			d = -d
		}
		st.packet(rtpfields.Fields{Seq: uint16(65436 + i), TS: uint32(i) * 900}, now+int64(i)*int64(10*time.Millisecond)+d)
	}
	st.mu.Lock()
	rep = st.reportLocked(now)
	st.mu.Unlock()
	if rep.Jitter < 600 || rep.Jitter > 900 { // |D| = 10 ms = 900 ticks; J tends to it
		t.Fatalf("jitter %d, want about 900", rep.Jitter)
	}
	// A restart (a jump confirmed by the next packet) keeps the lost count.
	st.packet(rtpfields.Fields{Seq: 30000, TS: 1}, now)
	st.packet(rtpfields.Fields{Seq: 30001, TS: 2}, now)
	st.mu.Lock()
	rep = st.reportLocked(now)
	st.mu.Unlock()
	if rep.TotalLost != 20 || rep.LastSequenceNumber != 30001 {
		t.Fatalf("after restart: total %d, highest %d", rep.TotalLost, rep.LastSequenceNumber)
	}
	_ = fi.Close()
}

// TWCC feedback covers every transport-wide sequence number, the missing
// ones as not received.
func TestFeedbackTWCC(t *testing.T) {
	defer goleak.VerifyNone(t)
	fi := newFeedbackInterceptor(slog.Default())
	sink := &rtcpSink{}
	fi.BindRTCPWriter(sink)
	src := &fakeSource{}
	for s := uint16(0); s < 600; s++ { // more than the buffer between ticks
		if s%7 != 3 {
			src.pkts = append(src.pkts, rtpBytes(s+100, uint32(s)*3000, 1111, 3, s+65000))
		}
	}
	r := fi.BindRemoteStream(videoInfo(1111), src)
	buf := make([]byte, 1500)
	for i := 0; ; i++ {
		if _, _, err := r.Read(buf, nil); err != nil {
			break
		}
		if i%64 == 0 {
			time.Sleep(20 * time.Millisecond) // let the loop drain, as between real packets
		}
	}
	got := map[uint16]bool{}
	waitUntil(t, "feedback covering all 600", func() bool {
		for _, p := range sink.take() {
			if cc, ok := p.(*rtcp.TransportLayerCC); ok {
				for s, rcv := range twccStatuses(cc) {
					got[s] = got[s] || rcv
				}
			}
		}
		for s := uint16(0); s < 600; s++ {
			if _, ok := got[s+65000]; !ok {
				return false
			}
		}
		return true
	})
	_ = fi.Close()
	for s := uint16(0); s < 600; s++ {
		rcv, ok := got[s+65000]
		if !ok {
			t.Fatalf("transport-wide %d not covered", s+65000)
		}
		if rcv != (s%7 != 3) {
			t.Fatalf("transport-wide %d reported received=%v", s+65000, rcv)
		}
	}
}

// TWCCStatuses lends twccStatuses to the external tests (package sfu_test).
var TWCCStatuses = twccStatuses

// twccStatuses expands a TWCC feedback into received/not per sequence.
func twccStatuses(cc *rtcp.TransportLayerCC) map[uint16]bool {
	out := map[uint16]bool{}
	seq := cc.BaseSequenceNumber
	for _, sym := range pionSymbols(cc) {
		out[seq] = sym != rtcp.TypeTCCPacketNotReceived
		seq++
	}
	return out
}

// benchPackets are one second of a 1.5 Mbit/s stream's headers with mid,
// rid and transport-wide extensions, as a browser sends them.
func benchPackets() [][]byte {
	out := make([][]byte, 256)
	for i := range out {
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i/4) * 3000, SSRC: 1111}
		_ = h.SetExtension(3, binary.BigEndian.AppendUint16(nil, uint16(i))) // first: loopSource rewrites it
		_ = h.SetExtension(1, []byte("0"))
		_ = h.SetExtension(10, []byte("f"))
		out[i], _ = (&rtp.Packet{Header: h, Payload: make([]byte, 1100)}).Marshal()
	}
	return out
}

// loopSource hands out the packets in a loop, advancing sequence numbers
// and transport-wide numbers like a live stream.
type loopSource struct {
	pkts [][]byte
	i    int
	seq  uint16
}

func (s *loopSource) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	p := s.pkts[s.i%len(s.pkts)]
	s.i++
	n := copy(b, p)
	s.seq++
	binary.BigEndian.PutUint16(b[2:4], s.seq)
	binary.BigEndian.PutUint16(b[12+4+1:], s.seq) // the first extension element: transport-wide seq
	return n, a, nil
}

type discardRTCP struct{}

func (discardRTCP) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) { return 0, nil }

// BenchmarkFeedbackOurs and BenchmarkFeedbackPion measure the per-packet
// read path with the same packets: ours, and Pion's NACK generator,
// receiver-report interceptor and TWCC sender chained as before. Run with
// -cpu 1 so that the TWCC sender's hand-off to its goroutine is counted;
// ours drains its TWCC records into the recorder every 64 packets on the
// reading goroutine, so that work is counted too.
func BenchmarkFeedbackOurs(b *testing.B) {
	fi := newFeedbackInterceptor(slog.Default())
	defer fi.Close()
	rec := twcc.NewRecorder(1)
	src := &loopSource{pkts: benchPackets()}
	r := fi.BindRemoteStream(videoInfo(1111), src)
	st := r.(*fbStream)
	buf := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := r.Read(buf, nil); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			st.mu.Lock()
			for j := 0; j < st.twN; j++ {
				rec.Record(st.ssrc, st.twSeq[j], st.twAt[j])
			}
			st.twN = 0
			st.mu.Unlock()
		}
	}
}

func BenchmarkFeedbackPion(b *testing.B) {
	gen, _ := nack.NewGeneratorInterceptor()
	rep, _ := report.NewReceiverInterceptor()
	tw, _ := twcc.NewSenderInterceptor()
	var chain []interceptor.Interceptor
	for _, f := range []interceptor.Factory{gen, rep, tw} {
		i, err := f.NewInterceptor("")
		if err != nil {
			b.Fatal(err)
		}
		chain = append(chain, i)
	}
	c := interceptor.NewChain(chain)
	defer c.Close()
	c.BindRTCPWriter(discardRTCP{})
	src := &loopSource{pkts: benchPackets()}
	r := c.BindRemoteStream(videoInfo(1111), src)
	buf := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := r.Read(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFeedbackNoAllocs: the per-packet path allocates nothing.
func TestFeedbackNoAllocs(t *testing.T) {
	fi := newFeedbackInterceptor(slog.Default())
	defer fi.Close()
	src := &loopSource{pkts: benchPackets()}
	r := fi.BindRemoteStream(videoInfo(1111), src)
	buf := make([]byte, 1500)
	if a := testing.AllocsPerRun(1000, func() {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("%v allocations per packet", a)
	}
}

// waitUntil polls cond for up to 15 s: a loaded machine delays timers, and
// the tests judge what is sent, not when.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// loopGoroutines counts the feedback interceptors' timer goroutines.
func loopGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "sfu.(*feedbackInterceptor).loop(")
}
