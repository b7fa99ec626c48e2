// Package rtpfields reads the few RTP header fields that per-packet
// feedback needs, and where the payload lies, straight from a packet's
// bytes.
package rtpfields

import "encoding/binary"

// Fields are the RTP header fields per-packet feedback needs: the SFU's
// feedback to publishers and loadgen's subscribers both read them from raw
// bytes, without allocating.
type Fields struct {
	Seq   uint16
	TS    uint32
	SSRC  uint32
	TWSeq uint16 // transport-wide sequence number, when HasTW
	HasTW bool
}

// Parse reads them from a raw RTP packet: fixed header, CSRCs,
// and the one-byte (RFC 8285 0xBEDE) or two-byte (0x100X) extension block
// for the transport-wide sequence number under id twID (0 = do not look).
func Parse(b []byte, twID uint8) (f Fields, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return f, false
	}
	f.Seq = binary.BigEndian.Uint16(b[2:4])
	f.TS = binary.BigEndian.Uint32(b[4:8])
	f.SSRC = binary.BigEndian.Uint32(b[8:12])
	end, ok := HeaderLen(b)
	if !ok {
		return f, false
	}
	if b[0]&0x10 == 0 || twID == 0 {
		return f, true
	}
	off := 12 + 4*int(b[0]&0x0f)
	profile := binary.BigEndian.Uint16(b[off : off+2])
	ext := b[off+4 : end]
	switch {
	case profile == 0xBEDE:
		for i := 0; i < len(ext); {
			id, l := ext[i]>>4, int(ext[i]&0x0f)+1
			if id == 0 { // padding byte
				i++
				continue
			}
			if id == 15 { // reserved: stop
				break
			}
			if i+1+l > len(ext) {
				return f, false
			}
			if id == twID && l >= 2 {
				f.TWSeq, f.HasTW = binary.BigEndian.Uint16(ext[i+1:]), true
			}
			i += 1 + l
		}
	case profile&0xfff0 == 0x1000:
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding byte
				i++
				continue
			}
			if i+2 > len(ext) {
				return f, false
			}
			id, l := ext[i], int(ext[i+1])
			if i+2+l > len(ext) {
				return f, false
			}
			if id == twID && l >= 2 {
				f.TWSeq, f.HasTW = binary.BigEndian.Uint16(ext[i+2:]), true
			}
			i += 2 + l
		}
	}
	return f, true
}

// HeaderLen is the length of b's RTP header: the fixed part, the CSRCs and
// the extension block; false when b is shorter than its header says.
func HeaderLen(b []byte) (int, bool) {
	if len(b) < 12 {
		return 0, false
	}
	n := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < n+4 {
			return 0, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:n+4]))
	}
	if len(b) < n {
		return 0, false
	}
	return n, true
}

// Payload is b's payload after a header of hl bytes (HeaderLen), without
// RTP padding; false when the padding claims more than follows the header.
func Payload(b []byte, hl int) ([]byte, bool) {
	end := len(b)
	if b[0]&0x20 != 0 {
		end -= int(b[end-1])
	}
	if end < hl {
		return nil, false
	}
	return b[hl:end], true
}
