package sfu

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// maxPacket bounds a received RTP packet; larger ones are dropped (a
// browser never sends more than ~1200 bytes).
const maxPacket = 1500

// pkt is one received RTP packet, parsed once by the track reader and shared
// read-only by every subscriber queue and the layer's retransmission cache.
// It returns to the pool when the last reference is released.
type pkt struct {
	refs atomic.Int32

	buf [maxPacket]byte
	n   int // bytes in buf

	// Parsed by parse; immutable afterwards.
	seq        uint16
	ts         uint32
	marker     bool
	payStart   int // payload offset in buf
	payEnd     int // payload end (padding excluded)
	keyframe   bool
	frameStart bool  // first packet of a frame (VP8 S bit, H.264 FU start, ...)
	audioLevel uint8 // RFC 6464 level (0 loud .. 127 silent); 127 when absent
	voice      bool  // RFC 6464 V bit
	width      uint16
	height     uint16 // from a VP8 keyframe header; 0 when unknown
	arrival    int64  // monotonic ns (sfuClock)
	layer      int8   // simulcast layer index it was read on (set with arrival)
}

var pktPool = sync.Pool{New: func() any { return new(pkt) }}

func getPkt() *pkt {
	p := pktPool.Get().(*pkt)
	p.refs.Store(1)
	return p
}

func (p *pkt) retain() { p.refs.Add(1) }

func (p *pkt) release() {
	if p.refs.Add(-1) == 0 {
		pktPool.Put(p)
	}
}

func (p *pkt) payload() []byte { return p.buf[p.payStart:p.payEnd] }
func (p *pkt) size() int       { return p.n }

// parse validates the RTP header and the codec payload. It never allocates.
// audioLevelID is the negotiated RFC 6464 extension id (0 = none).
func (p *pkt) parse(c codecKind, audioLevelID uint8) bool {
	b := p.buf[:p.n]
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	cc := int(b[0] & 0x0f)
	p.marker = b[1]&0x80 != 0
	p.seq = binary.BigEndian.Uint16(b[2:4])
	p.ts = binary.BigEndian.Uint32(b[4:8])
	off := 12 + 4*cc
	if len(b) < off {
		return false
	}
	p.audioLevel, p.voice = 127, false
	if b[0]&0x10 != 0 { // header extension
		if len(b) < off+4 {
			return false
		}
		profile := binary.BigEndian.Uint16(b[off:])
		extLen := 4 * int(binary.BigEndian.Uint16(b[off+2:]))
		ext := b[off+4:]
		if len(ext) < extLen {
			return false
		}
		if profile == 0xBEDE && audioLevelID != 0 {
			p.scanOneByte(ext[:extLen], audioLevelID)
		}
		off += 4 + extLen
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding
		if end <= off {
			return false
		}
		pad := int(b[end-1])
		if pad == 0 || end-pad < off {
			return false
		}
		end -= pad
	}
	p.payStart, p.payEnd = off, end
	p.keyframe, p.frameStart, p.width, p.height = false, false, 0, 0
	return p.parsePayload(c, b[off:end])
}

func (p *pkt) scanOneByte(ext []byte, want uint8) {
	for i := 0; i < len(ext); {
		if ext[i] == 0 { // padding
			i++
			continue
		}
		id, l := ext[i]>>4, int(ext[i]&0x0f)+1
		if id == 15 || i+1+l > len(ext) {
			return
		}
		if id == want {
			p.voice = ext[i+1]&0x80 != 0
			p.audioLevel = ext[i+1] & 0x7f
			return
		}
		i += 1 + l
	}
}

// codecKind selects the payload checks and the keyframe detector.
type codecKind uint8

const (
	codecOther codecKind = iota
	codecVP8
	codecVP9
	codecH264
	codecOpus
	codecRED
)

// parsePayload sanity-checks the payload (hostile publishers send garbage)
// and finds keyframes and frame starts.
func (p *pkt) parsePayload(c codecKind, pl []byte) bool {
	if len(pl) == 0 {
		// Empty payloads are padding-only probes; nothing to forward.
		return false
	}
	switch c {
	case codecVP8:
		return p.parseVP8(pl)
	case codecVP9:
		return p.parseVP9(pl)
	case codecH264:
		return p.parseH264(pl)
	case codecOpus:
		return len(pl) <= 1275+7
	case codecRED:
		prim, ok := redPrimary(pl)
		return ok && len(prim) <= 1275+7
	}
	return true
}

