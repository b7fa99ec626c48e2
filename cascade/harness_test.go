package cascade_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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

	"jobhall/cascade"
	"jobhall/sfu"
)

var testSecret = []byte("cascade-test-secret-0123456789")

var testStart = time.Now()

func sinceStart() int64 { return int64(time.Since(testStart)) }

func quietLogger() *slog.Logger {
	lvl := slog.LevelError
	if os.Getenv("CASCADE_TEST_LOG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// node is one jobhall node's media half: an SFU, the origin handler on a
// real loopback HTTP server, and an edge.
type node struct {
	name   string
	sfu    *sfu.SFU
	origin *cascade.Origin
	edge   *cascade.Edge
	srv    *httptest.Server
}

func newNode(t testing.TB, name string, cfg sfu.Config, edgeCfg cascade.EdgeConfig) *node {
	t.Helper()
	cfg.Logger = quietLogger()
	s, err := sfu.New(cfg)
	if err != nil {
		t.Fatalf("sfu.New: %v", err)
	}
	o, err := cascade.NewOrigin(s, testSecret, cfg.Logger)
	if err != nil {
		t.Fatal(err)
	}
	edgeCfg.SFU, edgeCfg.Secret, edgeCfg.NodeID, edgeCfg.Logger = s, testSecret, name, cfg.Logger
	if edgeCfg.MinBackoff == 0 {
		edgeCfg.MinBackoff = 100 * time.Millisecond
	}
	e, err := cascade.NewEdge(edgeCfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(cascade.OriginPath, o)
	return &node{name: name, sfu: s, origin: o, edge: e, srv: httptest.NewServer(mux)}
}

func (n *node) close(t testing.TB) {
	n.edge.Close()
	n.origin.Close()
	n.srv.Close()
	if err := n.sfu.Close(); err != nil {
		t.Errorf("%s: sfu.Close: %v", n.name, err)
	}
}

// world is the nodes and peers of one test, optionally on a pion vnet.
type world struct {
	t      testing.TB
	ctx    context.Context
	cancel context.CancelFunc
	nodes  []*node
	peers  []*peer
	cert   webrtc.Certificate

	router  *vnet.Router
	nets    map[string]*vnet.Net
	closers []func()
	nextIP  int
	loopAPI *webrtc.API
}

// link shapes what a peer receives on the vnet (filters act on inbound traffic).
type link struct {
	rateBps    int
	queueBytes int64
}

func newWorld(t testing.TB, timeout time.Duration, useVnet bool) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, cancel: cancel, cert: *cert, nets: map[string]*vnet.Net{}, nextIP: 1}
	if useVnet {
		lf := logging.NewDefaultLoggerFactory()
		lf.DefaultLogLevel = logging.LogLevelError
		if w.router, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: lf}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// addNet adds a vnet host; l shapes its inbound traffic.
func (w *world) addNet(name string, l link) (*vnet.Net, string) {
	w.t.Helper()
	ip := fmt.Sprintf("10.0.0.%d", w.nextIP)
	w.nextIP++
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	if err != nil {
		w.t.Fatal(err)
	}
	var nic vnet.NIC = n
	if l.rateBps > 0 {
		q, err := vnet.NewQueue(nic, vnet.NewTBFQueue(l.rateBps, 3000, l.queueBytes))
		if err != nil {
			w.t.Fatal(err)
		}
		nic = q
		w.closers = append(w.closers, func() { _ = q.Close() })
	}
	if err := w.router.AddNet(nic); err != nil {
		w.t.Fatal(err)
	}
	w.nets[name] = n
	return n, ip
}

func (w *world) addNode(name string, edgeCfg cascade.EdgeConfig) *node {
	w.t.Helper()
	cfg := sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true}
	if w.router != nil {
		n, ip := w.addNet(name, link{})
		cfg = sfu.Config{ListenIP: ip, Net: n}
	}
	nd := newNode(w.t, name, cfg, edgeCfg)
	w.nodes = append(w.nodes, nd)
	return nd
}

func (w *world) start() {
	if w.router != nil {
		if err := w.router.Start(); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) close() {
	for _, p := range w.peers {
		p.close()
	}
	for _, n := range w.nodes {
		n.close(w.t)
	}
	if w.router != nil {
		_ = w.router.Stop()
	}
	for _, c := range w.closers {
		c()
	}
	w.cancel()
	for _, p := range w.peers {
		if n := p.failures.Load(); n > 0 {
			w.t.Errorf("peer %s: %d failures, last: %v", p.id, n, p.lastErr.Load())
		}
	}
}

func (w *world) waitFor(what string, cond func() bool) {
	w.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-w.ctx.Done():
			w.t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func (w *world) sleep(d time.Duration) {
	select {
	case <-w.ctx.Done():
		w.t.Fatal("test deadline passed")
	case <-time.After(d):
	}
}

// clientAPI is a browser-like peer: NACKs, receiver reports, TWCC feedback
// (the SFU's estimate), simulcast header extensions. light drops the
// interceptors (many synthetic viewers, as in cmd/loadgen).
func (w *world) clientAPI(n *vnet.Net, light bool) *webrtc.API {
	if n == nil && w.loopAPI != nil && light {
		return w.loopAPI
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		w.t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	fs := []func() error{
		func() error { return webrtc.ConfigureSimulcastExtensionHeaders(m) },
		func() error {
			return m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio)
		},
	}
	if !light {
		fs = append(fs,
			func() error { return webrtc.ConfigureNack(m, ir) },
			func() error { return webrtc.ConfigureRTCPReports(ir) },
			func() error { return webrtc.ConfigureTWCCSender(m, ir) })
	}
	for _, f := range fs {
		if err := f(); err != nil {
			w.t.Fatal(err)
		}
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// Patient ICE: the machine is shared and tests run under -race.
	se.SetICETimeouts(10*time.Second, 40*time.Second, 2*time.Second)
	if n != nil {
		se.SetNet(n)
	} else {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	if n == nil && light {
		w.loopAPI = api
	}
	return api
}

// peer is an in-process stand-in for a browser on one node.
type peer struct {
	w    *world
	id   string
	part *sfu.Participant
	pub  *webrtc.PeerConnection
	sub  *webrtc.PeerConnection

	events chan func()
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	paused atomic.Bool // publisher: stop sending (tracks stay)

	failures atomic.Int64
	lastErr  atomic.Value
	plis     atomic.Int64

	mu   sync.Mutex
	recv []*recvTrack
}

// recvTrack counts one received track.
type recvTrack struct {
	from, trackID string
	kind          webrtc.RTPCodecType
	packets       atomic.Int64
	bad           atomic.Int64
	byLayer       [3]atomic.Int64
	ended         atomic.Bool

	mu  sync.Mutex
	lat []int64 // ns from the publisher's send to receipt, while sampling
	on  bool
}

// join makes a peer on node n (its own vnet host when the world has one).
func (w *world) join(n *node, room, id string, canPublish bool, l link, light bool) *peer {
	w.t.Helper()
	var vn *vnet.Net
	if w.router != nil {
		vn, _ = w.addNet(id, l)
	}
	api := w.clientAPI(vn, light)
	p := &peer{w: w, id: id, events: make(chan func(), 256), done: make(chan struct{})}
	cfg := webrtc.Configuration{Certificates: []webrtc.Certificate{w.cert}}
	var err error
	if canPublish {
		if p.pub, err = api.NewPeerConnection(cfg); err != nil {
			w.t.Fatal(err)
		}
	}
	if p.sub, err = api.NewPeerConnection(cfg); err != nil {
		w.t.Fatal(err)
	}
	w.peers = append(w.peers, p)
	p.wg.Add(1)
	go p.loop()
	p.sub.OnTrack(p.onTrack)
	p.part, err = n.sfu.Room(room).Join(sfu.ParticipantInfo{ID: id, Name: id, CanPublish: canPublish, CanSubscribe: !canPublish}, p)
	if err != nil {
		w.t.Fatalf("join %s: %v", id, err)
	}
	part := p.part
	p.sub.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.check(part.AddICECandidate(sfu.Subscriber, c.ToJSON()))
		}
	})
	if p.pub != nil {
		p.pub.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				p.check(part.AddICECandidate(sfu.Publisher, c.ToJSON()))
			}
		})
	}
	return p
}

