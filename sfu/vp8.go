package sfu

// vp8Munger keeps a subscriber's VP8 picture IDs and TL0PICIDX continuous
// across layer and source switches (RFC 7741 §4.2): decoders and Chrome's
// frame-dependency tracking see one stream, not three interleaved ones.
// Owned by the egress worker.
type vp8Munger struct {
	picOff  uint16 // added to the source picture ID
	tl0Off  uint8  // added to the source TL0PICIDX
	lastPic uint16 // highest outgoing picture ID (15-bit space)
	lastTL0 uint8
	have    bool // lastPic/lastTL0 are set
	relock  bool // the next packet starts a new source: continue after last*
}

// vp8Fields locates the picture ID and TL0PICIDX in a VP8 payload
// descriptor: offsets into pl (-1 when absent) and whether the ID is 15-bit.
func vp8Fields(pl []byte) (picAt, tl0At int, wide bool) {
	picAt, tl0At = -1, -1
	if len(pl) < 2 || pl[0]&0x80 == 0 {
		return
	}
	x, i := pl[1], 2
	if x&0x80 != 0 && len(pl) > i {
		picAt = i
		if pl[i]&0x80 != 0 {
			wide = true
			i += 2
		} else {
			i++
		}
	}
	if x&0x40 != 0 && len(pl) > i {
		tl0At = i
	}
	if wide && picAt+1 >= len(pl) {
		picAt = -1
	}
	return
}

func vp8Pic(pl []byte, at int, wide bool) uint16 {
	if wide {
		return uint16(pl[at]&0x7f)<<8 | uint16(pl[at+1])
	}
	return uint16(pl[at] & 0x7f)
}

// next returns the offsets for this packet and updates the state.
func (m *vp8Munger) next(pl []byte) (picOff uint16, tl0Off uint8) {
	picAt, tl0At, wide := vp8Fields(pl)
	if picAt < 0 && tl0At < 0 {
		return m.picOff, m.tl0Off
	}
	mask := uint16(0x7f)
	if wide {
		mask = 0x7fff
	}
	if m.relock && m.have {
		if picAt >= 0 {
			m.picOff = (m.lastPic + 1 - vp8Pic(pl, picAt, wide)) & mask
		}
		if tl0At >= 0 {
			m.tl0Off = m.lastTL0 + 1 - pl[tl0At]
		}
	}
	m.relock = false
	if picAt >= 0 {
		out := (vp8Pic(pl, picAt, wide) + m.picOff) & mask
		// Newer (within half the ID space) or the first one.
		if !m.have || (out-m.lastPic)&mask < (mask+1)/2 {
			m.lastPic = out
		}
	}
	if tl0At >= 0 {
		out := pl[tl0At] + m.tl0Off
		if !m.have || int8(out-m.lastTL0) >= 0 {
			m.lastTL0 = out
		}
	}
	m.have = true
	return m.picOff, m.tl0Off
}

func (m *vp8Munger) continueFrom(prev *vp8Munger) {
	m.lastPic, m.lastTL0, m.have, m.relock = prev.lastPic, prev.lastTL0, prev.have, true
}

// mungeVP8 returns pl with the offsets applied, written into dst when
// anything changes (pl is shared between subscribers and never modified).
func mungeVP8(pl, dst []byte, picOff uint16, tl0Off uint8) []byte {
	if picOff == 0 && tl0Off == 0 {
		return pl
	}
	picAt, tl0At, wide := vp8Fields(pl)
	if picAt < 0 && tl0At < 0 || len(dst) < len(pl) {
		return pl
	}
	out := dst[:copy(dst, pl)]
	if picAt >= 0 {
		if wide {
			v := (vp8Pic(pl, picAt, true) + picOff) & 0x7fff
			out[picAt], out[picAt+1] = 0x80|byte(v>>8), byte(v)
		} else {
			out[picAt] = byte((vp8Pic(pl, picAt, false) + picOff) & 0x7f)
		}
	}
	if tl0At >= 0 {
		out[tl0At] += tl0Off
	}
	return out
}
