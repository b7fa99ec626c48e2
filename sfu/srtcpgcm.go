package sfu

import (
	"encoding/binary"

	"github.com/pion/srtp/v3"
)

// SRTCP with the AEAD-AES-GCM profiles (RFC 7714 §9, §17), receipt only:
// a subscriber's feedback on the direct path. Pion's Context spent more on
// its replay detector (a multi-word shift per packet), per-SSRC map and
// allocations than on AES-GCM itself.

// srtcpTrailer is the E flag and 31-bit SRTCP index after the tag (no MKI).
const srtcpTrailer = 4

const srtcpE = 1 << 31 // the E flag in the trailer: payload encrypted

// gcmRTCPOpener checks and decrypts SRTCP with a 64-packet replay window
// per sender SSRC, accepting and rejecting what Pion's Context with
// SRTCPReplayProtection(64) does. One goroutine only.
type gcmRTCPOpener struct {
	gcmKeys             // the SRTCP session key and salt
	ssrcs   []rtcpIndex // a handful per subscriber; latest first
	aad     [12]byte    // header ‖ E ‖ index (encrypted packets)
}

type rtcpIndex struct {
	ssrc uint32
	top  uint32 // highest index accepted (the replay window's head)
	seen uint64 // bit i: index top-i accepted
}

func newGCMRTCPOpener(profile srtp.ProtectionProfile, masterKey, masterSalt []byte) *gcmRTCPOpener {
	o := &gcmRTCPOpener{}
	if !o.initLabels(profile, masterKey, masterSalt, labelRTCPKey, labelRTCPSalt) {
		return nil
	}
	return o
}

// setRTCPNonce builds the IV of RFC 7714 §9.1: 00 00 ‖ SSRC ‖ 00 00 ‖ 0 ‖
// index, XOR the SRTCP session salt.
func (k *gcmKeys) setRTCPNonce(ssrc, index uint32) {
	n := &k.nonce
	n[0], n[1], n[6], n[7] = 0, 0, 0, 0
	binary.BigEndian.PutUint32(n[2:6], ssrc)
	binary.BigEndian.PutUint32(n[8:12], index)
	for i := range n {
		n[i] ^= k.salt[i]
	}
}

// openRTCP decrypts the SRTCP packet b into dst and returns the length of
// the clear compound packet; b is left as it was. Checks run in Pion's
// order (header, length, replay, tag), and the window moves only for
// packets whose tag verifies.
func (o *gcmRTCPOpener) openRTCP(dst, b []byte) (int, openResult) {
	// Pion's floor: header, tag and trailer (and rtcp.Header's version).
	if len(b) < 8+gcmTagLen+srtcpTrailer || b[0]>>6 != 2 {
		return 0, notOpened
	}
	end := len(b) - srtcpTrailer
	word := binary.BigEndian.Uint32(b[end:])
	idx := word &^ srtcpE
	ssrc := binary.BigEndian.Uint32(b[4:8]) // the first packet's sender SSRC
	var e *rtcpIndex
	for i := range o.ssrcs {
		if o.ssrcs[i].ssrc == ssrc {
			e = toFront(o.ssrcs, i)
			break
		}
	}
	// A new SSRC's window (Pion's: head 0, empty) passes any index.
	if e != nil && idx <= e.top && (e.top-idx >= replayWindow || e.seen>>(e.top-idx)&1 != 0) {
		return 0, replayed
	}
	n := end - gcmTagLen
	if n+srtcpTrailer > len(dst) || overlaps(dst[:n+srtcpTrailer], b) {
		return 0, notOpened
	}
	o.setRTCPNonce(ssrc, idx)
	if word&srtcpE != 0 {
		copy(o.aad[:8], b[:8])
		binary.BigEndian.PutUint32(o.aad[8:], word)
		if _, err := o.aead.Open(dst[8:8], o.nonce[:], b[8:end], o.aad[:]); err != nil {
			return 0, notOpened
		}
		copy(dst[:8], b[:8])
	} else {
		// Authenticated only (RFC 7714 §17): the AAD is the whole clear
		// packet ‖ the trailer, laid out in dst to spare an allocation.
		copy(dst, b[:n])
		copy(dst[n:], b[end:])
		if _, err := o.aead.Open(nil, o.nonce[:], b[n:end], dst[:n+srtcpTrailer]); err != nil {
			return 0, notOpened
		}
	}
	if e == nil {
		o.ssrcs = pushFront(o.ssrcs, rtcpIndex{ssrc: ssrc, top: idx, seen: 1})
	} else {
		acceptIndex(&e.top, &e.seen, idx)
	}
	return n, opened
}