func (p *peer) check(err error) {
	select {
	case <-p.done:
		return
	default:
	}
	if err != nil {
		p.failures.Add(1)
		p.lastErr.Store(err)
	}
}

// sfu.Events: never block.
func (p *peer) SubscriberOffer(o webrtc.SessionDescription) { p.push(func() { p.answer(o) }) }
func (p *peer) ICECandidate(t sfu.Target, c webrtc.ICECandidateInit) {
	p.push(func() {
		if t == sfu.Subscriber {
			p.check(p.sub.AddICECandidate(c))
		}
	})
}
func (p *peer) ConnectionState(sfu.Target, webrtc.PeerConnectionState) {}

func (p *peer) push(f func()) {
	select {
	case p.events <- f:
	default:
		p.check(fmt.Errorf("peer mailbox full"))
	}
}

func (p *peer) loop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case f := <-p.events:
			f()
		}
	}
}

func (p *peer) answer(o webrtc.SessionDescription) {
	if err := p.sub.SetRemoteDescription(o); err != nil {
		p.check(err)
		return
	}
	a, err := p.sub.CreateAnswer(nil)
	if err != nil {
		p.check(err)
		return
	}
	if err := p.sub.SetLocalDescription(a); err != nil {
		p.check(err)
		return
	}
	p.check(p.part.SetSubscriberAnswer(a))
}

