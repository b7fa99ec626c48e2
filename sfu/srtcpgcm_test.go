package sfu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// twccFeedback is a subscriber's TWCC feedback for n packets, 8 of them
// lost (60 bytes, 80 as SRTCP, for n = 44).
func twccFeedback(sender uint32, base uint16, n int) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{SenderSSRC: sender, MediaSSRC: 0x12345678, BaseSequenceNumber: base,
		PacketStatusCount: uint16(n), ReferenceTime: uint32(base), FbPktCount: uint8(base)}
	lost := min(8, n/2)
	fb.PacketChunks = []rtcp.PacketStatusChunk{
		&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: uint16(n - lost)},
		&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: uint16(lost)},
	}
	for i := range n - lost {
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: int64(250 * (i % 200))})
	}
	return fb
}

// testRTCP gives packet i from sender a compound packet of one of the
// shapes a subscriber sends.
func testRTCP(t testing.TB, i int, sender uint32) []byte {
	rr := &rtcp.ReceiverReport{SSRC: sender, Reports: []rtcp.ReceptionReport{
		{SSRC: 0x12345678, FractionLost: uint8(i), TotalLost: uint32(i), LastSequenceNumber: uint32(i) * 7, Jitter: 30}}}
	var pkts []rtcp.Packet
	switch i % 5 {
	case 0:
		pkts = []rtcp.Packet{twccFeedback(sender, uint16(i), 5+i%60)}
	case 1:
		pkts = []rtcp.Packet{rr, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: sender,
			Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: fmt.Sprint("cname-", i)}}}}}}
	case 2:
		pkts = []rtcp.Packet{rr, &rtcp.TransportLayerNack{SenderSSRC: sender, MediaSSRC: 0x12345678,
			Nacks: []rtcp.NackPair{{PacketID: uint16(i), LostPackets: 0x0101}}}}
	case 3:
		pkts = []rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: sender, MediaSSRC: 0x12345678},
			&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: sender, Bitrate: float32(100000 * i), SSRCs: []uint32{0x12345678}}}
	case 4:
		pkts = []rtcp.Packet{rr}
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rtcpSender encrypts a subscriber's RTCP with Pion, each packet
// encrypted or (RFC 7714 §17) authenticated only; both contexts keep the
// same index per SSRC, as one sender's would.
type rtcpSender struct {
	enc, auth *srtp.Context
}

func newRTCPSender(t testing.TB, prof srtp.ProtectionProfile, key, salt []byte) *rtcpSender {
	enc, err := srtp.CreateContext(key, salt, prof)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := srtp.CreateContext(key, salt, prof, srtp.SRTCPNoEncryption())
	if err != nil {
		t.Fatal(err)
	}
	return &rtcpSender{enc: enc, auth: auth}
}

func (s *rtcpSender) seal(t testing.TB, plain []byte, encrypt bool) []byte {
	from, to := s.enc, s.auth
	if !encrypt {
		from, to = to, from
	}
	b, err := from.EncryptRTCP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	ssrc := binary.BigEndian.Uint32(plain[4:8])
	idx, _ := from.Index(ssrc)
	to.SetIndex(ssrc, idx)
	return b
}

// jump moves ssrc's index (the next packet carries idx+1).
func (s *rtcpSender) jump(ssrc, idx uint32) {
	s.enc.SetIndex(ssrc, idx)
	s.auth.SetIndex(ssrc, idx)
}

// rtcpChecker runs packets through Pion's reference context and the
// opener and fails on any difference.
type rtcpChecker struct {
	t      *testing.T
	ref    *srtp.Context
	o      *gcmRTCPOpener
	dst    []byte
	counts map[string]int
}

func (c *rtcpChecker) check(what string, b []byte) openResult {
	c.t.Helper()
	in := bytes.Clone(b)
	want, err := c.ref.DecryptRTCP(nil, b, nil)
	n, res := c.o.openRTCP(c.dst, b)
	if wr := pionOutcome(err); res != wr {
		c.t.Fatalf("%s: %d, Pion %d (%v)", what, res, wr, err)
	}
	if res == opened && !bytes.Equal(c.dst[:n], want) {
		c.t.Fatalf("%s: opened differently from Pion", what)
	}
	if !bytes.Equal(b, in) {
		c.t.Fatalf("%s: input changed", what)
	}
	kind := "short"
	if len(b) >= srtcpTrailer {
		kind = map[bool]string{true: "encrypted", false: "authenticated"}[b[len(b)-srtcpTrailer]&0x80 != 0]
	}
	c.counts[fmt.Sprint(kind, res)]++
	return res
}

