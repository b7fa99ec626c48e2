package sfu

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

var gcmProfiles = []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm}

func randomKeys(t testing.TB, p srtp.ProtectionProfile) (key, salt []byte) {
	kl, err := p.KeyLen()
	if err != nil {
		t.Fatal(err)
	}
	sl, err := p.SaltLen()
	if err != nil {
		t.Fatal(err)
	}
	key, salt = make([]byte, kl), make([]byte, sl)
	_, _ = rand.Read(key)
	_, _ = rand.Read(salt)
	return key, salt
}

// testHeader gives packet i of a test stream a header of one of several
// shapes: plain, CSRCs, one-byte, two-byte and RFC 3550 extensions.
func testHeader(i int, ssrc uint32, seq uint16) *rtp.Header {
	h := &rtp.Header{Version: 2, PayloadType: 96 + uint8(i%3), SequenceNumber: seq,
		Timestamp: uint32(i) * 3000, SSRC: ssrc, Marker: i%4 == 3}
	switch i % 6 {
	case 1:
		h.CSRC = []uint32{0x11111111, uint32(i)}
	case 2: // TWCC and audio level, as the egress writes them
		_ = h.SetExtension(3, []byte{byte(i >> 8), byte(i)})
		_ = h.SetExtension(1, []byte{0x85})
	case 3:
		h.Extension, h.ExtensionProfile = true, rtp.ExtensionProfileTwoByte
		_ = h.SetExtension(7, bytes.Repeat([]byte{byte(i)}, 20))
		_ = h.SetExtension(9, []byte{1, 2, 3})
	case 4:
		h.CSRC = []uint32{7}
		_ = h.SetExtension(5, []byte{1, 2, 3, 4, 5})
	case 5:
		h.Extension, h.ExtensionProfile = true, 0x1234
		_ = h.SetExtension(0, []byte{9, 8, 7, 6, 5, 4, 3, 2})
	}
	return h
}

func testPayload(i int) []byte {
	p := make([]byte, 1+(i*37)%1200)
	for j := range p {
		p[j] = byte(i + j)
	}
	return p
}

type testPkt struct {
	ssrc uint32
	seq  uint16
}

// scriptedSeqs crosses a wrap on two SSRCs and retransmits before and
// after it: 65535 → 0, a pre-wrap packet after the wrap, ROC-0 early
// packets far ahead, and half-range jumps either side.
func scriptedSeqs() []testPkt {
	var s []testPkt
	a, b, c := uint32(0xa0a0a0a0), uint32(0x0b0b0b0b), uint32(0xc)
	for q := 65528; q <= 65535; q++ {
		s = append(s, testPkt{a, uint16(q)})
	}
	s = append(s, testPkt{b, 100})
	for q := 0; q < 8; q++ {
		s = append(s, testPkt{a, uint16(q)})
	}
	s = append(s,
		testPkt{a, 65533}, // retransmission from ROC 0
		testPkt{a, 8},
		testPkt{a, 3}, // retransmission from ROC 1
		testPkt{a, 65535},
		testPkt{b, 101},
		testPkt{b, 65000}, // ahead while ROC 0 has no predecessor
		testPkt{b, 64000},
		testPkt{b, 10}, // wraps
		testPkt{b, 64990},
		testPkt{a, 9 + 1<<15}, // ahead by half the range
		testPkt{a, 40},        // older
		testPkt{a, 0xffff},    // ahead
		testPkt{a, 1},         // wraps again
		// Exactly half the range either side of the highest.
		testPkt{c, 1000},
		testPkt{c, 40000},
		testPkt{c, 7232},  // 2^15 back: this ROC
		testPkt{c, 7231},  // past 2^15 back: the next ROC
		testPkt{c, 40000}, // past 2^15 ahead: the previous ROC
		testPkt{c, 39999}, // 2^15 ahead: this ROC
	)
	return s
}

