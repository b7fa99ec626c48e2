package sfu_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"jobhall/sfu"
)

func goleakCheck(t *testing.T) { goleak.VerifyNone(t) }

// link shapes what a client receives (vnet filters act on inbound traffic).
type link struct {
	lossPct    int
	rateBps    int   // 0 = unlimited
	queueBytes int64 // bottleneck queue
}

var testStart = time.Now()

func sinceStart() int64 { return int64(time.Since(testStart)) }

// newVnetEnv runs the SFU and one virtual host per client on a pion vnet.
func newVnetEnv(t *testing.T, links map[string]link, cfg sfu.Config) *testEnv {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	sfuNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := router.AddNet(sfuNet); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(links))
	for id := range links {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	nets := map[string]*vnet.Net{}
	var closers []func()
	for i, id := range ids {
		l := links[id]
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{fmt.Sprintf("10.0.0.%d", i+2)}})
		if err != nil {
			t.Fatal(err)
		}
		var nic vnet.NIC = n
		if l.lossPct > 0 {
			f, err := vnet.NewLossFilter(nic, l.lossPct, vnet.WithLossSeed(int64(i+1)))
			if err != nil {
				t.Fatal(err)
			}
			nic = f
		}
		if l.rateBps > 0 {
			q, err := vnet.NewQueue(nic, vnet.NewTBFQueue(l.rateBps, 3000, l.queueBytes))
			if err != nil {
				t.Fatal(err)
			}
			nic = q
			closers = append(closers, func() { _ = q.Close() })
		}
		if err := router.AddNet(nic); err != nil {
			t.Fatal(err)
		}
		nets[id] = n
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	cfg.ListenIP, cfg.Net, cfg.Logger = "10.0.0.1", sfuNet, logger
	s, err := sfu.New(cfg)
	if err != nil {
		t.Fatalf("sfu.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	e := &testEnv{t: t, ctx: ctx, cancel: cancel, sfu: s, router: router, nets: nets}
	e.apiFor = func(id string) *webrtc.API { return newVnetClientAPI(t, nets[id], e.codecs[id]) }
	e.onClose = append(e.onClose, func() {
		_ = router.Stop()
		for _, c := range closers {
			c()
		}
	})
	return e
}

// newVnetClientAPI is a browser-like client: NACKs, receiver reports, TWCC
// feedback, simulcast header extensions. codecs, when set, replaces the
// default codecs (e.g. an H.264-only Safari).
func newVnetClientAPI(t *testing.T, n *vnet.Net, codecs func(*webrtc.MediaEngine) error, extra ...func(*webrtc.MediaEngine, *interceptor.Registry) error) *webrtc.API {
	m := &webrtc.MediaEngine{}
	reg := m.RegisterDefaultCodecs
	if codecs != nil {
		reg = func() error { return codecs(m) }
	}
	if err := reg(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	for _, f := range []func() error{
		func() error { return webrtc.ConfigureNack(m, ir) },
		func() error { return webrtc.ConfigureRTCPReports(ir) },
		func() error { return webrtc.ConfigureTWCCSender(m, ir) },
		func() error { return webrtc.ConfigureSimulcastExtensionHeaders(m) },
		func() error {
			return m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio)
		},
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range extra {
		if err := f(m, ir); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{}
	se.SetNet(n)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// Media with a self-describing payload: mark "JH", sender/layer, counter,
// send time, then filler to the wanted size.
func markPayload(prefix []byte, who string, n uint32, size int) []byte {
	b := append(prefix, 'J', 'H', byte(len(who)))
	b = append(b, who...)
	b = binary.BigEndian.AppendUint32(b, n)
	b = binary.BigEndian.AppendUint64(b, uint64(sinceStart()))
	for len(b) < size {
		b = append(b, 0x55)
	}
	return b
}

type mark struct {
	who  string
	n    uint32
	sent int64
}

func parseMark(p []byte, skip int) (mark, bool) {
	if len(p) < skip+3 || p[skip] != 'J' || p[skip+1] != 'H' {
		return mark{}, false
	}
	l := int(p[skip+2])
	o := skip + 3
	if len(p) < o+l+12 {
		return mark{}, false
	}
	return mark{who: string(p[o : o+l]), n: binary.BigEndian.Uint32(p[o+l:]), sent: int64(binary.BigEndian.Uint64(p[o+l+4:]))}, true
}

// vp8Prefix is a VP8 descriptor, plus the frame tag and keyframe header on
// the first packet of a frame.
func vp8Prefix(first, key bool) []byte {
	if !first {
		return []byte{0x00}
	}
	if key {
		return []byte{0x10, 0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
	}
	return []byte{0x10, 0x11, 0, 0}
}

func vp8MarkOffset(p []byte) int {
	switch {
	case len(p) > 0 && p[0]&0x10 == 0:
		return 1
	case len(p) > 1 && p[1]&0x01 == 0:
		return 11
	default:
		return 4
	}
}

// stream records what one received track looked like.
type stream struct {
	mu       sync.Mutex
	started  bool
	lastSeq  uint16
	lastTS   uint32
	layer    string
	gaps     int // sequence gaps (lost packets not (yet) repaired)
	switches int
	tsBack   int // timestamps going backwards at a switch
	seen     map[uint16]bool
	starts   map[uint16]layerStart // by outgoing seq: the layer and whether a keyframe starts there
	first    uint16
	highest  uint16
	byLayer  map[string]int
	lat      []int64
	window   bool // count into byLayer/lat only while set
}

type layerStart struct {
	layer string
	key   bool // the first packet of a keyframe
}

func newStream() *stream {
	return &stream{seen: map[uint16]bool{}, starts: map[uint16]layerStart{}, byLayer: map[string]int{}}
}

func (s *stream) add(p *rtp.Packet, m mark, key, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := p.SequenceNumber
	if !s.started {
		s.started, s.first, s.highest = true, seq, seq
	} else if d := int16(seq - s.highest); d > 0 {
		if d > 1 {
			s.gaps += int(d - 1)
		}
		s.highest = seq
	} else if !s.seen[seq] {
		s.gaps-- // a repaired gap
	}
	s.seen[seq] = true
	layer := m.who
	s.starts[seq] = layerStart{layer: layer, key: key && first}
	if s.layer != "" && layer != s.layer && int16(seq-s.lastSeq) > 0 {
		s.switches++
		if seq != s.lastSeq+1 {
			s.gaps += 0 // counted above
		}
		if int32(p.Timestamp-s.lastTS) <= 0 {
			s.tsBack++
		}
	}
	if int16(seq-s.lastSeq) > 0 || s.layer == "" {
		s.layer, s.lastSeq, s.lastTS = layer, seq, p.Timestamp
	}
	if s.window {
		s.byLayer[layer]++
		s.lat = append(s.lat, sinceStart()-m.sent)
	}
}

// missing counts sequence numbers never received, ignoring the newest
// margin ones (their repair may still be in flight).
func (s *stream) missing(margin int) (missing, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	end := s.highest - uint16(margin)
	for q := s.first; int16(end-q) > 0; q++ {
		total++
		if !s.seen[q] {
			missing++
		}
	}
	return missing, total
}

func (s *stream) startWindow() {
	s.mu.Lock()
	s.window, s.byLayer, s.lat = true, map[string]int{}, nil
	s.mu.Unlock()
}

func (s *stream) snapshot() (byLayer map[string]int, p99 time.Duration, gaps, switches, bad, tsBack int, received int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byLayer = map[string]int{}
	for k, v := range s.byLayer {
		byLayer[k] = v
	}
	if len(s.lat) > 0 {
		l := append([]int64(nil), s.lat...)
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		p99 = time.Duration(l[len(l)*99/100])
	}
	return byLayer, p99, s.gaps, s.switches, s.badSwitchesLocked(), s.tsBack, len(s.seen)
}

// badSwitchesLocked walks the stream in outgoing sequence order: where the
// layer changes, the packet must start a keyframe. A change right after a
// packet that never arrived (lost on the subscriber's own link, like the
// keyframe's first packet queued behind the old layer on a 300 kbit/s
// link) cannot be judged and is skipped: loss has its own tests.
func (s *stream) badSwitchesLocked() int {
	bad := 0
	prev, havePrev := layerStart{}, false
	for q := s.first; int16(s.highest-q) >= 0; q++ {
		cur, ok := s.starts[q]
		if !ok {
			havePrev = false
			continue
		}
		if havePrev && cur.layer != prev.layer && !cur.key {
			bad++
		}
		prev, havePrev = cur, true
	}
	return bad
}

// watch makes c record every received track by the publisher's mark.
func watch(c *client) func(from string, kind webrtc.RTPCodecType) *stream {
	var mu sync.Mutex
	streams := map[*recvTrack]*stream{}
	get := func(rt *recvTrack) *stream {
		mu.Lock()
		defer mu.Unlock()
		s := streams[rt]
		if s == nil {
			s = newStream()
			streams[rt] = s
		}
		return s
	}
	c.onPacket = func(rt *recvTrack, p *rtp.Packet) bool {
		skip := 1
		key, first := false, true
		if rt.kind == webrtc.RTPCodecTypeVideo {
			if rt.track.Codec().MimeType == webrtc.MimeTypeVP8 {
				skip = vp8MarkOffset(p.Payload)
				first = len(p.Payload) > 0 && p.Payload[0]&0x10 != 0
				key = first && len(p.Payload) > 1 && p.Payload[1]&0x01 == 0
			} else { // H.264 single NAL
				skip = 1
				key = len(p.Payload) > 0 && p.Payload[0]&0x1f == 5
			}
		}
		m, ok := parseMark(p.Payload, skip)
		if !ok {
			return false
		}
		get(rt).add(p, m, key, first)
		return true
	}
	return func(from string, kind webrtc.RTPCodecType) *stream {
		rt := c.track(from, kind)
		if rt == nil {
			return nil
		}
		return get(rt)
	}
}

// layerSpec is one simulcast encoding the test publisher sends.
type layerSpec struct {
	rid string
	bps int
}

// publishMedia publishes a video track (simulcast when layers has several
// entries; VP8 at 20 fps, frame size from the bitrate) and Opus-sized audio
// (50 packets/s), and keeps sending until the client closes. Each layer
// sends a keyframe at the start, on PLI and every 3 s.
// videoFlowing waits until the watcher has received 50 video packets from
// publisher and returns that stream.
func (e *testEnv) videoFlowing(watcher func(string, webrtc.RTPCodecType) *stream, name, publisher string) *stream {
	e.t.Helper()
	e.waitFor(name+" to receive video", func() bool {
		v := watcher(publisher, webrtc.RTPCodecTypeVideo)
		if v == nil {
			return false
		}
		_, _, _, _, _, _, n := v.snapshot()
		return n > 50
	})
	return watcher(publisher, webrtc.RTPCodecTypeVideo)
}

func (c *client) publishMedia(layers []layerSpec) { c.publishCodec(layers, false) }

var h264Cap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}

// publishCodec publishes VP8 or, with h264, H.264 single NAL units.
func (c *client) publishCodec(layers []layerSpec, h264 bool) {
	o := pubOpts{}
	if h264 {
		o.video = webrtc.MimeTypeH264
	}
	c.publishWith(layers, o)
}

// pubOpts picks the test publisher's codecs: video VP8 (default), H.264 or
// VP9; audio Opus (default) or RED carrying Opus.
type pubOpts struct {
	video string
	red   bool
	// Like Chromium: keyframes only when asked (no periodic ones), and the
	// first deafPLIs requests per layer go unanswered (lost or ignored).
	onlyAsked bool
	deafPLIs  int32
}

// redPrefix is an RFC 2198 header with one redundant block (the previous
// 20 ms, redLen bytes) before the primary Opus payload.
const redLen = 20

func redPrefix() []byte {
	const off = 960 // the redundant block is the previous packet
	b := []byte{0x80 | 111, byte(off >> 6), byte(off&0x3f)<<2 | byte(redLen>>8), byte(redLen & 0xff), 111}
	for i := 0; i < redLen; i++ {
		b = append(b, 0xa0)
	}
	return append(b, 0xfc)
}

func (c *client) publishWith(layers []layerSpec, o pubOpts) {
	e := c.env
	e.t.Helper()
	vcap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	prefix := vp8Prefix
	switch o.video {
	case webrtc.MimeTypeH264:
		vcap = h264Cap
		prefix = func(first, key bool) []byte {
			if key {
				return []byte{0x65}
			}
			return []byte{0x41}
		}
	case webrtc.MimeTypeVP9:
		vcap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
		prefix = func(first, key bool) []byte { // one-byte descriptor: P (inter), B (begin)
			d := byte(0)
			if !key {
				d |= 0x40
			}
			if first {
				d |= 0x08
			}
			return []byte{d}
		}
	}
	acap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	aprefix := []byte{0xfc}
	if o.red {
		acap = webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}
		aprefix = redPrefix()
		aprefix = aprefix[:len(aprefix):len(aprefix)] // markPayload appends
	}
	var tracks []*webrtc.TrackLocalStaticRTP
	for _, l := range layers {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if l.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(l.rid))
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(vcap, "cam-"+c.id, "stream-"+c.id, opts...)
		if err != nil {
			e.t.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(acap, "mic-"+c.id, "stream-"+c.id)
	if err != nil {
		e.t.Fatal(err)
	}
	send := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	vt, err := c.pub.AddTransceiverFromTrack(tracks[0], send)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tr := range tracks[1:] {
		if err := vt.Sender().AddEncoding(tr); err != nil {
			e.t.Fatal(err)
		}
	}
	at, err := c.pub.AddTransceiverFromTrack(audio, send)
	if err != nil {
		e.t.Fatal(err)
	}
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.pub.SetLocalDescription(offer); err != nil {
		e.t.Fatal(err)
	}
	answer, err := c.part.Publish(offer)
	if err != nil {
		e.t.Fatalf("publish %s: %v", c.id, err)
	}
	if err := c.pub.SetRemoteDescription(answer); err != nil {
		e.t.Fatal(err)
	}
	params := vt.Sender().GetParameters()
	var midID, ridID uint8
	for _, h := range params.HeaderExtensions {
		switch h.URI {
		case sdp.SDESMidURI:
			midID = uint8(h.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(h.ID)
		}
	}
	wantKey := make([]atomic.Bool, len(layers))
	deaf := make([]atomic.Int32, len(layers))
	ssrcs := map[uint32]int{}
	for i, enc := range params.Encodings {
		ssrcs[uint32(enc.SSRC)] = i
	}
	readRTCP := func(read func() ([]rtcp.Packet, interceptor.Attributes, error)) {
		defer c.wg.Done()
		for {
			pkts, _, err := read()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if c.onRTCP != nil {
					c.onRTCP(p)
				}
				if pli, ok := p.(*rtcp.PictureLossIndication); ok {
					c.plis.Add(1)
					if i, ok := ssrcs[pli.MediaSSRC]; ok {
						if deaf[i].Add(1) > o.deafPLIs {
							wantKey[i].Store(true)
						}
					} else {
						for i := range wantKey {
							wantKey[i].Store(true)
						}
					}
				}
			}
		}
	}
	for _, l := range layers {
		rid := l.rid
		c.wg.Add(1)
		if rid == "" {
			go readRTCP(vt.Sender().ReadRTCP)
		} else {
			go readRTCP(func() ([]rtcp.Packet, interceptor.Attributes, error) { return vt.Sender().ReadSimulcastRTCP(rid) })
		}
	}
	c.wg.Add(2)
	go readRTCP(at.Sender().ReadRTCP)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		type state struct {
			seq uint16
			ts  uint32
			n   uint32
			key time.Time
		}
		st := make([]state, len(layers))
		for i := range st {
			st[i].seq = uint16(1000 * (i + 1))
			wantKey[i].Store(true)
		}
		var aseq uint16
		var ats, an uint32
		for k := 0; ; k++ {
			select {
			case <-c.done:
				return
			case <-tick.C:
			}
			for i, l := range layers {
				s := &st[i]
				// Like a browser: a layer the SFU paused is not encoded,
				// and it restarts with a keyframe.
				if !c.layers.sending(tracks[i].ID(), l.rid) {
					wantKey[i].Store(true)
					continue
				}
				key := wantKey[i].Swap(false) || !o.onlyAsked && time.Since(s.key) > 3*time.Second
				if key {
					s.key = time.Now()
				}
				frame := l.bps / 8 / 20
				npk := (frame + 1099) / 1100
				who := c.id + "/" + l.rid
				for j := 0; j < npk; j++ {
					p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: s.ts, Marker: j == npk-1},
						Payload: markPayload(prefix(j == 0, key), who, s.n, min(1100, frame/npk+20))}
					if l.rid != "" && midID != 0 && ridID != 0 {
						_ = p.Header.SetExtension(midID, []byte(vt.Mid()))
						_ = p.Header.SetExtension(ridID, []byte(l.rid))
					}
					_ = tracks[i].WriteRTP(p)
					s.seq++
					s.n++
				}
				s.ts += 4500
			}
			for j := 0; j < 2; j++ { // two 20 ms packets per tick
				p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, Marker: true},
					Payload: markPayload(aprefix, c.id, an, 79+len(aprefix))}
				_ = audio.WriteRTP(p)
				aseq++
				an++
				ats += 960
			}
		}
	}()
}

