package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"jobhall/internal/roomtoken"
	"jobhall/signaling"
)

// peer is a Go client speaking the signalling protocol with real Pion
// PeerConnections, as a browser would.
type peer struct {
	t   *testing.T
	ws  *websocket.Conn
	api *webrtc.API

	wmu sync.Mutex // guards writes to ws

	mu  sync.Mutex
	pub *webrtc.PeerConnection
	sub *webrtc.PeerConnection

	rtc      webrtc.Configuration    // for new PeerConnections; set before publishing
	frames   chan signaling.Outbound // non-media frames for the test
	received atomic.Int64            // RTP packets received on the subscriber PC
	paused   atomic.Bool             // publish sends nothing while set
	done     chan struct{}
}

func dialWS(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// reconnect drops the WebSocket (as a network change does) and joins again
// on a new one, keeping the PeerConnections.
func (p *peer) reconnect(ctx context.Context, url, room, token string) signaling.Outbound {
	p.t.Helper()
	p.ws.Close()
	<-p.done
	p.wmu.Lock()
	p.ws = dialWS(p.t, ctx, url)
	p.wmu.Unlock()
	p.done = make(chan struct{})
	go p.readLoop()
	p.send(map[string]any{"type": "hello", "version": 1})
	p.expect("welcome")
	p.send(map[string]any{"type": "join", "room": room, "token": token, "resume": true})
	return p.expect("joined")
}

func dialPeer(t *testing.T, ctx context.Context, url string) *peer {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return dialPeerWith(t, ctx, url, se)
}

// dialPeerWith connects a peer whose PeerConnections use se (a vnet, say).
func dialPeerWith(t *testing.T, ctx context.Context, url string, se webrtc.SettingEngine) *peer {
	t.Helper()
	ws := dialWS(t, ctx, url)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, ws: ws, api: webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m)),
		frames: make(chan signaling.Outbound, 64), done: make(chan struct{})}
	go p.readLoop()
	t.Cleanup(p.close)
	return p
}

func (p *peer) close() {
	p.ws.Close()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range []*webrtc.PeerConnection{p.pub, p.sub} {
		if pc != nil {
			pc.Close()
		}
	}
}

func (p *peer) send(v any) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.WriteJSON(v)
}

func (p *peer) sendRaw(b []byte) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.WriteMessage(websocket.TextMessage, b)
}

// readLoop answers media frames itself and passes the rest to the test.
func (p *peer) readLoop() {
	defer close(p.done)
	for {
		var m signaling.Outbound
		if err := p.ws.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case signaling.TypeAnswer:
			p.mu.Lock()
			err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
			p.mu.Unlock()
			if err != nil {
				p.t.Errorf("publisher answer: %v", err)
			}
		case signaling.TypeOffer:
			p.answerSubscriber(m.SDP)
		case signaling.TypeCandidate:
			p.mu.Lock()
			pc := p.pub
			if m.Target == signaling.TargetSubscriber {
				pc = p.sub
			}
			p.mu.Unlock()
			if pc != nil {
				_ = pc.AddICECandidate(*m.Candidate)
			}
		default:
			p.frames <- m
		}
	}
}

func (p *peer) answerSubscriber(sdp string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sub == nil {
		pc, err := p.api.NewPeerConnection(p.rtc)
		if err != nil {
			p.t.Errorf("subscriber pc: %v", err)
			return
		}
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				ci := c.ToJSON()
				p.send(map[string]any{"type": "candidate", "target": "subscriber", "candidate": ci})
			}
		})
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				p.received.Add(1)
			}
		})
		p.sub = pc
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		p.t.Errorf("subscriber offer: %v", err)
		return
	}
	ans, err := p.sub.CreateAnswer(nil)
	if err == nil {
		err = p.sub.SetLocalDescription(ans)
	}
	if err != nil {
		p.t.Errorf("subscriber answer: %v", err)
		return
	}
	p.send(map[string]any{"type": "answer", "target": "subscriber", "sdp": ans.SDP})
}

// publish sends a synthetic VP8 track until ctx ends.
func (p *peer) publish(ctx context.Context) {
	p.t.Helper()
	pc, err := p.api.NewPeerConnection(p.rtc)
	if err != nil {
		p.t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "cam")
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		p.t.Fatal(err)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.send(map[string]any{"type": "candidate", "target": "publisher", "candidate": c.ToJSON()})
		}
	})
	p.mu.Lock()
	p.pub = pc
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	p.mu.Unlock()
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(map[string]any{"type": "offer", "target": "publisher", "sdp": offer.SDP})
	go func() {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if p.paused.Load() {
					continue
				}
				_ = track.WriteSample(media.Sample{Data: vp8Frame(i%30 == 0, 1000), Duration: 33 * time.Millisecond})
			}
		}
	}()
}