// randomSeqs is a long random walk: mostly in order, with gaps, repeats
// (retransmissions) up to a few thousand back, across many wraps.
func randomSeqs(r *mrand.Rand, n int) []testPkt {
	ssrcs := []uint32{1, 2, 3, 0xdeadbeef}
	top := map[uint32]uint16{}
	for _, x := range ssrcs {
		top[x] = uint16(r.Uint32())
	}
	s := make([]testPkt, 0, n)
	for range n {
		x := ssrcs[r.IntN(len(ssrcs))]
		switch k := r.IntN(100); {
		case k < 10:
			s = append(s, testPkt{x, top[x] - uint16(r.IntN(3000))})
		case k < 15:
			top[x] += uint16(r.IntN(20000))
			s = append(s, testPkt{x, top[x]})
		default:
			top[x] += uint16(1 + r.IntN(3))
			s = append(s, testPkt{x, top[x]})
		}
	}
	return s
}

func plainPacket(t testing.TB, i int, p testPkt) (*rtp.Header, []byte, []byte) {
	h, pl := testHeader(i, p.ssrc, p.seq), testPayload(i)
	hb, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return h, pl, append(hb, pl...)
}

// The sealer's packets are Pion's, byte for byte, and Pion decrypts them.
func TestSRTPGCMSealMatchesPion(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for _, prof := range gcmProfiles {
		t.Run(prof.String(), func(t *testing.T) {
			for run, seqs := range [][]testPkt{scriptedSeqs(), randomSeqs(r, 20000)} {
				key, salt := randomKeys(t, prof)
				s := newGCMSealer(prof, key, salt)
				if s == nil {
					t.Fatal("no sealer")
				}
				enc, err := srtp.CreateContext(key, salt, prof)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := srtp.CreateContext(key, salt, prof)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 1600)
				for i, p := range seqs {
					h, pl, plain := plainPacket(t, i, p)
					n, ok := s.sealRTP(buf, h, pl)
					if !ok {
						t.Fatalf("run %d packet %d %+v: not sealed", run, i, p)
					}
					want, err := enc.EncryptRTP(nil, plain, nil)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(buf[:n], want) {
						t.Fatalf("run %d packet %d %+v: sealed differently from Pion", run, i, p)
					}
					got, err := dec.DecryptRTP(nil, buf[:n], nil)
					if err != nil || !bytes.Equal(got, plain) {
						t.Fatalf("run %d packet %d %+v: Pion decrypts to %v", run, i, p, err)
					}
				}
			}
		})
	}
}

func TestSRTPGCMSealRejects(t *testing.T) {
	key, salt := randomKeys(t, srtp.ProtectionProfileAeadAes128Gcm)
	if newGCMSealer(srtp.ProtectionProfileAes128CmHmacSha1_80, key, make([]byte, 14)) != nil {
		t.Fatal("sealer for an HMAC-SHA1 profile")
	}
	if newGCMSealer(srtp.ProtectionProfileAeadAes256Gcm, key, salt) != nil {
		t.Fatal("sealer with a short key")
	}
	s := newGCMSealer(srtp.ProtectionProfileAeadAes128Gcm, key, salt)
	h, pl, _ := plainPacket(t, 2, testPkt{1, 1})
	need := h.MarshalSize() + len(pl) + gcmTagLen
	if _, ok := s.sealRTP(make([]byte, need-1), h, pl); ok {
		t.Fatal("sealed into a short buffer")
	}
	if len(s.ssrcs) != 0 {
		t.Fatal("a refused packet moved the state")
	}
	if n, ok := s.sealRTP(make([]byte, need), h, pl); !ok || n != need {
		t.Fatalf("sealed %d, %v; want %d", n, ok, need)
	}
	// In place: the payload already where the ciphertext goes.
	enc, _ := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	h, pl, plain := plainPacket(t, 4, testPkt{1, 2})
	want, _ := enc.EncryptRTP(nil, plain, nil)
	buf := make([]byte, 1600)
	hl := h.MarshalSize()
	copy(buf[hl:], pl)
	if n, ok := s.sealRTP(buf, h, buf[hl:hl+len(pl)]); !ok || !bytes.Equal(buf[:n], want) {
		t.Fatal("sealing in place differs from Pion")
	}
}