func ridOf(who string) string {
	for i := len(who) - 1; i >= 0; i-- {
		if who[i] == '/' {
			return who[i+1:]
		}
	}
	return ""
}

func layerShare(by map[string]int, rid string) float64 {
	total, n := 0, 0
	for who, k := range by {
		total += k
		if ridOf(who) == rid {
			n += k
		}
	}
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

var simulcast3 = []layerSpec{{"q", 120_000}, {"h", 450_000}, {"f", 1_100_000}}

// A subscriber losing 10% of its packets gets them back by NACK and RTX.
func TestVnetLossRecoveredByNACK(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {lossPct: 10}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-loss")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	streams := watch(b)
	a.publishMedia([]layerSpec{{"", 600_000}})
	e.waitFor("B to receive A's video", func() bool {
		rt := b.track("A", webrtc.RTPCodecTypeVideo)
		return rt != nil && rt.packets.Load() > 100
	})
	time.Sleep(4 * time.Second)
	// vnet has no direct SRTCP path: B's RTCP reaches Pion, and one reader
	// per forwarded track takes it from there.
	if n := senderRTCPReaders(); n != 2 {
		t.Fatalf("%d sender RTCP readers on Pion's path, want 2", n)
	}
	v := streams("A", webrtc.RTPCodecTypeVideo)
	// Packets older than the last ~0.5 s have had their NACK rounds.
	missing, total := v.missing(40)
	st := e.sfu.Stats()
	rt := b.track("A", webrtc.RTPCodecTypeVideo)
	t.Logf("video: %d of %d missing; retransmits %d, NACKed %d, misses %d; good %d bad %d; stats %+v", missing, total, st.Retransmits, st.NACKsReceived, st.NACKMisses, rt.packets.Load(), rt.bad.Load(), st)
	if st.Retransmits == 0 {
		t.Fatal("no retransmissions")
	}
	if total < 200 || float64(missing) > 0.01*float64(total) {
		t.Fatalf("%d of %d packets missing (%.1f%%); without recovery ~10%% would be", missing, total, 100*float64(missing)/float64(total))
	}
}

// A subscriber capped at 300 kbit/s gets the low layer while an
// unconstrained one keeps the high layer; switches start at keyframes.
func TestVnetSimulcastBandwidth(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}, "C": {rateBps: 300_000, queueBytes: 40_000}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-bwe")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	c := e.join(room, "C", false, true)
	sb, sc := watch(b), watch(c)
	a.publishMedia(simulcast3)
	e.waitFor("B and C to receive video", func() bool {
		return sb("A", webrtc.RTPCodecTypeVideo) != nil && sc("A", webrtc.RTPCodecTypeVideo) != nil
	})
	time.Sleep(6 * time.Second)
	bv, cv := sb("A", webrtc.RTPCodecTypeVideo), sc("A", webrtc.RTPCodecTypeVideo)
	bv.startWindow()
	cv.startWindow()
	time.Sleep(3 * time.Second)
	bl, _, _, bsw, bbad, bback, _ := bv.snapshot()
	cl, _, _, csw, cbad, cback, _ := cv.snapshot()
	t.Logf("B layers %v (switches %d), C layers %v (switches %d); stats %+v", bl, bsw, cl, csw, e.sfu.Stats())
	if share := layerShare(bl, "f"); share < 0.9 {
		t.Errorf("unconstrained B got the high layer for %.0f%% of packets", 100*share)
	}
	if share := layerShare(cl, "q"); share < 0.9 {
		t.Errorf("300 kbit/s C got the low layer for %.0f%% of packets", 100*share)
	}
	if bbad+cbad > 0 || bback+cback > 0 {
		t.Errorf("switches without keyframe: B %d C %d; timestamps back: B %d C %d", bbad, cbad, bback, cback)
	}
	if ca := c.track("A", webrtc.RTPCodecTypeAudio); ca == nil || ca.packets.Load() < 200 {
		t.Error("C's audio did not keep flowing")
	}
}