func (p *pkt) parseVP8(pl []byte) bool {
	// RFC 7741 payload descriptor; reserved bits must be zero.
	if pl[0]&0x48 != 0 {
		return false
	}
	i := 1
	if pl[0]&0x80 != 0 { // X
		if len(pl) < 2 || pl[1]&0x0f != 0 {
			return false
		}
		x := pl[1]
		i = 2
		if x&0x80 != 0 { // I: picture id
			if len(pl) <= i {
				return false
			}
			if pl[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: tl0picidx
			i++
		}
		if x&0x30 != 0 { // T or K
			i++
		}
	}
	if len(pl) <= i {
		return false
	}
	start := pl[0]&0x10 != 0 && pl[0]&0x07 == 0
	p.frameStart = start
	if start {
		h := pl[i:]
		if len(h) < 3 || (h[0]>>1)&0x07 > 3 { // frame tag: version 0..3
			return false
		}
		if h[0]&0x01 == 0 { // P bit clear: keyframe
			if len(h) < 10 || h[3] != 0x9d || h[4] != 0x01 || h[5] != 0x2a {
				return false
			}
			p.keyframe = true
			p.width = binary.LittleEndian.Uint16(h[6:]) & 0x3fff
			p.height = binary.LittleEndian.Uint16(h[8:]) & 0x3fff
		}
	}
	return true
}

func (p *pkt) parseVP9(pl []byte) bool {
	// draft-ietf-payload-vp9: I P L F B E V Z
	d := pl[0]
	p.frameStart = d&0x08 != 0
	i := 1
	if d&0x80 != 0 { // picture id
		if len(pl) <= i {
			return false
		}
		if pl[i]&0x80 != 0 {
			i += 2
		} else {
			i++
		}
	}
	if d&0x20 != 0 { // layer indices
		i++
		if d&0x10 == 0 { // non-flexible: TL0PICIDX
			i++
		}
	}
	if len(pl) < i {
		return false
	}
	// Not inter-predicted, start of frame, spatial layer 0.
	sid := uint8(0)
	if d&0x20 != 0 && len(pl) > 1 {
		lb := 1
		if d&0x80 != 0 {
			lb++
			if pl[1]&0x80 != 0 {
				lb++
			}
		}
		if lb < len(pl) {
			sid = (pl[lb] >> 1) & 0x07
		}
	}
	p.keyframe = d&0x40 == 0 && p.frameStart && sid == 0
	return true
}

func (p *pkt) parseH264(pl []byte) bool {
	if pl[0]&0x80 != 0 { // forbidden zero bit
		return false
	}
	switch t := pl[0] & 0x1f; {
	case t >= 1 && t <= 23:
		p.frameStart = true
		p.keyframe = t == 5 || t == 7
	case t == 24: // STAP-A
		p.frameStart = true
		for i := 1; i+2 < len(pl); {
			n := int(binary.BigEndian.Uint16(pl[i:]))
			if n == 0 || i+2+n > len(pl) {
				return false
			}
			if nt := pl[i+2] & 0x1f; nt == 5 || nt == 7 {
				p.keyframe = true
			}
			i += 2 + n
		}
	case t == 28: // FU-A
		if len(pl) < 2 {
			return false
		}
		if pl[1]&0x80 != 0 {
			p.frameStart = true
			p.keyframe = pl[1]&0x1f == 5
		}
	default:
		return false
	}
	return true
}

// packetCache keeps the last packets of one layer for retransmission,
// indexed by source sequence number. It holds one reference per packet.
type packetCache struct {
	mu    sync.Mutex
	slots []*pkt
}

func newPacketCache(n int) *packetCache { return &packetCache{slots: make([]*pkt, n)} }

func (c *packetCache) put(p *pkt) {
	p.retain()
	i := int(p.seq) % len(c.slots)
	c.mu.Lock()
	old := c.slots[i]
	c.slots[i] = p
	c.mu.Unlock()
	if old != nil {
		old.release()
	}
}

// get returns the packet with this sequence number, retained, or nil.
func (c *packetCache) get(seq uint16) *pkt {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.slots[int(seq)%len(c.slots)]
	if p == nil || p.seq != seq {
		return nil
	}
	p.retain()
	return p
}

func (c *packetCache) clear() {
	c.mu.Lock()
	slots := c.slots
	c.slots = make([]*pkt, len(slots))
	c.mu.Unlock()
	for _, p := range slots {
		if p != nil {
			p.release()
		}
	}
}
