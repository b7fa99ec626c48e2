package sfu_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"jobhall/sfu"
)

// testEnv is one SFU plus the clients of one test; close tears it all down.
type testEnv struct {
	t       *testing.T
	ctx     context.Context
	cancel  context.CancelFunc
	sfu     *sfu.SFU
	api     *webrtc.API
	clients []*client
	// apiFor, when set, gives each client its own API (vnet tests).
	apiFor func(id string) *webrtc.API
	codecs map[string]func(*webrtc.MediaEngine) error // per-client codecs (vnet tests)
	// onClose runs after the clients and the SFU are closed.
	onClose []func()
	// pubConfig configures the clients' publish PCs.
	pubConfig webrtc.Configuration
	// vnet tests: the router and each client's network.
	router *vnet.Router
	nets   map[string]*vnet.Net
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, Logger: logger})
	if err != nil {
		t.Fatalf("sfu.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	return &testEnv{t: t, ctx: ctx, cancel: cancel, sfu: s, api: newClientAPI(t)}
}

func (e *testEnv) close() {
	for _, c := range e.clients {
		c.close()
	}
	if err := e.sfu.Close(); err != nil {
		e.t.Errorf("sfu.Close: %v", err)
	}
	e.cancel()
	for _, f := range e.onClose {
		f()
	}
	for _, c := range e.clients {
		if n := c.failures.Load(); n > 0 {
			e.t.Errorf("client %s: %d failures, last: %v", c.id, n, c.lastErr.Load())
		}
	}
}

// waitFor polls cond until it holds or the test's deadline passes.
func (e *testEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// settle waits until v stops changing for a while (used to let the initial
// keyframe requests pass before checking that a new one arrives).
func (e *testEnv) settle(v func() int64) int64 {
	e.t.Helper()
	last := v()
	for {
		select {
		case <-e.ctx.Done():
			e.t.Fatal("timed out waiting for quiet")
		case <-time.After(800 * time.Millisecond):
		}
		now := v()
		if now == last {
			return now
		}
		last = now
	}
}

func newClientAPI(t *testing.T) *webrtc.API { return newClientAPIWith(t) }

// newClientAPIWith adds inner interceptors under the NACK and report
// interceptors (closest to the network).
func newClientAPIWith(t *testing.T, inner ...interceptor.Factory) *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	for _, f := range inner {
		ir.Add(f)
	}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// client is an in-process stand-in for a browser: a publish PC and a
// subscribe PC, with sfu.Events fed into its own mailbox goroutine.
type client struct {
	env  *testEnv
	id   string
	part *sfu.Participant
	pub  *webrtc.PeerConnection
	sub  *webrtc.PeerConnection

	events   chan func()
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	plis        atomic.Int64 // PLIs received on the video sender
	nackMu      sync.Mutex
	nacked      map[uint16]bool // sequence numbers NACKed on the video sender
	wantKey     atomic.Bool
	offers      atomic.Int64 // subscriber offers answered
	videoSender *webrtc.RTPSender

	layers layerRecord // dynacast events (PublishedLayers)

	// onPacket, when set, judges received packets instead of checkPayload.
	onPacket func(rt *recvTrack, p *rtp.Packet) bool
	// onRTCP, when set, sees every RTCP packet the publish senders read
	// (vnet publishers; a compound packet naming several SSRCs is seen once
	// per sender).
	onRTCP func(p rtcp.Packet)

	left     atomic.Bool
	failures atomic.Int64
	lastErr  atomic.Value

	mu     sync.Mutex
	recv   []*recvTrack
	states map[sfu.Target]webrtc.PeerConnectionState
}

type recvTrack struct {
	streamID, trackID string
	kind              webrtc.RTPCodecType
	track             *webrtc.TrackRemote
	packets           atomic.Int64
	bad               atomic.Int64
	lastSeq           atomic.Uint32 // sequence number of the newest packet read
	ended             chan struct{}
}

func (r *recvTrack) isEnded() bool {
	select {
	case <-r.ended:
		return true
	default:
		return false
	}
}

// join creates the client's PCs and joins room r as id.
func (e *testEnv) join(r *sfu.Room, id string, canPublish, canSubscribe bool) *client {
	e.t.Helper()
	c := &client{env: e, id: id, events: make(chan func(), 1024), done: make(chan struct{}),
		states: map[sfu.Target]webrtc.PeerConnectionState{}}
	var err error
	api := e.api
	if e.apiFor != nil {
		api = e.apiFor(id)
	}
	if c.pub, err = api.NewPeerConnection(e.pubConfig); err != nil {
		e.t.Fatal(err)
	}
	if c.sub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		e.t.Fatal(err)
	}
	e.clients = append(e.clients, c)
	c.part, err = r.Join(sfu.ParticipantInfo{ID: id, Name: "name " + id, CanPublish: canPublish, CanSubscribe: canSubscribe}, c)
	if err != nil {
		e.t.Fatalf("join %s: %v", id, err)
	}
	part := c.part
	c.pub.OnICECandidate(func(ci *webrtc.ICECandidate) {
		if ci != nil {
			c.check(part.AddICECandidate(sfu.Publisher, ci.ToJSON()))
		}
	})
	c.sub.OnICECandidate(func(ci *webrtc.ICECandidate) {
		if ci != nil {
			c.check(part.AddICECandidate(sfu.Subscriber, ci.ToJSON()))
		}
	})
	c.sub.OnTrack(c.onTrack)
	c.wg.Add(1)
	go c.loop()
	return c
}

// check records an unexpected error; errors after the client closed or its
// participant left are teardown races, not failures.
func (c *client) check(err error) {
	select {
	case <-c.done:
		return
	default:
	}
	if err != nil && !c.left.Load() {
		c.failures.Add(1)
		c.lastErr.Store(err)
	}
}

// sfu.Events: never block, hand everything to the loop.
func (c *client) SubscriberOffer(o webrtc.SessionDescription) {
	c.push(func() { c.handleOffer(o) })
}

func (c *client) ICECandidate(t sfu.Target, ci webrtc.ICECandidateInit) {
	c.push(func() {
		pc := c.sub
		if t == sfu.Publisher {
			pc = c.pub
		}
		c.check(pc.AddICECandidate(ci))
	})
}

func (c *client) ConnectionState(t sfu.Target, st webrtc.PeerConnectionState) {
	c.mu.Lock()
	c.states[t] = st
	c.mu.Unlock()
}

func (c *client) state(t sfu.Target) webrtc.PeerConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.states[t]
}