// Viewport changes move a subscriber between layers; every switch starts
// with a keyframe, with continuous sequence numbers and timestamps.
func TestVnetLayerSwitchContinuity(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-switch")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	sb := watch(b)
	a.publishMedia(simulcast3)
	v := e.videoFlowing(sb, "B", "A")
	for _, size := range [][2]int{{160, 120}, {0, 0}, {160, 120}, {0, 0}} {
		if err := b.part.SetVideoPreference("A", "cam-A", size[0], size[1]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
	}
	_, _, _, sw, bad, back, _ := v.snapshot()
	missing, total := v.missing(20)
	t.Logf("switches %d, without keyframe %d, ts back %d, missing %d of %d", sw, bad, back, missing, total)
	if sw < 4 {
		t.Fatalf("%d layer switches, want at least 4", sw)
	}
	if bad > 0 || back > 0 || missing > 0 {
		t.Fatalf("switch errors: %d without keyframe, %d timestamps backwards, %d sequence gaps", bad, back, missing)
	}
	if err := b.part.SetVideoPreference("A", "nope", 1, 1); err == nil {
		t.Fatal("preference for an unknown track accepted")
	}
}

// TestVnetSwitchAsksAgain: a publisher that, like Chromium, sends keyframes
// only when asked and misses the first two requests per layer still gets
// its viewer started, and switched to the small layer it asked for: the SFU
// asks again while a start or a switch waits for its keyframe.
func TestVnetSwitchAsksAgain(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-ask-again")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	sb := watch(b)
	a.publishWith(simulcast3, pubOpts{onlyAsked: true, deafPLIs: 2})
	v := e.videoFlowing(sb, "B", "A")
	v.startWindow()
	// Every test layer's keyframe says 320x240; a layer whose keyframe the
	// SFU has not parsed yet counts as top >> rank (q: 80x60), so 80x60 asks
	// for q either way.
	if err := b.part.SetVideoPreference("A", "cam-A", 80, 60); err != nil {
		t.Fatal(err)
	}
	last := time.Now()
	e.waitFor("B to switch to the q layer", func() bool {
		now, _, _, _, _, _, _ := v.snapshot()
		if time.Since(last) > 2*time.Second { // what it waits on, should it time out
			last = time.Now()
			st := e.sfu.Stats()
			t.Logf("layers %v, PLIs at A %d, keyframe requests %d, switches %d, paused layers %d, A's layer events %v",
				now, a.plis.Load(), st.KeyframeRequests, st.LayerSwitches, st.PausedLayers, a.layers.history())
		}
		return now["A/q"] > 20
	})
	_, _, _, sw, bad, _, _ := v.snapshot()
	t.Logf("switched after %d PLIs; switches %d, without keyframe %d", a.plis.Load(), sw, bad)
	if bad > 0 {
		t.Fatalf("%d switches without a keyframe", bad)
	}
}

// A subscriber on a stalled link does not raise the latency or loss of
// the others: their p99 latency with it in the room stays within a small
// multiple of theirs before it joined, in the same run (no absolute
// timing: a loaded machine slows both windows alike), and nothing is lost.
func TestVnetStalledSubscriber(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}, "C": {}, "S": {rateBps: 16_000, queueBytes: 4000}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-stall")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	c := e.join(room, "C", false, true)
	sb, sc := watch(b), watch(c)
	a.publishMedia([]layerSpec{{"", 800_000}})
	e.waitFor("B and C to receive video", func() bool {
		return sb("A", webrtc.RTPCodecTypeVideo) != nil && sc("A", webrtc.RTPCodecTypeVideo) != nil
	})
	watchers := map[string]func(string, webrtc.RTPCodecType) *stream{"B": sb, "C": sc}
	kinds := []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}
	window := func() map[string]time.Duration {
		for _, w := range watchers {
			for _, k := range kinds {
				w("A", k).startWindow()
			}
		}
		time.Sleep(3 * time.Second)
		out := map[string]time.Duration{}
		for name, w := range watchers {
			for _, k := range kinds {
				_, p99, _, _, _, _, _ := w("A", k).snapshot()
				out[name+" "+k.String()] = p99
			}
		}
		return out
	}
	time.Sleep(2 * time.Second)
	before := window()
	e.join(room, "S", false, true)
	time.Sleep(2 * time.Second) // S's link is full by now
	during := window()
	st := e.sfu.Stats()
	t.Logf("SFU: video queue drops %d, paused video %d", st.Drops.VideoQueueFull, st.PausedVideo)
	if st.Drops.VideoQueueFull == 0 && st.PausedVideo == 0 {
		t.Error("the 16 kbit/s subscriber was neither paused nor dropped: not stalled?")
	}
	for name, w := range watchers {
		for _, k := range kinds {
			key := name + " " + k.String()
			missing, total := w("A", k).missing(20)
			t.Logf("%s: p99 latency %v before the stalled subscriber, %v with it; missing %d of %d", key, before[key], during[key], missing, total)
			if missing > 0 || total < 100 {
				t.Errorf("%s lost packets with the stalled subscriber in the room: %d of %d missing", key, missing, total)
			}
			if during[key] > 3*max(before[key], 10*time.Millisecond) {
				t.Errorf("%s slowed by the stalled subscriber: p99 %v, %v before it joined", key, during[key], before[key])
			}
		}
	}
}