// putRTPHeader writes what MarshalTo does, odd headers included, and
// refuses what it refuses.
func TestSRTPGCMHeaderMatchesMarshalTo(t *testing.T) {
	if !extLayoutOK {
		t.Fatal("rtp.Extension's layout changed: putRTPHeader falls back to MarshalTo")
	}
	var hs []*rtp.Header
	for i := range 12 {
		hs = append(hs, testHeader(i, 1, uint16(i)))
	}
	odd := func(f func(h *rtp.Header)) {
		h := &rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 7, Timestamp: 8, SSRC: 9}
		f(h)
		hs = append(hs, h)
	}
	odd(func(h *rtp.Header) { h.Padding, h.Marker = true, true })
	odd(func(h *rtp.Header) { h.Version, h.PayloadType = 3, 200 })
	odd(func(h *rtp.Header) { h.CSRC = make([]uint32, 15) })
	odd(func(h *rtp.Header) { h.CSRC = make([]uint32, 16) })
	odd(func(h *rtp.Header) { _ = h.SetExtension(1, nil) })
	odd(func(h *rtp.Header) { _ = h.SetExtension(14, bytes.Repeat([]byte{3}, 16)) })
	odd(func(h *rtp.Header) { h.Extension, h.ExtensionProfile = true, rtp.ExtensionProfileOneByte })
	odd(func(h *rtp.Header) {
		h.Extension, h.ExtensionProfile = true, rtp.ExtensionProfileTwoByte
		_ = h.SetExtension(1, nil)
		_ = h.SetExtension(2, bytes.Repeat([]byte{4}, 255))
	})
	odd(func(h *rtp.Header) { _ = h.SetExtension(1, bytes.Repeat([]byte{5}, 300)) })
	odd(func(h *rtp.Header) { h.Extension, h.ExtensionProfile = true, 0xabcd })
	odd(func(h *rtp.Header) {
		h.Extension, h.ExtensionProfile = true, 0xabcd
		_ = h.SetExtension(0, []byte{1, 2, 3})
	})
	for i, h := range hs {
		for _, size := range []int{1600, h.MarshalSize(), h.MarshalSize() - 1} {
			want := make([]byte, max(size, 0))
			got := bytes.Repeat([]byte{0xee}, max(size, 0))
			wn, err := h.MarshalTo(want)
			gn, ok := putRTPHeader(got, h)
			if ok != (err == nil) || gn != wn || !bytes.Equal(got[:gn], want[:wn]) {
				t.Errorf("header %d, buffer %d: %d %v %x; MarshalTo %d %v %x", i, size, gn, ok, got[:gn], wn, err, want[:wn])
			}
		}
	}
}