func (p *peer) expect(typ string) signaling.Outbound {
	p.t.Helper()
	select {
	case m := <-p.frames:
		if m.Type != typ {
			b, _ := json.Marshal(m)
			p.t.Fatalf("got %s, want %s", b, typ)
		}
		return m
	case <-time.After(10 * time.Second):
		p.t.Fatalf("no %s frame", typ)
	}
	return signaling.Outbound{}
}

func (p *peer) join(room, token string) signaling.Outbound {
	p.t.Helper()
	p.send(map[string]any{"type": "hello", "version": 1})
	p.expect("welcome")
	p.send(map[string]any{"type": "join", "room": room, "token": token})
	return p.expect("joined")
}

func waitGrowth(t *testing.T, what string, v func() int64) {
	t.Helper()
	start := v()
	deadline := time.Now().Add(15 * time.Second)
	for v() < start+20 {
		if time.Now().After(deadline) {
			t.Fatalf("%s stopped: %d -> %d", what, start, v())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSignalingOverTheRealSFU: media flows between Pion peers through the
// real server, and bad tokens, malformed frames, oversized frames and a
// broken SDP get error frames while the room's media goes on.
func TestSignalingOverTheRealSFU(t *testing.T) {
	node := startNode(t, map[string]string{"JOBHALL_DEMO": "off"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tok := func(room, id, role string, exp time.Duration) string {
		return node.grantFor(t, roomtoken.Grant{Room: room, Identity: id, Name: id, Role: role, Expires: time.Now().Add(exp)})
	}
	const room = "course-7" // not an interview: no employment log, no recorder

	a := dialPeer(t, ctx, node.url)
	a.join(room, tok(room, "trainer-1", "trainer", time.Minute))
	b := dialPeer(t, ctx, node.url)
	b.send(map[string]any{"type": "hello", "version": 1})
	b.expect("welcome")
	for _, bad := range []struct{ room, token, code string }{
		{room, "", "invalid"},
		{room, tok(room, "viewer-1", "viewer", -time.Minute), "unauthorized"},
		{room, tok("course-8", "viewer-1", "viewer", time.Minute), "forbidden"},
	} {
		b.send(map[string]any{"type": "join", "room": bad.room, "token": bad.token})
		if m := b.expect("error"); string(m.Code) != bad.code {
			t.Fatalf("bad join got %+v, want code %s", m, bad.code)
		}
	}
	b.send(map[string]any{"type": "join", "room": room, "token": tok(room, "viewer-1", "viewer", time.Minute)})
	b.expect("joined")
	a.expect("participant_joined")

	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	a.publish(pubCtx)
	waitGrowth(t, "media to the viewer", b.received.Load)

	// The viewer may not publish, whatever it sends.
	b.send(map[string]any{"type": "offer", "target": "publisher", "sdp": "v=0\r\n"})
	if m := b.expect("error"); m.Code != "forbidden" {
		t.Fatalf("viewer offer: %+v", m)
	}
	// The publisher sends garbage of every kind; each gets an error frame.
	for _, raw := range []string{`{"type":`, `{"type":"offer","target":"publisher","sdp":"v=0\r\nthis is not sdp"}`,
		`{"type":"warp"}`, `{"type":"candidate","target":"publisher","candidate":{"candidate":"candidate:nonsense"}}`,
		`{"type":"ping","pad":"` + strings.Repeat("x", 70<<10) + `"}`} {
		a.sendRaw([]byte(raw))
		a.expect("error")
	}
	a.send(map[string]any{"type": "ping", "ts": 7})
	if m := a.expect("pong"); m.TS != 7 {
		t.Fatalf("pong %+v", m)
	}
	waitGrowth(t, "media after bad input", b.received.Load)
	if st := node.signaling.Stats(); st.Connections != 2 || st.FramesBad < 8 {
		t.Fatalf("signalling stats %+v", st)
	}
}

// TestResumeKeepsMediaFlowing: the publisher's WebSocket dies; its media
// keeps reaching the viewer, and the publisher resumes on a new socket with
// the same identity and the same PeerConnections.
func TestResumeKeepsMediaFlowing(t *testing.T) {
	node := startNode(t, map[string]string{"JOBHALL_DEMO": "off"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const room = "course-9"
	tok := func(id, role string) string { return node.grant(t, room, id, role) }
	trainerTok := tok("trainer-1", "trainer")
	a := dialPeer(t, ctx, node.url)
	a.join(room, trainerTok)
	b := dialPeer(t, ctx, node.url)
	b.join(room, tok("viewer-1", "viewer"))
	a.expect("participant_joined")
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	a.publish(pubCtx)
	waitGrowth(t, "media before the drop", b.received.Load)

	a.ws.Close()
	if m := b.expect("participant_updated"); m.Participant.ID != "trainer-1" || *m.Participant.Connected {
		t.Fatalf("%+v", m)
	}
	waitGrowth(t, "media while the publisher's socket is down", b.received.Load)
	j := a.reconnect(ctx, node.url, room, trainerTok)
	if !j.Resumed {
		t.Fatalf("not resumed: %+v", j)
	}
	if m := b.expect("participant_updated"); !*m.Participant.Connected {
		t.Fatalf("%+v", m)
	}
	waitGrowth(t, "media after the resume", b.received.Load)
	a.send(map[string]any{"type": "ping", "ts": 3})
	a.expect("pong")
	select {
	case m := <-b.frames:
		t.Fatalf("the viewer saw %+v: a resume must not look like leave and join", m)
	default:
	}
}

// relayOnly makes p's PeerConnections use only TURN relay candidates from
// the joined frame's ice_servers, keeping the URLs that contain transport.
func (p *peer) relayOnly(j signaling.Outbound, transport string) {
	p.t.Helper()
	if len(j.ICEServers) == 0 {
		p.t.Fatalf("joined carries no ice_servers: %+v", j)
	}
	var servers []webrtc.ICEServer
	for _, s := range j.ICEServers {
		var urls []string
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "transport="+transport) {
				urls = append(urls, u)
			}
		}
		servers = append(servers, webrtc.ICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
	}
	p.rtc = webrtc.Configuration{ICEServers: servers, ICETransportPolicy: webrtc.ICETransportPolicyRelay}
}

// TestTURNRelay: peers that may use nothing but the embedded TURN relay,
// over UDP and over TCP (as behind a firewall that blocks UDP), publish and
// receive through the SFU with credentials from the joined frame.
func TestTURNRelay(t *testing.T) {
	node := startNode(t, map[string]string{"JOBHALL_DEMO": "off", "JOBHALL_TURN": "true", "JOBHALL_TURN_PORT": "0"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			room := "course-turn-" + transport
			tok := func(id, role string) string { return node.grant(t, room, id, role) }
			a := dialPeer(t, ctx, node.url)
			a.relayOnly(a.join(room, tok("trainer-1", "trainer")), transport)
			b := dialPeer(t, ctx, node.url)
			b.relayOnly(b.join(room, tok("viewer-1", "viewer")), transport)
			a.expect("participant_joined")
			pubCtx, stopPub := context.WithCancel(ctx)
			defer stopPub()
			a.publish(pubCtx)
			waitGrowth(t, "media through TURN/"+transport, b.received.Load)
			if n := node.turn.Allocations(); n < 2 {
				t.Fatalf("%d TURN allocations; the peers did not relay", n)
			}
		})
	}
}

// vp8Frame is a syntactically valid VP8 frame (RFC 6386 frame tag, and for
// a keyframe the start code and a 320x240 size): the SFU checks payloads
// and starts a subscriber's video at a keyframe.
func vp8Frame(key bool, size int) []byte {
	f := make([]byte, size)
	if key {
		copy(f, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
	} else {
		copy(f, []byte{0x11, 0x02, 0x00})
	}
	return f
}

// TestUDPBlockedICETCP: a client that cannot use UDP at all (a firewall
// that blocks it) reaches the SFU over ICE-TCP.
func TestUDPBlockedICETCP(t *testing.T) {
	port := freeTCPPort(t)
	node := startNode(t, map[string]string{"JOBHALL_DEMO": "off", "JOBHALL_WEBRTC_TCP_PORT": strconv.Itoa(port)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const room = "course-tcp"
	tok := func(id, role string) string { return node.grant(t, room, id, role) }
	tcpOnly := webrtc.SettingEngine{}
	tcpOnly.SetIncludeLoopbackCandidate(true)
	tcpOnly.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	a := dialPeerWith(t, ctx, node.url, tcpOnly)
	a.join(room, tok("trainer-1", "trainer"))
	b := dialPeer(t, ctx, node.url)
	b.join(room, tok("viewer-1", "viewer"))
	a.expect("participant_joined")
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	a.publish(pubCtx)
	waitGrowth(t, "media over ICE-TCP", b.received.Load)
	a.mu.Lock()
	pair, err := a.pub.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	a.mu.Unlock()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v), want TCP", pair, err)
	}
}
