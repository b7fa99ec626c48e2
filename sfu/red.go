package sfu

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// redPrimary returns the primary encoding of an RFC 2198 RED payload (the
// Opus packet a subscriber without RED gets): it skips the block headers
// (4 bytes each with the F bit set, then a 1-byte last header) and the
// redundant blocks they announce. It reports false on a malformed payload.
func redPrimary(b []byte) ([]byte, bool) {
	skip := 0
	i := 0
	for i < len(b) && b[i]&0x80 != 0 {
		if i+4 > len(b) {
			return nil, false
		}
		skip += int(b[i+2]&0x03)<<8 | int(b[i+3])
		i += 4
	}
	if i >= len(b) {
		return nil, false
	}
	i++ // the primary's header
	if i+skip > len(b) {
		return nil, false
	}
	return b[i+skip:], true
}

// redFirst is the audio codec order the SFU answers publishers with.
var redFirst = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
}

// preferRED puts RED ahead of Opus in the answer to a publisher whose offer
// has it: Chrome offers RED after Opus and sends it only when the answer
// prefers it. Pion refuses the preference (and answers as offered) when
// the offer has no RED. Call between SetRemoteDescription and CreateAnswer.
func preferRED(pc *webrtc.PeerConnection) {
	for _, tr := range pc.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			_ = tr.SetCodecPreferences(redFirst)
		}
	}
}

// preferVP8 moves VP8 to the front of each video section of a publisher's
// offer (Safari lists H.264 first) before the SFU answers it; Pion answers
// in the offer's order, so the publisher sends VP8. Every browser decodes
// VP8 (Safari since 12.1; a Firefox without its downloaded OpenH264 plugin
// has no H.264), so a room whose publishers offer VP8 is watchable by
// everyone; H.264 stays for publishers that offer nothing else. Only the
// order of payload types changes: codecs, payload numbers and every
// attribute stay as offered. (Pion's SetCodecPreferences would answer with
// the SFU's own payload numbers instead of the offer's.)
func preferVP8(offer webrtc.SessionDescription, parsed *sdp.SessionDescription) webrtc.SessionDescription {
	changed := false
	for _, md := range parsed.MediaDescriptions {
		if md.MediaName.Media != "video" {
			continue
		}
		var vp8, rest []string
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 8)
			if err != nil {
				rest = append(rest, f)
				continue
			}
			c, err := parsed.GetCodecForPayloadType(uint8(pt))
			if err == nil && strings.EqualFold(c.Name, "VP8") {
				vp8 = append(vp8, f)
			} else {
				rest = append(rest, f)
			}
		}
		if len(vp8) > 0 && len(rest) > 0 && md.MediaName.Formats[0] != vp8[0] {
			md.MediaName.Formats = append(vp8, rest...)
			changed = true
		}
	}
	if !changed {
		return offer
	}
	b, err := parsed.Marshal()
	if err != nil {
		return offer
	}
	return webrtc.SessionDescription{Type: offer.Type, SDP: string(b)}
}
