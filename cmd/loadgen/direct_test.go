package main

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

type gotPacket struct {
	seq     uint16
	payload []byte
	at      int64
}

// The direct path takes the media of the streams it knows, measures
// repairs by their original sequence number, NACKs what is missing a
// bounded number of times, and leaves everything else to Pion.
func TestDirectReceive(t *testing.T) {
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 12)
	enc, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	a := newArrivals(true)
	a.twccID.Store(3)
	a.srtp = dec
	var got []gotPacket
	a.addTrack(7, 8, func(seq uint16, payload []byte, at int64) {
		got = append(got, gotPacket{seq, bytes.Clone(payload), at})
	})
	srtpPkt := func(ssrc uint32, seq, tw uint16, payload []byte) []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: ssrc}, Payload: payload}
		if err := p.SetExtension(3, binary.BigEndian.AppendUint16(nil, tw)); err != nil {
			t.Fatal(err)
		}
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out, err := enc.EncryptRTP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := time.Now().UnixNano()
	for i, seq := range []uint16{65534, 65535, 2, 3} { // 0 and 1 are lost
		if !a.take(srtpPkt(7, seq, uint16(i), []byte{'L', 'G', byte(i)}), base+int64(i)) {
			t.Fatalf("packet %d not taken", seq)
		}
	}
	if len(got) != 4 || got[2].seq != 2 || !bytes.Equal(got[2].payload, []byte{'L', 'G', 2}) || got[2].at != base+2 {
		t.Fatalf("measured %+v", got)
	}
	// TWCC still sees the packets the direct path takes.
	var cc *rtcp.TransportLayerCC
	for _, p := range a.feedback() {
		if x, ok := p.(*rtcp.TransportLayerCC); ok {
			cc = x
		}
	}
	if cc == nil || cc.PacketStatusCount != 4 {
		t.Fatalf("feedback %+v; want 4 packets", cc)
	}
	nackOf := func(pkts []rtcp.Packet) []uint16 {
		var seqs []uint16
		for _, p := range pkts {
			n, ok := p.(*rtcp.TransportLayerNack)
			if !ok || n.MediaSSRC != 7 {
				t.Fatalf("not a NACK for SSRC 7: %+v", p)
			}
			for _, pair := range n.Nacks {
				seqs = append(seqs, pair.PacketList()...)
			}
		}
		return seqs
	}
	now := base
	if s := nackOf(a.nacks(now)); len(s) != 2 || s[0] != 0 || s[1] != 1 {
		t.Fatalf("NACKed %v; want [0 1] (in order across the wrap)", s)
	}
	if s := nackOf(a.nacks(now + int64(nackInterval)/2)); len(s) != 0 {
		t.Fatalf("NACKed %v again before the interval", s)
	}
	// 1 comes back as RTX (original sequence number first in the payload).
	if !a.take(srtpPkt(8, 500, 9, []byte{0, 1, 'L', 'G', 9}), base+9) {
		t.Fatal("repair not taken")
	}
	if g := got[len(got)-1]; g.seq != 1 || !bytes.Equal(g.payload, []byte{'L', 'G', 9}) {
		t.Fatalf("repair measured as %+v", g)
	}
	for i := 1; i < nackTries; i++ {
		now += int64(nackInterval)
		if s := nackOf(a.nacks(now)); len(s) != 1 || s[0] != 0 {
			t.Fatalf("try %d NACKed %v; want [0]", i+1, s)
		}
	}
	now += int64(nackInterval)
	if s := a.nacks(now); len(s) != 0 {
		t.Fatalf("NACKs after %d tries: %v", nackTries, s)
	}
	// A big jump is a restart, not a thousand losses.
	a.take(srtpPkt(7, 3+maxGap+1, 20, []byte("LG")), base)
	if s := a.nacks(now); len(s) != 0 {
		t.Fatalf("NACKs after a jump: %v", s)
	}
	n := len(got)
	// Left to Pion: unknown SSRCs, packets that do not decrypt, RTCP,
	// STUN; and everything before the keys are known.
	for _, b := range [][]byte{
		srtpPkt(99, 1, 30, []byte("LG")),
		append(srtpPkt(7, 200, 31, []byte("LG"))[:20], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		{0x80, 200, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0},
		{0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0},
	} {
		if a.take(b, base) {
			t.Errorf("took %x", b[:2])
		}
	}
	a.srtp = nil
	if a.take(srtpPkt(7, 201, 32, []byte("LG")), base) {
		t.Error("took a packet without keys")
	}
	if len(got) != n {
		t.Errorf("measured %d packets Pion should have had", len(got)-n)
	}
}
