package sfu

import (
	"testing"
)

// relayRig adds one relay with a bound encoding to a forwarding rig.
func relayRig(r *rig) (*Relay, *relayOut, *fakeWriter) {
	rl := &Relay{sfu: r.s, q: make(chan relayItem, relayQueueLen), nacks: make(chan relayNACK, relayNACKQueue)}
	o := &relayOut{pt: r.pt, relay: rl}
	e := &relayEnc{out: o, rid: ""}
	o.encs = []*relayEnc{e}
	w := &fakeWriter{record: false}
	e.b.Store(&relayBinding{w: w, ssrc: 999, pt: 96, midID: 1, ridID: 2})
	mid := []byte("0")
	o.mid.Store(&mid)
	r.pt.relaySet = map[*relayOut]struct{}{o: {}}
	r.pt.publishRelaysLocked()
	return rl, o, w
}

// The relay's hot path (queue from the reader, header with mid, write)
// allocates nothing, and keeps the publisher's sequence numbers.
func TestRelayNoAllocs(t *testing.T) {
	r := newRig(1)
	rl, o, w := relayRig(r)
	ingest := func(seq uint16) {
		// What the layer reader does for relays, then the writer.
		p := getPkt()
		p.n = vp8Packet(p.buf[:], seq, uint32(seq/5)*4500, false, seq%5 == 0)
		if !p.parse(codecVP8, 0) {
			t.Fatal("bad packet")
		}
		for _, x := range *r.pt.relays.Load() {
			x.enqueue(p, 0)
		}
		p.release()
		for len(rl.q) > 0 {
			it := <-rl.q
			rl.write(it.o, it.p, it.layer, false)
			it.p.release()
		}
		r.drain(r.egs[0])
	}
	ingest(0)
	seq := uint16(1)
	allocs := testing.AllocsPerRun(2000, func() {
		ingest(seq)
		seq++
	})
	if allocs > 0 {
		t.Fatalf("%.2f allocations per relayed packet, want 0", allocs)
	}
	if got := o.packets.Load(); got != uint64(seq) {
		t.Fatalf("relayed %d packets, want %d", got, seq)
	}
	w.record = true
	p := getPkt()
	p.n = vp8Packet(p.buf[:], 4242, 1, false, false)
	p.parse(codecVP8, 0)
	rl.write(o, p, 0, false)
	p.release()
	if len(w.got) != 1 || w.got[0].seq != 4242 {
		t.Fatalf("relay rewrote the sequence number: %+v", w.got)
	}
	r.l.cache.clear()
}