func TestSRTPGCMSealNoAllocs(t *testing.T) {
	key, salt := randomKeys(t, srtp.ProtectionProfileAeadAes256Gcm)
	s := newGCMSealer(srtp.ProtectionProfileAeadAes256Gcm, key, salt)
	h, pl, _ := plainPacket(t, 2, testPkt{5, 1})
	buf := make([]byte, 1600)
	s.sealRTP(buf, h, pl)
	if n := testing.AllocsPerRun(1000, func() {
		h.SequenceNumber++
		if _, ok := s.sealRTP(buf, h, pl); !ok {
			t.Fatal("not sealed")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

// pionOutcome maps Pion's decrypt result onto the opener's.
func pionOutcome(err error) openResult {
	switch {
	case err == nil:
		return opened
	case strings.HasSuffix(err.Error(), "duplicated packet"):
		return replayed
	}
	return notOpened
}

// The opener accepts, drops and refuses what a Pion context with a
// 64-packet replay window does, and its clear packets are Pion's; with
// and without cryptex negotiated, for a mix of cryptex and plain packets.
func TestSRTPGCMOpenMatchesPion(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	for _, prof := range gcmProfiles {
		for _, cryptex := range []bool{false, true} {
			name := prof.String()
			if cryptex {
				name += "/cryptex"
			}
			t.Run(name, func(t *testing.T) {
				for run, seqs := range [][]testPkt{scriptedSeqs(), randomSeqs(r, 20000)} {
					testOpenMatchesPion(t, r, prof, cryptex, run, seqs)
				}
			})
		}
	}
}

func testOpenMatchesPion(t *testing.T, r *mrand.Rand, prof srtp.ProtectionProfile, cryptex bool, run int, seqs []testPkt) {
	key, salt := randomKeys(t, prof)
	encPlain, _ := srtp.CreateContext(key, salt, prof)
	encCryptex, _ := srtp.CreateContext(key, salt, prof, srtp.Cryptex(srtp.CryptexModeEnabled))
	opts := []srtp.ContextOption{srtp.SRTPReplayProtection(64)}
	if cryptex {
		opts = append(opts, srtp.Cryptex(srtp.CryptexModeEnabled))
	}
	ref, _ := srtp.CreateContext(key, salt, prof, opts...)
	o := newGCMOpener(prof, key, salt, cryptex)
	if o == nil {
		t.Fatal("no opener")
	}
	var sent [][]byte
	counts := map[string]int{}
	dst := make([]byte, maxPacket)
	check := func(i int, b []byte) {
		in := bytes.Clone(b)
		want, err := ref.DecryptRTP(nil, b, nil)
		n, res := o.openRTP(dst, b)
		if wr := pionOutcome(err); res != wr {
			t.Fatalf("run %d packet %d: %d, Pion %d (%v)", run, i, res, wr, err)
		}
		if res == opened && !bytes.Equal(dst[:n], want) {
			t.Fatalf("run %d packet %d: opened differently from Pion", run, i)
		}
		if !bytes.Equal(b, in) {
			t.Fatalf("run %d packet %d: input changed", run, i)
		}
		kind := "plain"
		if b[0]&0x10 != 0 && b[12+4*int(b[0]&0x0f)]&0xfd == 0xc0 {
			kind = "cryptex"
		}
		counts[fmt.Sprint(kind, res)]++
	}
	for i, p := range seqs {
		_, _, plain := plainPacket(t, i, p)
		enc := encPlain
		if r.IntN(4) != 0 == cryptex {
			enc = encCryptex
		}
		b, err := enc.EncryptRTP(nil, plain, nil)
		if err != nil {
			if enc == encCryptex && strings.Contains(err.Error(), "unsupported header extension") {
				continue // RFC 9335 takes RFC 8285 extensions only
			}
			t.Fatal(err)
		}
		sent = append(sent, b)
		// Delivery: reordered by a few, duplicated, forged.
		switch k := r.IntN(20); {
		case k == 0 && len(sent) > 1:
			j := len(sent) - 1 - r.IntN(min(len(sent)-1, 100))
			check(i, sent[j])
		case k == 1:
			f := bytes.Clone(b)
			f[len(f)-1-r.IntN(len(f)-12)] ^= 1 << r.IntN(8)
			check(i, f)
		}
		if r.IntN(10) == 0 && len(sent) > 1 {
			check(i, sent[len(sent)-1])
			check(i, sent[len(sent)-2])
		} else {
			check(i, b)
		}
	}
	want := []string{"plain" + fmt.Sprint(opened)}
	if cryptex {
		want = append(want, "cryptex"+fmt.Sprint(opened))
	}
	if run == 1 {
		want = append(want, "plain"+fmt.Sprint(replayed), "plain"+fmt.Sprint(notOpened), "cryptex"+fmt.Sprint(notOpened))
	}
	for _, k := range want {
		if counts[k] == 0 {
			t.Fatalf("run %d: outcomes %v; want some %s", run, counts, k)
		}
	}
}

// Malformed and foreign packets are Pion's to judge, as they were.
func TestSRTPGCMOpenRefuses(t *testing.T) {
	prof := srtp.ProtectionProfileAeadAes128Gcm
	key, salt := randomKeys(t, prof)
	enc, _ := srtp.CreateContext(key, salt, prof)
	o := newGCMOpener(prof, key, salt, false)
	dst := make([]byte, maxPacket)
	h := &rtp.Header{Version: 2, SequenceNumber: 9, SSRC: 4}
	_ = h.SetExtension(1, []byte{1, 2})
	plain, _ := (&rtp.Packet{Header: *h, Payload: []byte{1, 2, 3}}).Marshal()
	good, _ := enc.EncryptRTP(nil, plain, nil)
	cases := map[string][]byte{
		"short":        good[:11],
		"csrc overrun": append([]byte{0x8f}, good[1:20]...),
		"tag missing":  good[:len(good)-gcmTagLen],
		"ext overrun":  append(append([]byte{}, good[:12]...), 0xbe, 0xde, 0x00, 0x09),
		"element overrun": func() []byte {
			b := bytes.Clone(good)
			b[16] = 0x1f // id 1, 16 bytes, in a one-word block
			return b
		}(),
		"cryptex": func() []byte {
			b := bytes.Clone(good)
			b[12], b[13] = 0xc0, 0xde
			return b
		}(),
		"other key": func() []byte {
			k2, s2 := randomKeys(t, prof)
			e2, _ := srtp.CreateContext(k2, s2, prof)
			b, _ := e2.EncryptRTP(nil, plain, nil)
			return b
		}(),
	}
	for name, b := range cases {
		ref, _ := srtp.CreateContext(key, salt, prof, srtp.SRTPReplayProtection(64))
		_, err := ref.DecryptRTP(nil, b, nil)
		if _, res := o.openRTP(dst, b); res != notOpened || pionOutcome(err) != notOpened {
			t.Errorf("%s: %d, Pion %v", name, res, err)
		}
	}
	if len(o.ssrcs) != 0 {
		t.Fatal("a refused packet made state")
	}
	if _, res := o.openRTP(make([]byte, len(good)-gcmTagLen-1), good); res != notOpened {
		t.Fatal("opened into a short buffer")
	}
	if n, res := o.openRTP(dst, good); res != opened || !bytes.Equal(dst[:n], plain) {
		t.Fatal("the good packet did not open")
	}
	if _, res := o.openRTP(dst, good); res != replayed {
		t.Fatal("a replay opened")
	}
	if newGCMOpener(srtp.ProtectionProfileAes128CmHmacSha1_80, key, make([]byte, 14), false) != nil {
		t.Fatal("opener for an HMAC-SHA1 profile")
	}

	// A cryptex packet whose tag verifies but whose clear extension
	// element overruns its block (id 1, 16 bytes in one word).
	var k gcmKeys
	k.init(prof, key, salt)
	k.setNonce(4, 9)
	b := []byte{0x90, 96, 0, 9, 0, 0, 0, 1, 0, 0, 0, 4, 0xc0, 0xde, 0, 1}
	b = k.aead.Seal(b, k.nonce[:], []byte{0x1f, 0, 0, 0, 1, 2, 3}, b)
	oc := newGCMOpener(prof, key, salt, true)
	ref, _ := srtp.CreateContext(key, salt, prof, srtp.SRTPReplayProtection(64), srtp.Cryptex(srtp.CryptexModeEnabled))
	_, err := ref.DecryptRTP(nil, b, nil)
	if _, res := oc.openRTP(dst, b); res != notOpened || pionOutcome(err) != notOpened || len(oc.ssrcs) != 0 {
		t.Fatalf("malformed clear extension: %d, Pion %v", res, err)
	}
	// With CSRCs, decrypted in place: the buffer must hold the tag too.
	encC, _ := srtp.CreateContext(key, salt, prof, srtp.Cryptex(srtp.CryptexModeEnabled))
	_, _, plainC := plainPacket(t, 4, testPkt{6, 1})
	bc, _ := encC.EncryptRTP(nil, plainC, nil)
	if _, res := oc.openRTP(make([]byte, len(bc)-1), bc); res != notOpened {
		t.Fatalf("cryptex with CSRCs into a short buffer: %d", res)
	}
	d := make([]byte, len(bc))
	if n, res := oc.openRTP(d, bc); res != opened || !bytes.Equal(d[:n], plainC) {
		t.Fatalf("cryptex with CSRCs: %d", res)
	}

	// The same with a valid element (id 1, 1 byte) opens.
	k.setNonce(4, 9)
	b = k.aead.Seal(b[:16], k.nonce[:], []byte{0x10, 0, 0, 0, 1, 2, 3}, b[:16])
	if _, err := ref.DecryptRTP(nil, b, nil); err != nil {
		t.Fatalf("Pion: %v", err)
	}
	if _, res := oc.openRTP(dst, b); res != opened {
		t.Fatalf("valid clear extension: %d", res)
	}
}

func TestSRTPGCMOpenNoAllocs(t *testing.T) {
	prof := srtp.ProtectionProfileAeadAes256Gcm
	key, salt := randomKeys(t, prof)
	enc, _ := srtp.CreateContext(key, salt, prof, srtp.Cryptex(srtp.CryptexModeEnabled))
	var pkts [][]byte
	for i := range 1002 { // AllocsPerRun warms up with one more run
		// Plain, cryptex, cryptex with CSRCs.
		_, _, plain := plainPacket(t, []int{0, 2, 4}[i%3], testPkt{5, uint16(i)})
		b, _ := enc.EncryptRTP(nil, plain, nil)
		pkts = append(pkts, b)
	}
	o := newGCMOpener(prof, key, salt, true)
	dst := make([]byte, maxPacket)
	o.openRTP(dst, pkts[0])
	i := 1
	if n := testing.AllocsPerRun(1000, func() {
		if _, res := o.openRTP(dst, pkts[i]); res != opened {
			t.Fatal("not opened")
		}
		i++
	}); n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

func TestSRTPKDFKnownAnswer(t *testing.T) {
	// RFC 3711 Appendix B.3 (AES-CM PRF, 14-byte salt).
	key := unhex(t, "E1F97A0D3E018BE0D64FA32C06DE4139")
	salt := unhex(t, "0EC675AD498AFEEBB6960B3AABE6")
	for _, c := range []struct {
		label byte
		n     int
		want  string
	}{
		{labelRTPKey, 16, "C61E7A93744F39EE10734AFE3FF7A087"},
		{labelRTPSalt, 14, "30CBBC08863D8C85D49DB34A9AE1"},
	} {
		out := make([]byte, c.n)
		if err := srtpKDF(key, salt, c.label, out); err != nil || !bytes.Equal(out, unhex(t, c.want)) {
			t.Errorf("label %d: %x, %v", c.label, out, err)
		}
	}
	if srtpKDF(key[:5], salt, 0, make([]byte, 16)) == nil {
		t.Error("bad master key accepted")
	}
}

func unhex(t testing.TB, s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			case c >= 'A' && c <= 'F':
				v |= byte(c - 'A' + 10)
			default:
				t.Fatalf("bad hex %q", s)
			}
		}
		b[i] = v
	}
	return b
}

// benchPacket is a typical forwarded video packet: TWCC extension and an
// 1,100-byte payload.
func benchPacket() (*rtp.Header, []byte) {
	h := &rtp.Header{Version: 2, PayloadType: 96, SSRC: 0x12345678, Timestamp: 90000}
	_ = h.SetExtension(3, []byte{0, 1})
	return h, bytes.Repeat([]byte{0x5a}, 1100)
}

func BenchmarkSealRTP(b *testing.B) {
	prof := srtp.ProtectionProfileAeadAes128Gcm
	key, salt := randomKeys(b, prof)
	s := newGCMSealer(prof, key, salt)
	h, pl := benchPacket()
	buf := make([]byte, maxPacket+64)
	b.SetBytes(int64(len(pl)))
	b.ReportAllocs()
	for b.Loop() {
		h.SequenceNumber++
		if _, ok := s.sealRTP(buf, h, pl); !ok {
			b.Fatal("not sealed")
		}
	}
}

// BenchmarkPionEncryptRTP is what srtpOut.write did: marshal, copy, and
// Pion's EncryptRTP in place.
func BenchmarkPionEncryptRTP(b *testing.B) {
	prof := srtp.ProtectionProfileAeadAes128Gcm
	key, salt := randomKeys(b, prof)
	ctx, _ := srtp.CreateContext(key, salt, prof)
	h, pl := benchPacket()
	buf := make([]byte, maxPacket+64)
	b.SetBytes(int64(len(pl)))
	b.ReportAllocs()
	for b.Loop() {
		h.SequenceNumber++
		n, err := h.MarshalTo(buf)
		if err != nil {
			b.Fatal(err)
		}
		n += copy(buf[n:], pl)
		if _, err := ctx.EncryptRTP(buf[:0], buf[:n], h); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStream is 4,096 consecutive packets of one SSRC, encrypted by
// Pion (with cryptex: the TWCC extension encrypted too).
func benchStream(b *testing.B, prof srtp.ProtectionProfile, cryptex bool) (key, salt []byte, pkts [][]byte) {
	key, salt = randomKeys(b, prof)
	enc, _ := srtp.CreateContext(key, salt, prof, cryptexOpts(cryptex)...)
	h, pl := benchPacket()
	for range 4096 {
		h.SequenceNumber++
		plain, _ := (&rtp.Packet{Header: *h, Payload: pl}).Marshal()
		p, err := enc.EncryptRTP(nil, plain, nil)
		if err != nil {
			b.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	return key, salt, pkts
}

func cryptexOpts(cryptex bool, opts ...srtp.ContextOption) []srtp.ContextOption {
	if cryptex {
		opts = append(opts, srtp.Cryptex(srtp.CryptexModeEnabled))
	}
	return opts
}

var cryptexModes = []struct {
	name string
	on   bool
}{{"plain", false}, {"cryptex", true}}

// openEach runs open over pkts round and round for the benchmark's loop,
// calling restart each time it starts over (a replay window refuses
// repeats).
func openEach(b *testing.B, pkts [][]byte, restart func(), open func(pkt []byte) error) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(pkts) {
			i = 0
			restart()
		}
		if err := open(pkts[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// errNotOpened: our opener refused a packet Pion sealed.
var errNotOpened = errors.New("not opened")

func BenchmarkOpenRTP(b *testing.B) {
	for _, m := range cryptexModes {
		b.Run(m.name, func(b *testing.B) {
			prof := srtp.ProtectionProfileAeadAes128Gcm
			key, salt, pkts := benchStream(b, prof, m.on)
			o := newGCMOpener(prof, key, salt, m.on)
			dst := make([]byte, maxPacket)
			b.SetBytes(1100)
			openEach(b, pkts, func() { o.ssrcs = o.ssrcs[:0] }, func(pkt []byte) error {
				if _, res := o.openRTP(dst, pkt); res != opened {
					return errNotOpened
				}
				return nil
			})
		})
	}
}

// BenchmarkPionDecryptRTP is what srtpIn.readRTP did (a fresh context
// every 4,096 packets lets the stream start over).
func BenchmarkPionDecryptRTP(b *testing.B) {
	for _, m := range cryptexModes {
		b.Run(m.name, func(b *testing.B) {
			prof := srtp.ProtectionProfileAeadAes128Gcm
			key, salt, pkts := benchStream(b, prof, m.on)
			opts := cryptexOpts(m.on, srtp.SRTPReplayProtection(64))
			ctx, _ := srtp.CreateContext(key, salt, prof, opts...)
			dst := make([]byte, maxPacket)
			b.SetBytes(1100)
			openEach(b, pkts, func() { ctx, _ = srtp.CreateContext(key, salt, prof, opts...) }, func(pkt []byte) error {
				_, err := ctx.DecryptRTP(dst[:0], pkt, nil)
				return err
			})
		})
	}
}