func (p *peer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	rt := &recvTrack{from: tr.StreamID(), trackID: tr.ID(), kind: tr.Kind()}
	p.mu.Lock()
	p.recv = append(p.recv, rt)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer rt.ended.Store(true)
		buf := make([]byte, 1500)
		var h rtp.Header
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			hl, err := h.Unmarshal(buf[:n])
			if err != nil {
				rt.bad.Add(1)
				continue
			}
			m, ok := parseMark(buf[hl:n], rt.kind)
			if !ok {
				rt.bad.Add(1)
				continue
			}
			rt.packets.Add(1)
			if int(m.layer) < len(rt.byLayer) {
				rt.byLayer[m.layer].Add(1)
			}
			rt.mu.Lock()
			if rt.on {
				rt.lat = append(rt.lat, sinceStart()-m.sent)
			}
			rt.mu.Unlock()
		}
	}()
}

// track returns the newest live received track from publisher from.
func (p *peer) track(from string, kind webrtc.RTPCodecType) *recvTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.recv) - 1; i >= 0; i-- {
		if rt := p.recv[i]; rt.from == from && rt.kind == kind && !rt.ended.Load() {
			return rt
		}
	}
	return nil
}

func (p *peer) receiving(from string, min int64) bool {
	v, a := p.track(from, webrtc.RTPCodecTypeVideo), p.track(from, webrtc.RTPCodecTypeAudio)
	return v != nil && a != nil && v.packets.Load() >= min && a.packets.Load() >= min
}

func (p *peer) close() {
	p.once.Do(func() {
		close(p.done)
		p.part.Leave()
		if p.pub != nil {
			_ = p.pub.Close()
		}
		_ = p.sub.Close()
		p.wg.Wait()
	})
}

// layerSpec is one encoding the test publisher sends.
type layerSpec struct {
	rid string
	bps int
}

var simulcast3 = []layerSpec{{"q", 120_000}, {"h", 450_000}, {"f", 1_100_000}}

// mark is what every test payload carries after its codec prefix: "JH",
// the layer, a counter and the send time.
type mark struct {
	layer uint8
	n     uint32
	sent  int64
}

const markLen = 2 + 1 + 4 + 8

func appendMark(b []byte, layer uint8, n uint32, size int) []byte {
	b = append(b, 'J', 'H', layer)
	b = binary.BigEndian.AppendUint32(b, n)
	b = binary.BigEndian.AppendUint64(b, uint64(sinceStart()))
	for len(b) < size {
		b = append(b, 0xa5)
	}
	return b
}

