package sfu

import "github.com/pion/webrtc/v4"

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
