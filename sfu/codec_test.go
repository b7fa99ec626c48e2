package sfu_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"jobhall/sfu"
)

var (
	opusCodec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000,
		Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}
	redCodec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000,
		Channels: 2, SDPFmtpLine: "111/111"}, PayloadType: 63}
	vp8Codec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	vp9Codec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000,
		SDPFmtpLine: "profile-id=0"}, PayloadType: 98}
)

// registerAll registers codecs in order (the first of a kind is preferred).
func registerAll(cs ...webrtc.RTPCodecParameters) func(*webrtc.MediaEngine) error {
	return func(m *webrtc.MediaEngine) error {
		for _, c := range cs {
			kind := webrtc.RTPCodecTypeVideo
			if strings.HasPrefix(c.MimeType, "audio/") {
				kind = webrtc.RTPCodecTypeAudio
			}
			if err := m.RegisterCodec(c, kind); err != nil {
				return err
			}
		}
		return nil
	}
}

// A VP9-only publisher negotiates VP9 and is forwarded intact.
func TestVnetVP9(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-vp9")
	e.codecs = map[string]func(*webrtc.MediaEngine) error{"A": registerAll(vp9Codec, opusCodec)}
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	sb := watch(b)
	a.publishWith([]layerSpec{{"", 300_000}}, pubOpts{video: webrtc.MimeTypeVP9})
	e.waitFor("B to receive A's VP9 video", func() bool {
		rt := b.track("A", webrtc.RTPCodecTypeVideo)
		return rt != nil && rt.packets.Load() > 50
	})
	rt := b.track("A", webrtc.RTPCodecTypeVideo)
	if got := rt.track.Codec().MimeType; got != webrtc.MimeTypeVP9 {
		t.Fatalf("B got %s, want VP9", got)
	}
	missing, total := sb("A", webrtc.RTPCodecTypeVideo).missing(10)
	if rt.bad.Load() > 0 || missing > 0 {
		t.Fatalf("VP9 stream: %d bad packets, %d of %d missing", rt.bad.Load(), missing, total)
	}
}

// parseRED checks an RFC 2198 payload as the test publisher builds it
// (one redundant block, then the primary) and returns the primary.
func parseRED(p []byte) ([]byte, bool) {
	if len(p) < 5 || p[0] != 0x80|111 || p[4] != 111 {
		return nil, false
	}
	n := int(p[2]&0x03)<<8 | int(p[3])
	if len(p) < 5+n {
		return nil, false
	}
	return p[5+n:], true
}

// A publisher that sends RED (redundant Opus) reaches a subscriber that
// offers RED as RED, payload intact; Opus with in-band FEC stays what
// the SFU negotiates for plain Opus.
func TestVnetRED(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-red")
	both := registerAll(vp8Codec, redCodec, opusCodec)
	e.codecs = map[string]func(*webrtc.MediaEngine) error{"A": both, "B": both}
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	b.onPacket = func(rt *recvTrack, p *rtp.Packet) bool {
		if rt.kind == webrtc.RTPCodecTypeVideo {
			return true
		}
		prim, ok := parseRED(p.Payload)
		if !ok || len(prim) == 0 || prim[0] != 0xfc {
			return false
		}
		m, ok := parseMark(prim, 1)
		return ok && m.who == "A"
	}
	a.publishWith([]layerSpec{{"", 200_000}}, pubOpts{red: true})
	e.waitFor("B to receive A's RED audio", func() bool {
		rt := b.track("A", webrtc.RTPCodecTypeAudio)
		return rt != nil && rt.packets.Load() > 50
	})
	rt := b.track("A", webrtc.RTPCodecTypeAudio)
	if got := rt.track.Codec().MimeType; !strings.EqualFold(got, "audio/red") {
		t.Fatalf("B got %s, want audio/red", got)
	}
	if rt.bad.Load() > 0 {
		t.Fatalf("%d malformed RED packets reached B", rt.bad.Load())
	}
	if sdp := a.pub.RemoteDescription().SDP; !strings.Contains(sdp, "red/48000/2") {
		t.Fatalf("the publish answer has no RED:\n%s", sdp)
	}
}

// The Opus the SFU negotiates carries in-band FEC (useinbandfec=1) both
// in the publish answer and in the subscriber offer.
func TestOpusInbandFEC(t *testing.T) {
	defer goleakCheck(t)
	e := newEnv(t)
	defer e.close()
	room := e.sfu.Room("r-fec")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	a.publish()
	e.waitFor("B to receive A", func() bool { return b.receiving("A", 2, minPackets) })
	for name, sdp := range map[string]string{"publish answer": a.pub.RemoteDescription().SDP, "subscriber offer": b.sub.RemoteDescription().SDP} {
		if fmtp := opusFmtp(sdp); !strings.Contains(fmtp, "useinbandfec=1") {
			t.Errorf("%s: Opus fmtp %q lacks useinbandfec=1", name, fmtp)
		}
	}
}