func vp8Prefix(first, key bool) []byte {
	if !first {
		return []byte{0x00}
	}
	if key {
		return []byte{0x10, 0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
	}
	return []byte{0x10, 0x11, 0, 0}
}

func parseMark(p []byte, kind webrtc.RTPCodecType) (mark, bool) {
	skip := 1
	if kind == webrtc.RTPCodecTypeVideo {
		switch {
		case len(p) > 0 && p[0]&0x10 == 0:
			skip = 1
		case len(p) > 1 && p[1]&0x01 == 0:
			skip = 11
		default:
			skip = 4
		}
	}
	if len(p) < skip+markLen || p[skip] != 'J' || p[skip+1] != 'H' {
		return mark{}, false
	}
	b := p[skip+2:]
	return mark{layer: b[0], n: binary.BigEndian.Uint32(b[1:]), sent: int64(binary.BigEndian.Uint64(b[5:]))}, true
}

// publish sends a VP8 video track (simulcast with several layers; 20 fps,
// frame size from the bitrate, a keyframe at the start, on PLI and every
// 3 s) and Opus-sized audio (50 packets/s) until the peer closes.
func (p *peer) publish(layers []layerSpec) {
	w := p.w
	w.t.Helper()
	var tracks []*webrtc.TrackLocalStaticRTP
	vcap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	for _, l := range layers {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if l.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(l.rid))
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(vcap, "cam-"+p.id, "stream-"+p.id, opts...)
		if err != nil {
			w.t.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic-"+p.id, "stream-"+p.id)
	if err != nil {
		w.t.Fatal(err)
	}
	send := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	vt, err := p.pub.AddTransceiverFromTrack(tracks[0], send)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, tr := range tracks[1:] {
		if err := vt.Sender().AddEncoding(tr); err != nil {
			w.t.Fatal(err)
		}
	}
	at, err := p.pub.AddTransceiverFromTrack(audio, send)
	if err != nil {
		w.t.Fatal(err)
	}
	offer, err := p.pub.CreateOffer(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := p.pub.SetLocalDescription(offer); err != nil {
		w.t.Fatal(err)
	}
	answer, err := p.part.Publish(offer)
	if err != nil {
		w.t.Fatalf("publish %s: %v", p.id, err)
	}
	if err := p.pub.SetRemoteDescription(answer); err != nil {
		w.t.Fatal(err)
	}
	var midID, ridID uint8
	for _, h := range vt.Sender().GetParameters().HeaderExtensions {
		switch h.URI {
		case sdp.SDESMidURI:
			midID = uint8(h.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(h.ID)
		}
	}
	wantKey := make([]atomic.Bool, len(layers))
	readRTCP := func(i int, read func() ([]rtcp.Packet, interceptor.Attributes, error)) {
		defer p.wg.Done()
		for {
			pkts, _, err := read()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				if _, ok := pk.(*rtcp.PictureLossIndication); ok && i >= 0 {
					p.plis.Add(1)
					wantKey[i].Store(true)
				}
			}
		}
	}
	for i, l := range layers {
		rid := l.rid
		p.wg.Add(1)
		if rid == "" {
			go readRTCP(i, vt.Sender().ReadRTCP)
		} else {
			go readRTCP(i, func() ([]rtcp.Packet, interceptor.Attributes, error) { return vt.Sender().ReadSimulcastRTCP(rid) })
		}
	}
	p.wg.Add(2)
	go readRTCP(-1, at.Sender().ReadRTCP)
	go func() {
		defer p.wg.Done()
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
		buf := make([]byte, 0, 1500)
		pk := &rtp.Packet{}
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			if p.paused.Load() {
				continue
			}
			for i, l := range layers {
				s := &st[i]
				key := wantKey[i].Swap(false) || time.Since(s.key) > 3*time.Second
				if key {
					s.key = time.Now()
				}
				frame := l.bps / 8 / 20
				npk := (frame + 1099) / 1100
				for j := 0; j < npk; j++ {
					*pk = rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: s.ts, Marker: j == npk-1}}
					pk.Payload = appendMark(append(buf[:0], vp8Prefix(j == 0, key)...), uint8(layerIndex(l.rid)), s.n, min(1100, frame/npk+20))
					if l.rid != "" && midID != 0 && ridID != 0 {
						_ = pk.Header.SetExtension(midID, []byte(vt.Mid()))
						_ = pk.Header.SetExtension(ridID, []byte(l.rid))
					}
					_ = tracks[i].WriteRTP(pk)
					s.seq++
					s.n++
				}
				s.ts += 4500
			}
			for j := 0; j < 2; j++ {
				*pk = rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, Marker: true}}
				pk.Payload = appendMark(append(buf[:0], 0xfc), 0, an, 80)
				_ = audio.WriteRTP(pk)
				aseq++
				an++
				ats += 960
			}
		}
	}()
}

func layerIndex(rid string) int {
	switch rid {
	case "h":
		return 1
	case "f":
		return 2
	}
	return 0
}

// share is the fraction of the track's packets (since base) on layer i.
func share(now, base [3]int64, i int) float64 {
	total := int64(0)
	for k := range now {
		total += now[k] - base[k]
	}
	if total == 0 {
		return 0
	}
	return float64(now[i]-base[i]) / float64(total)
}

func (rt *recvTrack) layers() [3]int64 {
	return [3]int64{rt.byLayer[0].Load(), rt.byLayer[1].Load(), rt.byLayer[2].Load()}
}

func (rt *recvTrack) sample(on bool) []int64 {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.on = on
	l := rt.lat
	if on {
		rt.lat = nil
	}
	return l
}

func quantile(l []int64, q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append([]int64(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return time.Duration(s[int(q*float64(len(s)-1))])
}

// relayStats returns the origin's relay counters by (edge, kind).
func relayStats(s *sfu.SFU, room string) map[string]map[string]sfu.RelayTrackStats {
	out := map[string]map[string]sfu.RelayTrackStats{}
	for _, r := range s.Stats().Relays {
		if r.Room != room {
			continue
		}
		if out[r.Relay] == nil {
			out[r.Relay] = map[string]sfu.RelayTrackStats{}
		}
		out[r.Relay][r.Kind] = r
	}
	return out
}

// published returns a node's per-track input counters by kind.
func published(s *sfu.SFU, room string) map[string]sfu.TrackStats {
	out := map[string]sfu.TrackStats{}
	for _, t := range s.Stats().Published {
		if t.Room == room {
			out[t.Kind] = t
		}
	}
	return out
}
