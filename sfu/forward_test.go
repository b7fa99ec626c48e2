package sfu

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// fakeWriter stands in for Pion's SRTP writer: it marshals the header (the
// work SRTP does before encrypting) and records what was written.
type fakeWriter struct {
	buf   [1600]byte
	block chan struct{} // when set, every write waits for it

	mu     sync.Mutex
	record bool
	got    []written
}

type written struct {
	seq   uint16
	ts    uint32
	key   bool
	start bool
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.block != nil {
		<-w.block
	}
	n, err := h.MarshalTo(w.buf[:])
	if err != nil {
		return 0, err
	}
	n += copy(w.buf[n:], payload)
	if w.record {
		w.mu.Lock()
		w.got = append(w.got, written{h.SequenceNumber, h.Timestamp, len(payload) > 1 && payload[0]&0x10 != 0 && payload[1]&0x01 == 0, payload[0]&0x10 != 0})
		w.mu.Unlock()
	}
	return n, nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

type rig struct {
	s   *SFU
	pt  *publishedTrack
	l   *layer
	egs []*egress
	dts []*downTrack
	ws  []*fakeWriter
	t   *time.Timer
}

// newRig builds one published VP8 layer and n subscribers with fake writers,
// without PeerConnections: the forwarding path in isolation.
func newRig(n int) *rig {
	s := &SFU{cfg: Config{InitialBitrate: 2_500_000, MaxBitrate: 20_000_000}}
	pt := &publishedTrack{info: TrackInfo{ClockRate: 90000, Kind: "video", TrackID: "cam"}, kind: webrtc.RTPCodecTypeVideo,
		ck: codecVP8, downSet: map[*downTrack]struct{}{}, sinks: map[*localReg]*sinkWorker{}}
	pt.sinkList.Store(&[]*sinkWorker{})
	l := &layer{pt: pt, idx: 0, ssrc: 1234, cache: newPacketCache(1024)}
	l.kf.send = func() {}
	pt.layers[0].Store(l)
	r := &rig{s: s, pt: pt, l: l, t: time.NewTimer(time.Hour)}
	r.t.Stop()
	for i := 0; i < n; i++ {
		eg := &egress{s: s, q: make(chan qItem, egressQueueLen), wake: make(chan struct{}, 1), ctrl: make(chan ctrlItem, ctrlQueueLen),
			done: make(chan struct{})}
		eg.bwe.init(2_500_000, 20_000_000)
		dt := newDownTrack(pt, eg)
		w := &fakeWriter{}
		dt.ssrc, dt.payloadType, dt.twccID, dt.writer = 5678+uint32(i), 96, 3, w
		dt.bound.Store(true)
		dt.rw.target = 0
		dt.want.Store(1)
		eg.downs.Store(&[]*downTrack{dt})
		pt.downSet[dt] = struct{}{}
		r.egs, r.dts, r.ws = append(r.egs, eg), append(r.dts, dt), append(r.ws, w)
	}
	pt.publishDownsLocked()
	return r
}

// vp8Packet is a 1100-byte VP8 RTP packet; key marks a keyframe start.
func vp8Packet(buf []byte, seq uint16, ts uint32, key, start bool) int {
	b := buf[:0]
	b = append(b, 0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0xd2)
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	switch {
	case key:
		b = append(b, 0x10, 0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00)
	case start:
		b = append(b, 0x10, 0x11, 0, 0)
	default:
		b = append(b, 0x00)
	}
	// One copy, not a byte-at-a-time loop: that loop was two thirds of
	// BenchmarkForward1's time and its speed moved with code layout.
	b = append(b, vp8Fill[:1100-len(b)]...)
	return len(b)
}

var vp8Fill = bytes.Repeat([]byte{0x55}, 1100)

// ingest is what a track reader does with one packet: parse, cache, queue.
func (r *rig) ingest(seq uint16, key, start bool) {
	p := getPkt()
	p.n = vp8Packet(p.buf[:], seq, uint32(seq/5)*4500, key, start)
	if !p.parse(codecVP8, 0) {
		panic("bad test packet")
	}
	p.arrival = sfuClock()
	r.l.cache.put(p)
	var deadline time.Time
	for _, dt := range *r.pt.downs.Load() {
		if dt.want.Load()&1 != 0 {
			dt.eg.enqueue(dt, p, true, true, r.t, &deadline)
		}
	}
	p.release()
}

func (r *rig) drain(eg *egress) {
	for {
		select {
		case it := <-eg.q:
			eg.forward(it)
		default:
			return
		}
	}
}

func benchmarkForward(b *testing.B, subs int) {
	r := newRig(subs)
	r.ingest(0, true, true) // start every subscriber at a keyframe
	for _, eg := range r.egs {
		r.drain(eg)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		seq := uint16(i + 1)
		r.ingest(seq, false, seq%5 == 0)
		for _, eg := range r.egs {
			r.drain(eg)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs), "ns/forwarded")
	r.l.cache.clear()
}

// The forwarding hot path without the network: parse, cache, queue per
// subscriber, rewrite, header build and marshal. 0 allocs per packet.
func BenchmarkForward1(b *testing.B)   { benchmarkForward(b, 1) }
func BenchmarkForward200(b *testing.B) { benchmarkForward(b, 200) }

func TestForwardNoAllocs(t *testing.T) {
	r := newRig(3)
	r.ingest(0, true, true)
	for _, eg := range r.egs {
		r.drain(eg)
	}
	seq := uint16(1)
	allocs := testing.AllocsPerRun(2000, func() {
		r.ingest(seq, false, seq%5 == 0)
		seq++
		for _, eg := range r.egs {
			r.drain(eg)
		}
	})
	if allocs > 0 {
		t.Fatalf("%.2f allocations per forwarded packet, want 0", allocs)
	}
}

// A subscriber whose writes block fills only its own queue: the reader
// never waits, the others get every packet, drops are counted, and the
// stalled one resumes at a keyframe with continuous sequence numbers.
func TestStalledSubscriberQueue(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRig(2)
	block := make(chan struct{})
	r.ws[1].block = block
	r.ws[0].record, r.ws[1].record = true, true
	var wg sync.WaitGroup
	for _, eg := range r.egs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eg.run()
		}()
	}
	var unblock sync.Once
	defer func() { // also when a check fails: no worker may outlive the test
		unblock.Do(func() { close(block) })
		for _, eg := range r.egs {
			eg.stop()
		}
		wg.Wait()
	}()
	const total = 3000
	for i := 0; i < total; i++ {
		seq := uint16(i)
		r.ingest(seq, i%500 == 0, i%5 == 0)
		// Pace to the healthy worker (a slow CI machine must not make it
		// drop); the stalled one's queue fills regardless.
		for len(r.egs[0].q) > cap(r.egs[0].q)/2 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	waitUntil(t, "the fast subscriber to get every packet", func() bool {
		r.ws[0].mu.Lock()
		defer r.ws[0].mu.Unlock()
		return len(r.ws[0].got) == total
	})
	if r.s.drops.videoQueue.Load() == 0 {
		t.Fatal("no drops counted for the stalled subscriber")
	}
	if !r.dts[1].resync.Load() {
		t.Fatal("stalled subscriber not marked to restart at a keyframe")
	}
	unblock.Do(func() { close(block) })
	waitUntil(t, "the stalled queue to drain", func() bool { return len(r.egs[1].q) == 0 })
	// The stale backlog is skipped; the next keyframe restarts the stream.
	for i := total; i < total+50; i++ {
		r.ingest(uint16(i), i == total, i%5 == 0)
	}
	waitUntil(t, "the restarted subscriber's packets", func() bool {
		r.ws[1].mu.Lock()
		defer r.ws[1].mu.Unlock()
		return len(r.ws[1].got) >= 51
	})
	got := r.ws[1].got
	// Find the resume point: after the queued backlog, the first packet
	// written must be the post-stall keyframe, right after the last one.
	for i := 1; i < len(got); i++ {
		if got[i].seq != got[i-1].seq+1 {
			t.Fatalf("sequence gap at %d: %d after %d", i, got[i].seq, got[i-1].seq)
		}
		if got[i].ts < got[i-1].ts {
			t.Fatalf("timestamp went back at %d", i)
		}
	}
	if len(got) != 51 || !got[1].key {
		t.Fatal("stalled subscriber did not resume at a keyframe")
	}
	r.l.cache.clear()
}