// opusFmtp returns the fmtp line of the first Opus payload type in sdp.
func opusFmtp(sdp string) string {
	pt := ""
	for _, l := range strings.Split(sdp, "\r\n") {
		if rest, ok := strings.CutPrefix(l, "a=rtpmap:"); ok && strings.Contains(strings.ToLower(rest), "opus/48000") {
			pt, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	for _, l := range strings.Split(sdp, "\r\n") {
		if rest, ok := strings.CutPrefix(l, "a=fmtp:"+pt+" "); ok && pt != "" {
			return rest
		}
	}
	return ""
}

// A subscriber that does not offer RED still gets a RED publisher's audio,
// as plain Opus (the primary encoding), and its video.
func TestVnetREDToOpusOnly(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "C": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-red-opus")
	e.codecs = map[string]func(*webrtc.MediaEngine) error{"A": registerAll(vp8Codec, redCodec, opusCodec), "C": registerAll(vp8Codec, opusCodec)}
	a := e.join(room, "A", true, false)
	c := e.join(room, "C", false, true)
	c.onPacket = func(rt *recvTrack, p *rtp.Packet) bool {
		if rt.kind == webrtc.RTPCodecTypeVideo {
			return true
		}
		m, ok := parseMark(p.Payload, 1)
		return ok && p.Payload[0] == 0xfc && m.who == "A"
	}
	rec := &opusSinks{}
	defer room.AddLocalSubscriber(rec)()
	a.publishWith([]layerSpec{{"", 200_000}}, pubOpts{red: true})
	e.waitFor("C to receive A's audio and video", func() bool {
		ra, rv := c.track("A", webrtc.RTPCodecTypeAudio), c.track("A", webrtc.RTPCodecTypeVideo)
		return ra != nil && rv != nil && ra.packets.Load() > 50 && rv.packets.Load() > 20
	})
	ra := c.track("A", webrtc.RTPCodecTypeAudio)
	if got := ra.track.Codec().MimeType; got != webrtc.MimeTypeOpus {
		t.Fatalf("C got %s, want Opus", got)
	}
	if ra.bad.Load() > 0 {
		t.Fatalf("%d audio packets were not plain Opus", ra.bad.Load())
	}
	// A local sink (the recorder) is told Opus and gets plain Opus too.
	e.waitFor("the local sink's audio", func() bool { return rec.good.Load() > 20 })
	if rec.mime.Load() != webrtc.MimeTypeOpus || rec.bad.Load() > 0 {
		t.Fatalf("local sink: %v, %d bad packets", rec.mime.Load(), rec.bad.Load())
	}
}

// opusSinks checks the audio a local subscriber gets.
type opusSinks struct {
	mime      atomic.Value
	good, bad atomic.Int64
}

func (o *opusSinks) AddTrack(info sfu.TrackInfo, _ func()) sfu.LocalTrackSink {
	if info.Kind != "audio" {
		return nil
	}
	o.mime.Store(info.MimeType)
	return o
}

func (o *opusSinks) WriteRTP(p *rtp.Packet) error {
	if m, ok := parseMark(p.Payload, 1); ok && p.Payload[0] == 0xfc && m.who == "A" {
		o.good.Add(1)
	} else {
		o.bad.Add(1)
	}
	return nil
}

func (o *opusSinks) Close() {}

// A publisher that offers RED after Opus (as Chrome does) gets an answer
// that prefers RED; one that does not offer it gets plain Opus.
func TestAnswerPrefersRED(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-red-pref")
	e.codecs = map[string]func(*webrtc.MediaEngine) error{"A": registerAll(vp8Codec, opusCodec, redCodec), "B": registerAll(vp8Codec, opusCodec)}
	for id, want := range map[string]string{"A": "red/48000/2", "B": "opus/48000/2"} {
		c := e.join(room, id, true, false)
		c.publishWith([]layerSpec{{"", 100_000}}, pubOpts{})
		if got := firstAudioCodec(c.pub.RemoteDescription().SDP); got != want {
			t.Errorf("%s: the answer's first audio codec is %q, want %q", id, got, want)
		}
	}
}

// firstAudioCodec is the rtpmap of the audio section's first payload type.
func firstAudioCodec(sdp string) string {
	pt := ""
	for _, l := range strings.Split(sdp, "\r\n") {
		if rest, ok := strings.CutPrefix(l, "m=audio "); ok {
			if f := strings.Fields(rest); len(f) > 2 {
				pt = f[2]
			}
		}
		if rest, ok := strings.CutPrefix(l, "a=rtpmap:"+pt+" "); ok && pt != "" {
			return rest
		}
	}
	return ""
}

// A publisher that offers H.264 before VP8 (as Safari does) is answered
// with VP8 first, so viewers without H.264 can watch it; one that offers
// only H.264 still gets H.264 (TestVnetH264Only).
func TestAnswerPrefersVP8(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-vp8-pref")
	h264 := webrtc.RTPCodecParameters{RTPCodecCapability: h264Cap, PayloadType: 102}
	e.codecs = map[string]func(*webrtc.MediaEngine) error{"A": registerAll(h264, vp8Codec, opusCodec)}
	c := e.join(room, "A", true, false)
	c.publishWith([]layerSpec{{"", 100_000}}, pubOpts{})
	if got := firstCodec(c.pub.RemoteDescription().SDP, "video"); got != "VP8/90000" {
		t.Errorf("the answer's first video codec is %q, want VP8/90000", got)
	}
}

// firstCodec is the rtpmap of the first payload type of the first m=kind section.
func firstCodec(sdp, kind string) string {
	pt := ""
	for _, l := range strings.Split(sdp, "\r\n") {
		if rest, ok := strings.CutPrefix(l, "m="+kind+" "); ok && pt == "" {
			if f := strings.Fields(rest); len(f) > 2 {
				pt = f[2]
			}
		}
		if rest, ok := strings.CutPrefix(l, "a=rtpmap:"+pt+" "); ok && pt != "" {
			return rest
		}
	}
	return ""
}