func (c *client) push(f func()) {
	select {
	case c.events <- f:
	default:
		c.check(errors.New("client mailbox full"))
	}
}

func (c *client) loop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case f := <-c.events:
			f()
		}
	}
}

func (c *client) handleOffer(o webrtc.SessionDescription) {
	if err := c.sub.SetRemoteDescription(o); err != nil {
		c.check(err)
		return
	}
	answer, err := c.sub.CreateAnswer(nil)
	if err != nil {
		c.check(err)
		return
	}
	if err := c.sub.SetLocalDescription(answer); err != nil {
		c.check(err)
		return
	}
	c.check(c.part.SetSubscriberAnswer(answer))
	c.offers.Add(1)
}

func (c *client) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	rt := &recvTrack{streamID: tr.StreamID(), trackID: tr.ID(), kind: tr.Kind(), track: tr, ended: make(chan struct{})}
	c.mu.Lock()
	c.recv = append(c.recv, rt)
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(rt.ended)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			// The SFU sets the stream id to the publisher's participant ID.
			good := false
			if c.onPacket != nil {
				good = c.onPacket(rt, p)
			} else {
				good = checkPayload(rt.kind, rt.streamID, p.Payload)
			}
			rt.lastSeq.Store(uint32(p.SequenceNumber))
			if good {
				rt.packets.Add(1)
			} else {
				rt.bad.Add(1)
			}
		}
	}()
}

// tracks returns received tracks, optionally only live ones from one publisher.
func (c *client) tracks(from string, liveOnly bool) []*recvTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*recvTrack
	for _, rt := range c.recv {
		if (from == "" || rt.streamID == from) && (!liveOnly || !rt.isEnded()) {
			out = append(out, rt)
		}
	}
	return out
}

// receiving reports whether the client has n live tracks from publisher
// `from`, each with at least min good packets and no bad ones.
func (c *client) receiving(from string, n int, min int64) bool {
	ts := c.tracks(from, true)
	if len(ts) != n {
		return false
	}
	for _, rt := range ts {
		if rt.packets.Load() < min || rt.bad.Load() > 0 {
			return false
		}
	}
	return true
}

func (c *client) track(from string, kind webrtc.RTPCodecType) *recvTrack {
	for _, rt := range c.tracks(from, true) {
		if rt.kind == kind {
			return rt
		}
	}
	return nil
}

// sendNACK asks for the packet n before the newest one read on rt.
func (c *client) sendNACK(rt *recvTrack, n uint16) {
	seq := uint16(rt.lastSeq.Load()) - n
	_ = c.sub.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: uint32(rt.track.SSRC()),
		Nacks: []rtcp.NackPair{{PacketID: seq}}}})
}

func (c *client) sendPLI(rt *recvTrack) {
	_ = c.sub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(rt.track.SSRC())}})
}