// Hostile payloads fail the checks instead of being forwarded.
func TestParseRejectsGarbage(t *testing.T) {
	p := new(pkt)
	cases := map[string][]byte{
		"short":          {0x80, 96, 0, 1},
		"version 1":      append([]byte{0x40, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0x10, 0x10, 0, 0),
		"vp8 reserved":   append([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0xff, 0xff, 0xff, 0xff),
		"vp8 bad key":    append([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0x10, 0x10, 0, 0, 1, 2, 3, 4, 5, 6),
		"empty payload":  {0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1},
		"bad padding":    append([]byte{0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0x10, 0x10, 0, 200),
		"bad ext length": append([]byte{0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0xbe, 0xde, 0xff, 0xff, 0x10),
		"h264 forbidden": nil,
		"vp8 x reserved": append([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0x80, 0x0f, 0, 0),
		"too many csrcs": {0x8f, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0},
	}
	for name, b := range cases {
		if b == nil {
			continue
		}
		p.n = copy(p.buf[:], b)
		if p.parse(codecVP8, 0) {
			t.Errorf("%s: accepted", name)
		}
	}
	p.n = copy(p.buf[:], append([]byte{0x80, 102, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0x85, 1, 2))
	if p.parse(codecH264, 0) {
		t.Error("h264 forbidden bit: accepted")
	}
	p.n = vp8Packet(p.buf[:], 7, 9000, true, true)
	if !p.parse(codecVP8, 0) || !p.keyframe || p.width != 320 || p.height != 240 {
		t.Errorf("valid keyframe: ok=%v key=%v %dx%d", p.parse(codecVP8, 0), p.keyframe, p.width, p.height)
	}
}

// The NACK history starts small and doubles only when a packet young
// enough to be NACKed would be overwritten: a fast stream still gets its
// older packets resent, a slow one keeps the small history.
func TestNACKHistoryGrows(t *testing.T) {
	r := newRig(1)
	dt := r.dts[0]
	eg := r.egs[0]
	dt.twccID = 0 // no TWCC budget in the way
	r.l.cache.clear()
	r.l.cache = newPacketCache(2048)
	r.ingest(0, true, true)
	r.drain(eg)
	if len(dt.hist) != histMin {
		t.Fatalf("history of %d, want %d to start", len(dt.hist), histMin)
	}
	const n = 700 // all within one NACK age
	for seq := uint16(1); seq < n; seq++ {
		r.ingest(seq, false, seq%5 == 0)
		r.drain(eg)
	}
	if len(dt.hist) < n {
		t.Fatalf("history of %d after %d young packets", len(dt.hist), n)
	}
	first := dt.rw.lastSeq - n + 2 // the first packet after the keyframe, as sent
	before := eg.c.retransmits
	eg.answerNACK(dt, &rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: first}}}, sfuClock())
	if eg.c.retransmits != before+1 {
		t.Fatalf("packet %d of %d not resent (history %d)", first, n, len(dt.hist))
	}
	r.l.cache.clear()
}

// A simulcast layer nobody takes is not kept for NACKs; once a viewer
// takes it, its packets are.
func TestUnwatchedLayerNotCached(t *testing.T) {
	r := newRig(1)
	r.pt.relays.Store(&[]*relayOut{})
	r.pt.sinkL.Store(-1)
	dt := r.dts[0]
	send := func(seq uint16) {
		p := getPkt()
		p.n = vp8Packet(p.buf[:], seq, uint32(seq)*3000, true, true)
		r.l.handle(r.s, p, true)
		r.drain(r.egs[0])
	}
	dt.want.Store(0)
	send(1)
	if p := r.l.cache.get(1); p != nil {
		p.release()
		t.Fatal("an unwatched layer's packet was cached")
	}
	dt.want.Store(1)
	send(2)
	p := r.l.cache.get(2)
	if p == nil {
		t.Fatal("a watched layer's packet was not cached")
	}
	p.release()
	r.l.cache.clear()
}