// The SRTCP opener accepts, drops and refuses what Pion's Context with
// SRTCPReplayProtection(64) does, and its clear packets are Pion's: for
// encrypted and authenticated-only packets from several sender SSRCs,
// reordered, duplicated, forged, truncated, and across index jumps either
// way beyond the window and up to the last index.
func TestSRTCPGCMOpenMatchesPion(t *testing.T) {
	r := mrand.New(mrand.NewPCG(5, 6))
	for _, prof := range gcmProfiles {
		t.Run(prof.String(), func(t *testing.T) {
			for run := range 3 {
				testRTCPOpenMatchesPion(t, r, prof, run)
			}
		})
	}
}

func testRTCPOpenMatchesPion(t *testing.T, r *mrand.Rand, prof srtp.ProtectionProfile, run int) {
	key, salt := randomKeys(t, prof)
	s := newRTCPSender(t, prof, key, salt)
	ref, _ := srtp.CreateContext(key, salt, prof, srtp.SRTCPReplayProtection(64))
	o := newGCMRTCPOpener(prof, key, salt)
	if o == nil {
		t.Fatal("no opener")
	}
	c := &rtcpChecker{t: t, ref: ref, o: o, dst: make([]byte, maxPacket), counts: map[string]int{}}
	ssrcs := []uint32{1, 0x5eed, 0xfeedface}
	var sent [][]byte
	for i := range 6000 {
		ssrc := ssrcs[r.IntN(len(ssrcs))]
		switch k := r.IntN(1000); {
		case k < 3: // far ahead, past the window
			idx, _ := s.enc.Index(ssrc)
			s.jump(ssrc, min(idx+64+uint32(r.IntN(1<<20)), 0x7ffffff0))
		case k < 5: // far behind: all older than the window
			idx, _ := s.enc.Index(ssrc)
			s.jump(ssrc, idx-min(idx, 64+uint32(r.IntN(300))))
		case k < 7: // a few behind: some inside the window
			idx, _ := s.enc.Index(ssrc)
			s.jump(ssrc, idx-min(idx, uint32(r.IntN(80))))
		case k == 7 && run == 2: // up to the last index Pion sends
			s.jump(ssrc, 0x7fffffff-1-uint32(r.IntN(5)))
		}
		if idx, _ := s.enc.Index(ssrc); idx >= 0x7ffffffe {
			s.jump(ssrc, uint32(r.IntN(100))) // Pion refuses to go on
		}
		b := s.seal(t, testRTCP(t, i, ssrc), r.IntN(3) != 0)
		sent = append(sent, b)
		what := fmt.Sprintf("run %d packet %d", run, i)
		switch k := r.IntN(20); {
		case k == 0 && len(sent) > 1: // an old one again
			c.check(what+" (old)", sent[len(sent)-1-r.IntN(min(len(sent)-1, 200))])
		case k == 1: // a bit flipped anywhere (header, payload, tag, E flag, index)
			f := bytes.Clone(b)
			f[r.IntN(len(f))] ^= 1 << r.IntN(8)
			c.check(what+" (forged)", f)
		case k == 2: // truncated
			c.check(what+" (truncated)", b[:r.IntN(len(b))])
		}
		if r.IntN(10) == 0 && len(sent) > 1 { // swapped with the one before
			c.check(what+" (late)", sent[len(sent)-1])
			c.check(what+" (early)", sent[len(sent)-2])
		} else {
			c.check(what, b)
		}
	}
	for _, kind := range []string{"encrypted", "authenticated"} {
		for _, res := range []openResult{opened, replayed, notOpened} {
			if c.counts[fmt.Sprint(kind, res)] == 0 {
				t.Fatalf("run %d: outcomes %v; want some %s%d", run, c.counts, kind, res)
			}
		}
	}
}

// sealSRTCP is an SRTCP sealer for indices Pion does not send (0, a
// packet whose tag verifies over odd contents).
func sealSRTCP(t testing.TB, prof srtp.ProtectionProfile, key, salt, plain []byte, idx uint32, encrypt bool) []byte {
	var k gcmKeys
	if !k.initLabels(prof, key, salt, labelRTCPKey, labelRTCPSalt) {
		t.Fatal("no keys")
	}
	k.setRTCPNonce(binary.BigEndian.Uint32(plain[4:8]), idx)
	word := binary.BigEndian.AppendUint32(nil, idx)
	if !encrypt {
		tag := k.aead.Seal(nil, k.nonce[:], nil, append(bytes.Clone(plain), word...))
		return append(append(bytes.Clone(plain), tag...), word...)
	}
	word[0] |= 0x80
	aad := append(bytes.Clone(plain[:8]), word...)
	return append(k.aead.Seal(bytes.Clone(plain[:8]), k.nonce[:], plain[8:], aad), word...)
}