// publish offers a VP8 and an Opus track and starts sending synthetic media.
func (c *client) publish() {
	e := c.env
	e.t.Helper()
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam-"+c.id, "stream-"+c.id)
	if err != nil {
		e.t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic-"+c.id, "stream-"+c.id)
	if err != nil {
		e.t.Fatal(err)
	}
	send := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	vt, err := c.pub.AddTransceiverFromTrack(video, send)
	if err != nil {
		e.t.Fatal(err)
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
	c.videoSender = vt.Sender()
	c.wg.Add(3)
	go c.readSenderRTCP(vt.Sender(), true)
	go c.readSenderRTCP(at.Sender(), false)
	go c.sendMedia(video, audio)
}

// nackCount is how many video sequence numbers were NACKed to this publisher.
func (c *client) nackCount() int {
	c.nackMu.Lock()
	defer c.nackMu.Unlock()
	return len(c.nacked)
}

// unpublishVideo removes the video track and renegotiates the publish PC.
func (c *client) unpublishVideo() {
	e := c.env
	e.t.Helper()
	if err := c.pub.RemoveTrack(c.videoSender); err != nil {
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
		e.t.Fatalf("republish %s: %v", c.id, err)
	}
	if err := c.pub.SetRemoteDescription(answer); err != nil {
		e.t.Fatal(err)
	}
}

func (c *client) readSenderRTCP(s *webrtc.RTPSender, video bool) {
	defer c.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if _, ok := p.(*rtcp.PictureLossIndication); ok && video {
				c.plis.Add(1)
				c.wantKey.Store(true)
			}
			if n, ok := p.(*rtcp.TransportLayerNack); ok && video {
				c.nackMu.Lock()
				if c.nacked == nil {
					c.nacked = map[uint16]bool{}
				}
				for _, pair := range n.Nacks {
					for _, seq := range pair.PacketList() {
						c.nacked[seq] = true
					}
				}
				c.nackMu.Unlock()
			}
		}
	}
}

// sendMedia writes a 5-packet VP8 frame and one Opus packet every 20 ms
// (~300 packets/s, enough to fill a stalled local sink's queue quickly).
// Frames are keyframes at the start and after each PLI.
func (c *client) sendMedia(video, audio *webrtc.TrackLocalStaticRTP) {
	defer c.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var vseq, aseq uint16
	var vn, an uint32
	var vts, ats uint32
	key := true
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
		}
		if c.wantKey.Swap(false) {
			key = true
		}
		for i := 0; i < 5; i++ {
			p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: vseq, Timestamp: vts, Marker: i == 4},
				Payload: videoPayload(c.id, vn, i == 0, key)}
			_ = video.WriteRTP(p)
			vseq++
			vn++
		}
		key = false
		vts += 1800
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: aseq, Timestamp: ats, Marker: true},
			Payload: audioPayload(c.id, an)}
		_ = audio.WriteRTP(p)
		aseq++
		an++
		ats += 960
	}
}

func (c *client) leave() {
	c.left.Store(true)
	c.part.Leave()
}

func (c *client) close() {
	c.stopOnce.Do(func() {
		close(c.done)
		_ = c.pub.Close()
		_ = c.sub.Close()
		c.wg.Wait()
	})
}

// Payloads carry a mark (sender, counter) so receivers can rebuild the exact
// bytes that were sent.
func appendMark(b []byte, sender string, n uint32) []byte {
	b = append(b, 'J', 'H', byte(len(sender)))
	b = append(b, sender...)
	return binary.BigEndian.AppendUint32(b, n)
}

// videoPayload is a VP8 RTP payload: descriptor (S bit on the first packet
// of a frame), then on the first packet a VP8 frame tag whose P bit marks a
// keyframe (with the keyframe start code and a 16x16 size).
func videoPayload(sender string, n uint32, first, key bool) []byte {
	var b []byte
	if first {
		b = append(b, 0x10)
		tag := byte(0x10) // show_frame
		if !key {
			tag |= 0x01
		}
		b = append(b, tag, 0, 0)
		if key {
			b = append(b, 0x9d, 0x01, 0x2a, 16, 0, 16, 0)
		}
	} else {
		b = append(b, 0x00)
	}
	return appendMark(b, sender, n)
}

func audioPayload(sender string, n uint32) []byte {
	return appendMark([]byte{0xfc}, sender, n)
}

// isVP8Keyframe reports whether a VP8 RTP payload starts a keyframe.
func isVP8Keyframe(p []byte) bool {
	return len(p) > 1 && p[0]&0x10 != 0 && p[1]&0x01 == 0
}

func checkPayload(kind webrtc.RTPCodecType, sender string, p []byte) bool {
	if len(p) < 4 {
		return false
	}
	n := binary.BigEndian.Uint32(p[len(p)-4:])
	var want []byte
	if kind == webrtc.RTPCodecTypeVideo {
		want = videoPayload(sender, n, p[0]&0x10 != 0, isVP8Keyframe(p))
	} else {
		want = audioPayload(sender, n)
	}
	return bytes.Equal(p, want)
}
