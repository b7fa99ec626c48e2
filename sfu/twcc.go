package sfu

import (
	"encoding/binary"
	"time"

	"github.com/pion/rtcp"
)

// Transport-wide congestion control feedback (draft-holmer-rmcat-
// transport-wide-cc-extensions-01, RTPFB FMT 15), read in place. Pion's
// parser allocates a chunk and a delta object per packet reported; with
// every viewer sending ten feedbacks a second that was a fifth of all the
// SFU's allocations.

const (
	twccFMT         = 15
	twccHeaderLen   = 20 // RTCP header, two SSRCs, base, count, reference time, feedback count
	twccNotReceived = 0
	twccSmallDelta  = 1 // one unsigned byte of 250 µs
	twccLargeDelta  = 2 // two signed bytes of 250 µs
)

// eachRTCP walks a compound RTCP packet: TWCC feedback (most of what a
// viewer sends) goes to tw raw, for twccReader; the rest is parsed packet
// by packet for other. It returns how many parts were malformed.
func eachRTCP(b []byte, tw func([]byte), other func(rtcp.Packet)) (bad int) {
	for len(b) >= 4 {
		l := 4 * (int(binary.BigEndian.Uint16(b[2:4])) + 1)
		if l > len(b) {
			return bad + 1
		}
		pk := b[:l]
		b = b[l:]
		if isTWCC(pk) {
			tw(pk)
			continue
		}
		pkts, err := rtcp.Unmarshal(pk)
		if err != nil {
			bad++
			continue
		}
		for _, p := range pkts {
			other(p)
		}
	}
	return bad
}

// isTWCC tells a TWCC feedback packet from other RTCP (one packet of a
// compound, its length already checked).
func isTWCC(b []byte) bool { return len(b) >= twccHeaderLen && b[1] == 205 && b[0]&0x1f == twccFMT }

// twccReader walks a feedback's packet statuses in order with their
// arrival deltas.
type twccReader struct {
	base  uint16
	ref   uint32 // 24-bit reference time in 64 ms units
	b     []byte // the packet without padding
	left  int    // statuses still to read
	cp    int    // next chunk
	dp    int    // next delta
	chunk uint16 // the chunk being read
	ci    int    // its next symbol
	cn    int    // its symbols

	sym   uint16 // the status just read
	delta int64  // its arrival delta (ns), for received ones
}

// parseTWCC checks b's header and finds where the deltas start.
func parseTWCC(b []byte) (twccReader, bool) {
	if !isTWCC(b) {
		return twccReader{}, false
	}
	l := 4 * (int(binary.BigEndian.Uint16(b[2:4])) + 1)
	if l > len(b) {
		return twccReader{}, false
	}
	b = b[:l]
	if b[0]&0x20 != 0 { // padding: its count is the last byte
		pad := int(b[len(b)-1])
		if pad == 0 || pad > len(b)-twccHeaderLen {
			return twccReader{}, false
		}
		b = b[:len(b)-pad]
	}
	r := twccReader{base: binary.BigEndian.Uint16(b[12:14]), b: b, cp: twccHeaderLen,
		left: int(binary.BigEndian.Uint16(b[14:16])),
		ref:  uint32(b[16])<<16 | uint32(b[17])<<8 | uint32(b[18])}
	// The deltas follow the chunks that cover all statuses.
	p := twccHeaderLen
	for n := 0; n < r.left; p += 2 {
		if p+2 > len(b) {
			return twccReader{}, false
		}
		n += chunkLen(binary.BigEndian.Uint16(b[p:]))
	}
	r.dp = p
	return r, true
}

// chunkLen is how many statuses a chunk carries.
func chunkLen(c uint16) int {
	switch {
	case c&0x8000 == 0:
		return int(c & 0x1fff) // run length
	case c&0x4000 == 0:
		return 14 // one-bit symbols
	default:
		return 7 // two-bit symbols
	}
}

// next reads the next status into sym and delta; false at the end or at a
// truncated delta.
func (r *twccReader) next() bool {
	for r.ci >= r.cn {
		if r.left <= 0 || r.cp+2 > r.dp {
			return false
		}
		r.chunk = binary.BigEndian.Uint16(r.b[r.cp:])
		r.cp += 2
		r.ci, r.cn = 0, min(chunkLen(r.chunk), r.left)
	}
	c := r.chunk
	switch {
	case c&0x8000 == 0:
		r.sym = c >> 13 & 3
	case c&0x4000 == 0:
		r.sym = c >> (13 - r.ci) & 1
	default:
		r.sym = c >> (12 - 2*r.ci) & 3
	}
	r.ci++
	r.left--
	r.delta = 0
	switch r.sym {
	case twccSmallDelta:
		if r.dp >= len(r.b) {
			return false
		}
		r.delta = int64(r.b[r.dp]) * 250 * int64(time.Microsecond)
		r.dp++
	case twccLargeDelta:
		if r.dp+2 > len(r.b) {
			return false
		}
		r.delta = int64(int16(binary.BigEndian.Uint16(r.b[r.dp:]))) * 250 * int64(time.Microsecond)
		r.dp += 2
	}
	return true
}
