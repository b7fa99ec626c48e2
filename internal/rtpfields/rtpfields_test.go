package rtpfields

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
)

// The raw parser agrees with rtp.Header.Marshal output: CSRCs, one-byte
// and two-byte extension blocks (several elements, the TWCC one anywhere),
// padding; and it never reads past a truncated packet.
func TestParse(t *testing.T) {
	const twID = 5
	tw := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	type el struct {
		id uint8
		p  []byte
	}
	withExt := func(h rtp.Header, profile uint16, els ...el) rtp.Header {
		h.Extension, h.ExtensionProfile = true, profile
		for _, e := range els {
			if err := h.SetExtension(e.id, e.p); err != nil {
				t.Fatal(err)
			}
		}
		return h
	}
	cases := []struct {
		name  string
		p     rtp.Packet
		hasTW bool
	}{
		{name: "plain", p: rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 65535, Timestamp: 0xdeadbeef, SSRC: 0x01020304}, Payload: []byte{1, 2, 3}}},
		{name: "csrcs", p: rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 7, Timestamp: 9, SSRC: 11, CSRC: []uint32{1, 2, 3}}, Payload: []byte{1}}},
		{name: "padding", p: rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, SequenceNumber: 300, Timestamp: 1, SSRC: 2}, Payload: []byte{9, 9}, PaddingSize: 7}},
		{name: "one-byte only tw", hasTW: true, p: rtp.Packet{Header: withExt(rtp.Header{Version: 2, SequenceNumber: 1, Timestamp: 2, SSRC: 3},
			rtp.ExtensionProfileOneByte, el{twID, tw(4242)}), Payload: []byte{1}}},
		{name: "one-byte among others, csrc, padding", hasTW: true, p: rtp.Packet{Header: withExt(rtp.Header{Version: 2, Padding: true, SequenceNumber: 40000, Timestamp: 77, SSRC: 99, CSRC: []uint32{5}},
			rtp.ExtensionProfileOneByte, el{1, []byte("mid")}, el{3, []byte{0x80}}, el{twID, tw(65535)}, el{10, []byte("high")}),
			Payload: []byte{1, 2}, PaddingSize: 3}},
		{name: "one-byte without tw", p: rtp.Packet{Header: withExt(rtp.Header{Version: 2, SequenceNumber: 5, Timestamp: 6, SSRC: 7},
			rtp.ExtensionProfileOneByte, el{1, []byte("0")}, el{4, make([]byte, 16)}), Payload: []byte{1}}},
		{name: "two-byte", hasTW: true, p: rtp.Packet{Header: withExt(rtp.Header{Version: 2, SequenceNumber: 12345, Timestamp: 1 << 31, SSRC: 1 << 30},
			rtp.ExtensionProfileTwoByte, el{1, []byte{}}, el{200, make([]byte, 40)}, el{twID, tw(17)}), Payload: []byte{1}}},
		{name: "two-byte without tw, padding", p: rtp.Packet{Header: withExt(rtp.Header{Version: 2, Padding: true, SequenceNumber: 3, Timestamp: 4, SSRC: 5},
			rtp.ExtensionProfileTwoByte, el{6, []byte{1, 2, 3}}), Payload: []byte{1}, PaddingSize: 4}},
		{name: "other profile", p: rtp.Packet{Header: withExt(rtp.Header{Version: 2, SequenceNumber: 8, Timestamp: 8, SSRC: 8},
			0x1234, el{0, []byte{twID << 4, 0, 1, 0}}), Payload: []byte{1}}},
	}
	for _, c := range cases {
		b, err := c.p.Marshal()
		if err != nil {
			t.Fatalf("%s: marshal: %v", c.name, err)
		}
		var h rtp.Header
		if _, err := h.Unmarshal(b); err != nil {
			t.Fatalf("%s: unmarshal: %v", c.name, err)
		}
		f, ok := Parse(b, twID)
		if !ok || f.Seq != h.SequenceNumber || f.TS != h.Timestamp || f.SSRC != h.SSRC {
			t.Fatalf("%s: got %+v ok=%v, want seq %d ts %d ssrc %d", c.name, f, ok, h.SequenceNumber, h.Timestamp, h.SSRC)
		}
		var want rtp.TransportCCExtension
		if e := h.GetExtension(twID); e != nil && h.ExtensionProfile != 0x1234 {
			if err := want.Unmarshal(e); err != nil {
				t.Fatal(err)
			}
		}
		if f.HasTW != c.hasTW || f.TWSeq != want.TransportSequence {
			t.Fatalf("%s: transport-wide %v %d, want %v %d", c.name, f.HasTW, f.TWSeq, c.hasTW, want.TransportSequence)
		}
		if g, ok := Parse(b, 0); !ok || g.HasTW || g.Seq != f.Seq {
			t.Fatalf("%s: with no TWCC id: %+v %v", c.name, g, ok)
		}
		// Every truncation either parses consistently or is refused.
		for n := 0; n < len(b); n++ {
			g, ok := Parse(b[:n], twID)
			if ok && (g.Seq != f.Seq || g.HasTW && g.TWSeq != f.TWSeq) {
				t.Fatalf("%s: truncated to %d: %+v", c.name, n, g)
			}
		}
	}
	if _, ok := Parse([]byte{0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, twID); ok {
		t.Fatal("version 1 accepted")
	}
}

// HeaderLen and Payload agree with Pion's parser: CSRCs, extension block,
// padding; a truncated header or padding longer than the rest is refused.
func TestHeaderLenAndPayload(t *testing.T) {
	h := rtp.Header{Version: 2, Padding: true, SequenceNumber: 1, SSRC: 2, CSRC: []uint32{3, 4}}
	if err := h.SetExtension(1, []byte("mid")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []rtp.Packet{
		{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: []byte{1, 2, 3}},
		{Header: h, Payload: []byte{9, 8, 7}, PaddingSize: 5},
	} {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var want rtp.Packet
		n, err := want.Header.Unmarshal(b)
		if err != nil || want.Unmarshal(b) != nil {
			t.Fatal(err)
		}
		hl, ok := HeaderLen(b)
		if !ok || hl != n {
			t.Fatalf("header length %d, %v; Pion says %d", hl, ok, n)
		}
		if got, ok := Payload(b, hl); !ok || string(got) != string(want.Payload) {
			t.Fatalf("payload %v, %v; want %v", got, ok, want.Payload)
		}
		for i := 0; i < hl; i++ {
			if _, ok := HeaderLen(b[:i]); ok {
				t.Fatalf("a header cut at %d of %d accepted", i, hl)
			}
		}
	}
	bad := []byte{0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 200} // padding of 200 after 2 bytes
	if _, ok := Payload(bad, 12); ok {
		t.Error("padding longer than the packet accepted")
	}
}
