package main

import (
	"net"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"

	"jobhall/internal/rtpfields"
)

// rtpWithTWCC marshals an RTP packet carrying a transport-wide sequence
// number (and a second extension before it) as the SFU sends them.
func rtpWithTWCC(t *testing.T, ssrc uint32, seq, tw uint16, id uint8) []byte {
	t.Helper()
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 1, SSRC: ssrc}
	if err := h.SetExtension(1, []byte{0x42}); err != nil {
		t.Fatal(err)
	}
	if id != 0 {
		ext, err := (&rtp.TransportCCExtension{TransportSequence: tw}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := h.SetExtension(id, ext); err != nil {
			t.Fatal(err)
		}
	}
	b, err := (&rtp.Packet{Header: h, Payload: make([]byte, 100)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The arrivals read the transport-wide sequence number through
// rtpfields.Parse (its own test covers the header shapes).
func TestTWCCSeq(t *testing.T) {
	twccSeq := func(b []byte, id uint8) (uint16, bool) {
		f, ok := rtpfields.Parse(b, id)
		return f.TWSeq, ok && f.HasTW
	}
	b := rtpWithTWCC(t, 7, 100, 0xbeef, 3)
	if tw, ok := twccSeq(b, 3); !ok || tw != 0xbeef {
		t.Errorf("twccSeq = %#x, %v; want 0xbeef", tw, ok)
	}
	if _, ok := twccSeq(b, 4); ok {
		t.Error("found an extension id the packet lacks")
	}
	if _, ok := twccSeq(rtpWithTWCC(t, 7, 100, 0, 0), 3); ok {
		t.Error("found a sequence number in a packet without one")
	}
	// Truncated and garbage packets are not read past their end.
	for n := 12; n < len(b); n++ {
		twccSeq(b[:n], 3)
	}
	if _, ok := twccSeq(append([]byte{0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7}, 0xbe, 0xde, 0xff, 0xff), 3); ok {
		t.Error("read an extension block longer than the packet")
	}
}

func TestArrivalsNoteAndFeedback(t *testing.T) {
	a := newArrivals(true)
	a.twccID.Store(3)
	base := time.Now().UnixNano()
	for i := 0; i < 20; i++ {
		a.take(rtpWithTWCC(t, 7, uint16(65530+i), uint16(10+i), 3), base+int64(i)*1e6)
	}
	// Not RTP: RTCP, STUN, DTLS, runts.
	a.take([]byte{0x80, 200, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0}, base)
	a.take([]byte{0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0}, base)
	a.take([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, base)
	a.take([]byte{0x80, 96}, base)
	for i := 0; i < 20; i++ {
		seq := uint16(65530 + i)
		if at, ok := a.at(7, seq); !ok || at != base+int64(i)*1e6 {
			t.Fatalf("arrival of %d: %d, %v", seq, at, ok)
		}
	}
	if _, ok := a.at(7, 65529); ok {
		t.Error("an arrival for a packet never seen")
	}
	if _, ok := a.at(9, 0); ok {
		t.Error("an arrival for an SSRC never seen (the RTCP packet's)")
	}
	// Past the ring, an old sequence number is not mistaken for a new one.
	old := uint16(65530)
	a.take(rtpWithTWCC(t, 7, old+arrivalRing, 30, 3), base)
	if _, ok := a.at(7, 65530); ok {
		t.Error("a slot reused by a newer packet still answers for the old one")
	}
	// The feedback reports every transport-wide sequence number noted.
	var cc *rtcp.TransportLayerCC
	for _, p := range a.feedback() {
		if x, ok := p.(*rtcp.TransportLayerCC); ok {
			cc = x
		}
	}
	if cc == nil || cc.BaseSequenceNumber != 10 || cc.PacketStatusCount != 21 || cc.MediaSSRC != 7 {
		t.Fatalf("feedback %+v; want 21 packets from 10 for SSRC 7", cc)
	}
	if len(cc.RecvDeltas) != 21 || cc.RecvDeltas[1].Delta != 1000 {
		t.Errorf("receive deltas %+v; want 1 ms apart", cc.RecvDeltas[:min(3, len(cc.RecvDeltas))])
	}
	if len(a.feedback()) != 0 {
		t.Error("feedback repeated without new packets")
	}
	// SSRCs are bounded.
	for i := 0; i < 3*maxArrivalSSRCs; i++ {
		a.take(rtpWithTWCC(t, uint32(1000+i), 1, 1, 0), base)
	}
	if len(a.rings) > maxArrivalSSRCs {
		t.Errorf("%d SSRCs tracked, bound %d", len(a.rings), maxArrivalSSRCs)
	}
}

// The kernel's stamp is read through a real socket: it lies between the
// send and the read, and the datagram comes through unchanged.
func TestStampConnKernelTime(t *testing.T) {
	std, err := hostNet()
	if err != nil {
		t.Fatal(err)
	}
	a := newArrivals(false)
	c, err := (&arrivalNet{Net: std, a: a}).ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, ok := c.(*stampConn)
	if !ok {
		t.Fatalf("ListenUDP gave %T, not a stamping socket", c)
	}
	tx, err := net.DialUDP("udp4", nil, sc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	buf := make([]byte, 1500)
	// The kernel turns receive stamping on a moment after the first socket
	// asks (a deferred static key): meanwhile it stamps at the read.
	time.Sleep(100 * time.Millisecond)
	pkt := rtpWithTWCC(t, 5, 42, 0, 0)
	before := time.Now().UnixNano()
	if _, err := tx.Write(pkt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the read comes well after the arrival
	_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := sc.ReadFrom(buf)
	read := time.Now().UnixNano()
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != string(pkt) || from.(*net.UDPAddr).Port != tx.LocalAddr().(*net.UDPAddr).Port {
		t.Errorf("read %d bytes from %v; want the %d sent from %v", n, from, len(pkt), tx.LocalAddr())
	}
	at, ok := a.at(5, 42)
	if !ok || at < before || at > read-int64(40*time.Millisecond) {
		t.Errorf("stamp %v after the send, %v before the read; want the arrival, before the 50 ms wait",
			time.Duration(at-before), time.Duration(read-at))
	}
}

func TestExtmapID(t *testing.T) {
	offer := "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:3 " + sdp.TransportCCURI + "\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:5/sendrecv " + sdp.TransportCCURI + "\r\n"
	if id := extmapID(offer, sdp.TransportCCURI); id != 3 {
		t.Errorf("id %d, want 3 (the first)", id)
	}
	if id := extmapID(offer, "urn:example"); id != 0 {
		t.Errorf("id %d for an absent URI", id)
	}
	if id := extmapID("a=extmap:5/sendrecv "+sdp.TransportCCURI, sdp.TransportCCURI); id != 5 {
		t.Errorf("id %d with a direction, want 5", id)
	}
}
