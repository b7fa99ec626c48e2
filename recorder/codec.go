package recorder

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// codec is a supported RTP payload format.
type codec int

const (
	codecOpus codec = iota
	codecVP8
	codecVP9
	codecH264
)

func codecOf(mime string) (codec, kind, bool) {
	switch strings.ToLower(mime) {
	case "audio/opus":
		return codecOpus, kindAudio, true
	case "video/vp8":
		return codecVP8, kindVideo, true
	case "video/vp9":
		return codecVP9, kindVideo, true
	case "video/h264":
		return codecH264, kindVideo, true
	}
	return 0, 0, false
}

// matroskaID is the Matroska CodecID.
func (c codec) matroskaID() string {
	return [...]string{"A_OPUS", "V_VP8", "V_VP9", "V_MPEG4/ISO/AVC"}[c]
}

// videoConfig is what a file's video track header needs; a keyframe with
// another codec or codec private data starts a new file so every file stays
// decodable. A new frame size alone does not (see sameStream).
type videoConfig struct {
	codec         codec
	width, height int    // 0 when the bitstream does not tell cheaply (H.264)
	private       []byte // CodecPrivate (avcC for H.264)
}

// sameStream reports whether frames of o may follow c's in one Matroska
// track: VP8 and VP9 keyframes carry their own size, so a simulcast layer
// switch or the encoder scaling its resolution continues in the same file
// (the header keeps the first size; ffmpeg and browsers follow the frames).
func (c *videoConfig) sameStream(o *videoConfig) bool {
	return c != nil && o != nil && c.codec == o.codec && bytes.Equal(c.private, o.private)
}

// headDepacketizer wraps a depacketizer: it calls every non-empty packet a
// partition head, because pion's samplebuilder, when it gives up on a gap and
// meets a frame whose first packet is lost, also discards the next packet
// (the head of the next, intact frame). It remembers whether the packet it
// last unmarshalled really starts a frame, for the packet head handler;
// popAll drops the frames that do not (or are not contiguous).
type headDepacketizer struct {
	codec codec
	inner rtp.Depacketizer
	head  bool
}

func newDepacketizer(c codec) *headDepacketizer {
	d := &headDepacketizer{codec: c}
	d.reset()
	return d
}

func (d *headDepacketizer) reset() {
	switch d.codec {
	case codecVP8:
		d.inner = &codecs.VP8Packet{}
	case codecVP9:
		d.inner = &codecs.VP9Packet{}
	case codecH264:
		d.inner = &codecs.H264Packet{}
	default:
		d.inner = &codecs.OpusPacket{}
	}
}

func (d *headDepacketizer) IsPartitionHead(payload []byte) bool { return len(payload) > 0 }

func (d *headDepacketizer) IsPartitionTail(marker bool, payload []byte) bool {
	return d.inner.IsPartitionTail(marker, payload)
}

func (d *headDepacketizer) Unmarshal(payload []byte) ([]byte, error) {
	switch d.codec {
	case codecVP8:
		d.head = len(payload) > 0 && payload[0]&0x10 != 0 && payload[0]&0x0f == 0 // S=1, PID=0
	case codecH264:
		d.head = d.inner.IsPartitionHead(payload)
		if d.head {
			// A frame whose FU-A end was lost leaves fragments in pion's
			// buffer that would corrupt the next frame: start clean.
			d.reset()
		}
	default:
		d.head = d.inner.IsPartitionHead(payload)
	}
	return d.inner.Unmarshal(payload)
}

// startsFrame is the samplebuilder's packet head handler: it sees the
// depacketizer right after it parsed a sample's first packet.
func startsFrame(d any) any {
	h, ok := d.(*headDepacketizer)
	return ok && h.head
}

// inspectVideo reports whether a depacketized frame is a keyframe and, for a
// keyframe, the file config it needs. For H.264 it also converts Annex-B to
// the length-prefixed form Matroska stores.
func inspectVideo(c codec, data []byte) (key bool, cfg *videoConfig, out []byte) {
	switch c {
	case codecVP8:
		k, w, h := vp8Keyframe(data)
		if k {
			cfg = &videoConfig{codec: c, width: w, height: h}
		}
		return k, cfg, data
	case codecVP9:
		k, w, h := vp9Keyframe(data)
		if k {
			cfg = &videoConfig{codec: c, width: w, height: h}
		}
		return k, cfg, data
	case codecH264:
		return h264Frame(data)
	}
	return false, nil, data
}

// vp9Keyframe parses the start of a VP9 uncompressed header (VP9 bitstream
// spec §6.2) for profile 0-3: frame type and, for a keyframe, the size.
func vp9Keyframe(b []byte) (key bool, width, height int) {
	r := bitReader{b: b}
	if r.bits(2) != 2 { // frame_marker
		return false, 0, 0
	}
	lo, hi := r.bits(1), r.bits(1)
	profile := hi<<1 | lo
	if profile == 3 {
		r.bits(1)
	}
	if r.bits(1) == 1 { // show_existing_frame
		return false, 0, 0
	}
	if r.bits(1) != 0 { // frame_type: 0 = KEY_FRAME
		return false, 0, 0
	}
	r.bits(2) // show_frame, error_resilient_mode
	if r.bits(24) != 0x498342 {
		return false, 0, 0
	}
	if profile >= 2 {
		r.bits(1) // ten_or_twelve_bit
	}
	if cs := r.bits(3); cs != 7 { // color_space != CS_RGB
		r.bits(1) // color_range
		if profile == 1 || profile == 3 {
			r.bits(3)
		}
	} else if profile == 1 || profile == 3 {
		r.bits(1)
	}
	w, h := r.bits(16)+1, r.bits(16)+1
	if r.err {
		return true, 0, 0
	}
	return true, int(w), int(h)
}

type bitReader struct {
	b   []byte
	pos int // bit position
	err bool
}

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		if r.pos/8 >= len(r.b) {
			r.err = true
			return 0
		}
		v = v<<1 | uint32(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

// h264Frame splits an Annex-B access unit into NAL units, converts it to
// 4-byte length prefixes and, for an IDR carrying SPS and PPS (browsers send
// them with every IDR), builds the avcC record. An IDR without them is not
// treated as a keyframe: the file cannot start there.
func h264Frame(data []byte) (key bool, cfg *videoConfig, out []byte) {
	var sps, pps []byte
	idr := false
	out = make([]byte, 0, len(data)+16)
	for _, n := range splitAnnexB(data) {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case 5:
			idr = true
		case 7:
			sps = n
		case 8:
			pps = n
		case 9: // access unit delimiter: not stored in Matroska
			continue
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
	}
	if !idr || len(sps) < 4 || len(pps) == 0 {
		return false, nil, out
	}
	avcC := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	avcC = binary.BigEndian.AppendUint16(avcC, uint16(len(sps)))
	avcC = append(avcC, sps...)
	avcC = append(avcC, 1)
	avcC = binary.BigEndian.AppendUint16(avcC, uint16(len(pps)))
	avcC = append(avcC, pps...)
	return true, &videoConfig{codec: codecH264, private: avcC}, out
}

func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				out = append(out, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}