// The test sealer is Pion's, byte for byte. With it, the window's edges:
// index 0 (which Pion never sends) is new once per SSRC, as in Pion's
// window; jumps of exactly the window; the gap filled in behind a jump;
// the highest index.
func TestSRTCPGCMWindowEdges(t *testing.T) {
	const (
		o = opened
		r = replayed
	)
	script := []struct {
		ssrc uint32
		idx  uint32
		want openResult
	}{
		{9, 0, o}, {9, 0, r}, {9, 1, o},
		{9, 65, o}, {9, 2, o}, {9, 1, r}, {9, 64, o}, {9, 65, r}, {9, 3, o},
		{5, 0x7fffffff, o}, // another SSRC's first, at the top
		{9, 200, o}, {9, 137, o}, {9, 136, r}, {9, 137, r}, {9, 199, o},
		{5, 0x7fffffff, r}, {5, 0x7fffffc0, o}, {5, 0x7fffffbf, r}, {5, 0, r},
		{9, 263, o}, {9, 200, r}, {9, 201, o}, {9, 327, o}, {9, 264, o}, {9, 263, r},
	}
	for _, prof := range gcmProfiles {
		key, salt := randomKeys(t, prof)
		s := newRTCPSender(t, prof, key, salt)
		for _, encrypt := range []bool{true, false} {
			plain := testRTCP(t, 2, 77)
			want := s.seal(t, plain, encrypt)
			idx, _ := s.enc.Index(77)
			if got := sealSRTCP(t, prof, key, salt, plain, idx, encrypt); !bytes.Equal(got, want) {
				t.Fatalf("%s encrypt=%v: test sealer differs from Pion", prof, encrypt)
			}
		}
		ref, _ := srtp.CreateContext(key, salt, prof, srtp.SRTCPReplayProtection(64))
		c := &rtcpChecker{t: t, ref: ref, o: newGCMRTCPOpener(prof, key, salt), dst: make([]byte, maxPacket), counts: map[string]int{}}
		for i, p := range script {
			b := sealSRTCP(t, prof, key, salt, testRTCP(t, i, p.ssrc), p.idx, i%2 == 0)
			if res := c.check(fmt.Sprint(prof, " step ", i), b); res != p.want {
				t.Fatalf("%s step %d %+v: %d", prof, i, p, res)
			}
		}
	}
}

// Malformed and foreign packets are Pion's to judge, as they were, and
// make no state.
func TestSRTCPGCMOpenRefuses(t *testing.T) {
	prof := srtp.ProtectionProfileAeadAes256Gcm
	key, salt := randomKeys(t, prof)
	s := newRTCPSender(t, prof, key, salt)
	o := newGCMRTCPOpener(prof, key, salt)
	dst := make([]byte, maxPacket)
	pli, _ := (&rtcp.PictureLossIndication{SenderSSRC: 3, MediaSSRC: 4}).Marshal()
	good := s.seal(t, pli, true)
	k2, s2 := randomKeys(t, prof)
	cases := map[string][]byte{
		"short":         good[:8+gcmTagLen+srtcpTrailer-1],
		"version":       append([]byte{0x41}, good[1:]...),
		"other key":     newRTCPSender(t, prof, k2, s2).seal(t, pli, true),
		"E flag off":    append(bytes.Clone(good[:len(good)-4]), good[len(good)-4]&0x7f, good[len(good)-3], good[len(good)-2], good[len(good)-1]),
		"SRTP profile":  func() []byte { b := bytes.Clone(good); b[1] = 96; return b }(),
		"not SRTCP":     bytes.Repeat([]byte{0x80}, 40),
		"tag truncated": append(bytes.Clone(good[:len(good)-5]), good[len(good)-4:]...),
	}
	for name, b := range cases {
		ref, _ := srtp.CreateContext(key, salt, prof, srtp.SRTCPReplayProtection(64))
		_, err := ref.DecryptRTCP(nil, b, nil)
		if _, res := o.openRTCP(dst, b); res != notOpened || pionOutcome(err) != notOpened {
			t.Errorf("%s: %d, Pion %v", name, res, err)
		}
	}
	if len(o.ssrcs) != 0 {
		t.Fatal("a refused packet made state")
	}
	if _, res := o.openRTCP(make([]byte, len(pli)-1), good); res != notOpened {
		t.Fatal("opened into a short buffer")
	}
	if _, res := o.openRTCP(good[2:], good); res != notOpened {
		t.Fatal("opened over its own input")
	}
	auth := s.seal(t, pli, false)
	if _, res := o.openRTCP(make([]byte, len(pli)+srtcpTrailer-1), auth); res != notOpened {
		t.Fatal("authenticated-only packet checked in a buffer without room for the AAD")
	}
	if len(o.ssrcs) != 0 {
		t.Fatal("a refused packet made state")
	}
	for _, b := range [][]byte{good, auth} {
		if n, res := o.openRTCP(dst, b); res != opened || !bytes.Equal(dst[:n], pli) {
			t.Fatalf("a good packet: %d", res)
		}
		if _, res := o.openRTCP(dst, b); res != replayed {
			t.Fatal("a replay opened")
		}
	}
	if newGCMRTCPOpener(srtp.ProtectionProfileAes128CmHmacSha1_80, key[:16], make([]byte, 14)) != nil {
		t.Fatal("opener for an HMAC-SHA1 profile")
	}
	if newGCMRTCPOpener(prof, key[:16], salt) != nil {
		t.Fatal("opener with a short key")
	}

	// srtpOut hands replays on to Pion, as it did with Pion's Context.
	out := &srtpOut{rtcp: newGCMRTCPOpener(prof, key, salt)}
	if dec, ok := out.openRTCP(good, dst); !ok || !bytes.Equal(dec, pli) {
		t.Fatal("srtpOut did not open a good packet")
	}
	if _, ok := out.openRTCP(good, dst); ok {
		t.Fatal("srtpOut took a replay")
	}
}