// An H.264-only publisher (as Safari offers) negotiates and is forwarded.
func TestVnetH264Only(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-h264")
	// A's API knows only H.264 and Opus.
	e.codecs = map[string]func(*webrtc.MediaEngine) error{"A": func(m *webrtc.MediaEngine) error {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Cap, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
		return m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio)
	}}
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	sb := watch(b)
	a.publishCodec([]layerSpec{{"", 300_000}}, true)
	e.waitFor("B to receive A's H.264 video", func() bool {
		rt := b.track("A", webrtc.RTPCodecTypeVideo)
		return rt != nil && rt.packets.Load() > 50
	})
	rt := b.track("A", webrtc.RTPCodecTypeVideo)
	if got := rt.track.Codec().MimeType; got != webrtc.MimeTypeH264 {
		t.Fatalf("B got %s, want H.264", got)
	}
	v := sb("A", webrtc.RTPCodecTypeVideo)
	missing, total := v.missing(10)
	if rt.bad.Load() > 0 || missing > 0 {
		t.Fatalf("H.264 stream: %d bad packets, %d of %d missing", rt.bad.Load(), missing, total)
	}
}

// A hostile publisher (garbage payloads, oversized packets, packets on
// unknown SSRCs, RTCP floods as publisher and as subscriber) is dropped and
// counted; the room and the other participants' streams carry on.
func TestHostilePublisher(t *testing.T) {
	defer goleakCheck(t)
	e := newEnv(t)
	defer e.close()
	room := e.sfu.Room("r-hostile")
	a := e.join(room, "A", true, true)
	b := e.join(room, "B", false, true)
	h := e.join(room, "H", true, true)
	a.publish()
	h.publish()
	e.waitFor("B to receive A and H", func() bool { return b.receiving("A", 2, minPackets) && b.receiving("H", 2, minPackets) })
	e.waitFor("H to receive A", func() bool { return h.receiving("A", 2, minPackets) })
	hv := b.track("H", webrtc.RTPCodecTypeVideo)
	av := b.track("A", webrtc.RTPCodecTypeVideo)
	hav := h.track("A", webrtc.RTPCodecTypeVideo)

	// H's own track writer, to send what no browser would.
	raw := &rawTrack{id: "raw-H", stream: "stream-H", bound: make(chan struct{})}
	if _, err := h.pub.AddTransceiverFromTrack(raw, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := h.pub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.pub.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := h.part.Publish(offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.pub.SetRemoteDescription(answer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-raw.bound:
	case <-e.ctx.Done():
		t.Fatal("raw track not bound")
	}
	from := av.packets.Load()
	garbage := make([]byte, 1000)
	for i := range garbage {
		garbage[i] = byte(i*7 + 0xc3)
	}
	big := make([]byte, 1500) // over maxPacket, under the receive MTU
	hdr := rtp.Header{Version: 2, PayloadType: raw.pt, SSRC: raw.ssrc}
	for i := 0; i < 400; i++ {
		hdr.SequenceNumber++
		hdr.Timestamp += 3000
		_, _ = raw.w.WriteRTP(&hdr, garbage) // VP8 reserved bits set: malformed
		if i%4 == 0 {
			_, _ = raw.w.WriteRTP(&hdr, big) // larger than any MTU
		}
		u := hdr
		u.SSRC = 0xdead0000 + uint32(i) // never negotiated
		_, _ = raw.w.WriteRTP(&u, garbage)
		if i%20 == 0 {
			var flood []rtcp.Packet
			for j := 0; j < 100; j++ {
				flood = append(flood, &rtcp.PictureLossIndication{MediaSSRC: uint32(hav.track.SSRC())})
			}
			_ = h.sub.WriteRTCP(flood) // as a subscriber: PLIs for A's video
			for j := range flood {
				flood[j] = &rtcp.PictureLossIndication{MediaSSRC: raw.ssrc}
			}
			_ = h.pub.WriteRTCP(flood) // as a publisher: RTCP nobody asked for
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.waitFor("drops counted", func() bool {
		d := e.sfu.Stats().Drops
		// Oversized packets may already be dropped inside Pion (its receive
		// MTU); only those that get through are counted as Oversized.
		return d.Malformed > 0 && d.RTCPFlood > 0 && d.UnknownSSRC > 0
	})
	e.waitFor("A's video to keep flowing to B", func() bool { return av.packets.Load() > from+100 })
	if av.bad.Load() > 0 || hv.bad.Load() > 0 {
		t.Fatalf("bad packets reached B: A %d, H %d", av.bad.Load(), hv.bad.Load())
	}
	t.Logf("drops %+v", e.sfu.Stats().Drops)
}

// rawTrack is a TrackLocal that hands the test its writer.
type rawTrack struct {
	id, stream string
	bound      chan struct{}
	once       sync.Once
	w          webrtc.TrackLocalWriter
	ssrc       uint32
	pt         uint8
}

func (r *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if c.MimeType == webrtc.MimeTypeVP8 {
			r.w, r.ssrc, r.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
			r.once.Do(func() { close(r.bound) })
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("no VP8")
}
func (r *rawTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (r *rawTrack) ID() string                            { return r.id }
func (r *rawTrack) RID() string                           { return "" }
func (r *rawTrack) StreamID() string                      { return r.stream }
func (r *rawTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeVideo }
