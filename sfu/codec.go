package sfu

import (
	"log/slog"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

const (
	uriAudioLevel = sdp.AudioLevelURI
	uriTWCC       = sdp.TransportCCURI
	uriMid        = sdp.SDESMidURI
	uriRID        = sdp.SDESRTPStreamIDURI
)

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "ccm", Parameter: "fir"},
	{Type: "nack"},
	{Type: "nack", Parameter: "pli"},
	{Type: "transport-cc"},
}

// registerCodecs registers what the SFU forwards: VP8 (first, the default),
// H.264 constrained baseline (Safari), VP9, each with RTX; RED (RFC 2198,
// Opus primary) ahead of Opus with in-band FEC, so a client that offers RED
// (Chrome) sends its audio with redundancy; subscribers and local sinks
// without RED get the Opus primary (redPrimary). A relay (the origin end of
// a cascade) offers no RTX and no TWCC: it answers NACKs with the original
// packets and the link between nodes needs no estimate.
func registerCodecs(m *webrtc.MediaEngine, relay bool) error {
	video := []struct {
		mime, fmtp string
		pt         webrtc.PayloadType
	}{
		{webrtc.MimeTypeVP8, "", 96},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 108},
		{webrtc.MimeTypeVP9, "profile-id=0", 98},
	}
	for _, v := range video {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: v.mime, ClockRate: 90000, SDPFmtpLine: v.fmtp, RTCPFeedback: videoFeedback},
			PayloadType:        v.pt,
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
		if relay {
			continue
		}
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=" + itoa(int(v.pt))},
			PayloadType:        v.pt + 1,
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	audioFB := []webrtc.RTCPFeedback{{Type: "transport-cc"}}
	if relay {
		audioFB = nil
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeRED, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "111/111", RTCPFeedback: audioFB},
		PayloadType: 63,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: audioFB},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	if relay {
		if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
			return err
		}
		return m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uriAudioLevel}, webrtc.RTPCodecTypeAudio)
	}
	for _, typ := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uriTWCC}, typ); err != nil {
			return err
		}
	}
	return m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uriAudioLevel}, webrtc.RTPCodecTypeAudio)
}

const mimeRED = "audio/red"

// publishInterceptors: towards publishers the SFU generates NACKs,
// receiver reports and TWCC feedback (the browser's send-side estimation),
// all from one interceptor of its own (feedback.go). The MediaEngine still
// advertises transport-cc and its header extension exactly as Pion's TWCC
// sender setup does; only that setup's interceptor is left out.
func publishInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry, log *slog.Logger, built *fbBuilt) error {
	if err := webrtc.ConfigureTWCCSender(m, &interceptor.Registry{}); err != nil {
		return err
	}
	ir.Add(feedbackFactory{log: log, built: built})
	return webrtc.ConfigureSimulcastExtensionHeaders(m)
}

func codecKindOf(mime string) codecKind {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeVP8):
		return codecVP8
	case strings.ToLower(webrtc.MimeTypeVP9):
		return codecVP9
	case strings.ToLower(webrtc.MimeTypeH264):
		return codecH264
	case strings.ToLower(webrtc.MimeTypeOpus):
		return codecOpus
	case mimeRED:
		return codecRED
	}
	return codecOther
}

// layerRank orders simulcast layers: 0 low, 1 mid, 2 high; -1 unknown RID.
func layerRank(rid string) int {
	switch strings.ToLower(rid) {
	case "q", "l", "low", "0":
		return 0
	case "h", "m", "mid", "1":
		return 1
	case "f", "hi", "high", "2":
		return 2
	}
	return -1
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// fmtpParam returns one parameter of an fmtp line.
func fmtpParam(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// matchCodec picks the subscriber's codec for a published one: same MIME
// type and, for H.264, the same packetization mode and profile.
func matchCodec(want webrtc.RTPCodecCapability, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var fallback *webrtc.RTPCodecParameters
	for i := range have {
		c := have[i]
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if !strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) {
			return c, true
		}
		if fmtpParam(c.SDPFmtpLine, "packetization-mode") != fmtpParam(want.SDPFmtpLine, "packetization-mode") {
			continue
		}
		pw, pc := strings.ToLower(fmtpParam(want.SDPFmtpLine, "profile-level-id")), strings.ToLower(fmtpParam(c.SDPFmtpLine, "profile-level-id"))
		if len(pw) >= 4 && len(pc) >= 4 && pw[:4] == pc[:4] {
			return c, true
		}
		if fallback == nil {
			fallback = &have[i]
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// rtxPayloadType finds the RTX payload type associated with pt.
func rtxPayloadType(pt webrtc.PayloadType, have []webrtc.RTPCodecParameters) webrtc.PayloadType {
	apt := itoa(int(pt))
	for _, c := range have {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && fmtpParam(c.SDPFmtpLine, "apt") == apt {
			return c.PayloadType
		}
	}
	return 0
}

func extID(exts []webrtc.RTPHeaderExtensionParameter, uri string) uint8 {
	for _, e := range exts {
		if e.URI == uri {
			return uint8(e.ID)
		}
	}
	return 0
}