func TestSRTCPGCMOpenNoAllocs(t *testing.T) {
	prof := srtp.ProtectionProfileAeadAes128Gcm
	key, salt := randomKeys(t, prof)
	s := newRTCPSender(t, prof, key, salt)
	var pkts [][]byte
	for i := range 1002 { // AllocsPerRun warms up with one more run
		pkts = append(pkts, s.seal(t, testRTCP(t, i, uint32(1+i%3)), i%4 != 0))
	}
	o := newGCMRTCPOpener(prof, key, salt)
	dst := make([]byte, maxPacket)
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		if _, res := o.openRTCP(dst, pkts[i]); res != opened {
			t.Fatal("not opened")
		}
		i++
	}); n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

// benchRTCP is 4,096 TWCC feedback packets (80 bytes of SRTCP each) from
// one sender SSRC, encrypted by Pion.
func benchRTCP(b *testing.B, prof srtp.ProtectionProfile) (key, salt []byte, pkts [][]byte) {
	key, salt = randomKeys(b, prof)
	enc, _ := srtp.CreateContext(key, salt, prof)
	for i := range 4096 {
		plain, err := twccFeedback(1, uint16(i*44), 44).Marshal()
		if err != nil {
			b.Fatal(err)
		}
		p, err := enc.EncryptRTCP(nil, plain, nil)
		if err != nil {
			b.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	b.SetBytes(int64(len(pkts[0])))
	return key, salt, pkts
}

func BenchmarkOpenRTCP(b *testing.B) {
	prof := srtp.ProtectionProfileAeadAes128Gcm
	key, salt, pkts := benchRTCP(b, prof)
	o := newGCMRTCPOpener(prof, key, salt)
	dst := make([]byte, maxPacket)
	openEach(b, pkts, func() { o.ssrcs = o.ssrcs[:0] }, func(pkt []byte) error {
		if _, res := o.openRTCP(dst, pkt); res != opened {
			return errNotOpened
		}
		return nil
	})
}

// BenchmarkPionDecryptRTCP is what srtpOut.readRTCP did (a fresh context
// every 4,096 packets lets the stream start over).
func BenchmarkPionDecryptRTCP(b *testing.B) {
	prof := srtp.ProtectionProfileAeadAes128Gcm
	key, salt, pkts := benchRTCP(b, prof)
	ctx, _ := srtp.CreateContext(key, salt, prof, srtp.SRTCPReplayProtection(64))
	dst := make([]byte, maxPacket)
	openEach(b, pkts, func() { ctx, _ = srtp.CreateContext(key, salt, prof, srtp.SRTCPReplayProtection(64)) }, func(pkt []byte) error {
		_, err := ctx.DecryptRTCP(dst[:0], pkt, nil)
		return err
	})
}
