package sfu

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

type twccStatus struct {
	sym   uint16
	delta int64
}

// pionSymbols expands Pion's chunks into one status symbol per packet.
func pionSymbols(cc *rtcp.TransportLayerCC) []uint16 {
	var out []uint16
	left := int(cc.PacketStatusCount)
	add := func(sym uint16) {
		if left > 0 {
			out = append(out, sym)
			left--
		}
	}
	for _, c := range cc.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for i := 0; i < int(c.RunLength); i++ {
				add(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				add(s)
			}
		}
	}
	return out
}

// pionStatuses expands Pion's parse of a feedback packet into statuses.
func pionStatuses(t *testing.T, raw []byte) (uint16, uint32, []twccStatus) {
	t.Helper()
	pkts, err := rtcp.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	cc := pkts[0].(*rtcp.TransportLayerCC)
	var out []twccStatus
	for _, sym := range pionSymbols(cc) {
		out = append(out, twccStatus{sym: sym})
	}
	di := 0
	for i := range out {
		if out[i].sym == twccSmallDelta || out[i].sym == twccLargeDelta {
			out[i].delta = cc.RecvDeltas[di].Delta * int64(time.Microsecond)
			di++
		}
	}
	return cc.BaseSequenceNumber, cc.ReferenceTime, out
}

// The in-place reader sees exactly what Pion's parser sees, for feedback
// built by Pion's own recorder from random arrivals: losses, bursts,
// large and negative deltas, run-length and both status-vector chunks.
func TestTWCCReaderMatchesPion(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	packets := 0
	for round := 0; round < 300; round++ {
		rec := twcc.NewRecorder(1)
		seq := uint16(rng.IntN(65536))
		at := int64(rng.IntN(1 << 30))
		n := 1 + rng.IntN(300)
		for i := 0; i < n; i++ {
			switch rng.IntN(10) {
			case 0: // a run of losses
				seq += uint16(1 + rng.IntN(40))
			case 1: // late: a large delta
				at += int64(rng.IntN(500_000))
			case 2: // reordered: a negative delta
				at -= int64(rng.IntN(20_000))
			default:
				at += int64(rng.IntN(3000))
			}
			rec.Record(5, seq, at)
			seq++
		}
		for _, p := range rec.BuildFeedbackPacket() {
			raw, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !isTWCC(raw) {
				continue
			}
			base, ref, want := pionStatuses(t, raw)
			r, ok := parseTWCC(raw)
			if !ok {
				t.Fatalf("round %d: parse refused", round)
			}
			if r.base != base || r.ref != ref {
				t.Fatalf("round %d: base/ref %d/%d, want %d/%d", round, r.base, r.ref, base, ref)
			}
			var got []twccStatus
			for r.next() {
				got = append(got, twccStatus{r.sym, r.delta})
			}
			if len(got) != len(want) {
				t.Fatalf("round %d: %d statuses, want %d", round, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("round %d, status %d: %+v, want %+v", round, i, got[i], want[i])
				}
			}
			packets++
		}
	}
	if packets < 300 {
		t.Fatalf("only %d feedback packets", packets)
	}
}

// Truncated or lying packets end the walk without reading past the end.
func TestTWCCReaderBadInput(t *testing.T) {
	rec := twcc.NewRecorder(1)
	for i := 0; i < 50; i++ {
		rec.Record(5, uint16(i*2), int64(i)*1000)
	}
	raw, err := rec.BuildFeedbackPacket()[0].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(raw); cut++ {
		b := append([]byte(nil), raw[:cut]...)
		if r, ok := parseTWCC(b); ok {
			for r.next() {
			}
		}
		// The length field claims more than there is.
		c := append([]byte(nil), raw...)
		c[2], c[3] = 0xff, 0xff
		if _, ok := parseTWCC(c[:max(cut, twccHeaderLen)]); ok {
			t.Fatal("a length beyond the packet was accepted")
		}
	}
	var b bwe
	b.init(1e6, 1e7)
	if b.onFeedback(raw[:10], 0) {
		t.Fatal("a truncated feedback cut the estimate")
	}
}

func TestTWCCNoAllocs(t *testing.T) {
	rec := twcc.NewRecorder(1)
	for i := 0; i < 100; i++ {
		rec.Record(5, uint16(i), int64(i)*800)
	}
	raw, err := rec.BuildFeedbackPacket()[0].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var b bwe
	b.init(1e6, 1e7)
	if a := testing.AllocsPerRun(200, func() { b.onFeedback(raw, 1) }); a > 0 {
		t.Fatalf("%.1f allocations per feedback", a)
	}
}
