package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/roomtoken"
	"jobhall/sfu"
	"jobhall/signaling"
	"jobhall/turnrelay"
)

// The network tests run the SFU, the TURN relay and the clients on a
// pion/transport virtual network (the kernel here has no netem); signalling
// stays on real loopback. The "internet" is 1.2.3.0/24: the SFU is 1.2.3.4,
// TURN 1.2.3.5.
const (
	vnetSFU  = "1.2.3.4"
	vnetTURN = "1.2.3.5"
)

type vnetWorld struct {
	t      *testing.T
	wan    *vnet.Router
	url    string
	tokens *roomtoken.Issuer
	sfu    *sfu.SFU
	turn   *turnrelay.Server
	drop   atomic.Pointer[func(vnet.Chunk) bool] // the firewall rule in force
	drops  atomic.Int64
}

func newVnetWorld(t *testing.T) *vnetWorld {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	w := &vnetWorld{t: t, wan: wan}
	wan.AddChunkFilter(func(c vnet.Chunk) bool {
		if f := w.drop.Load(); f != nil && (*f)(c) {
			w.drops.Add(1)
			return false
		}
		return true
	})
	sfuNet := w.host(vnetSFU)
	turnNet := w.host(vnetTURN)
	w.onWAN(sfuNet, turnNet)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	// pion's vnet has no TCP listener: ICE-TCP and TURN over TCP are
	// tested on loopback (TestUDPBlockedICETCP, TestTURNRelay).
	s, err := sfu.New(sfu.Config{ListenIP: vnetSFU, UDPPort: 5000, Net: sfuNet, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w.sfu = s
	w.turn, err = turnrelay.New(turnrelay.Config{ListenIP: vnetTURN, Port: 3478, Net: turnNet, NoTCP: true, RelayIP: net.ParseIP(vnetTURN),
		AllowedPeers: []net.IP{net.ParseIP(vnetSFU)}, Secret: []byte("vnet-turn-secret-0123456789"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w.tokens, _ = roomtoken.NewIssuer([]byte("vnet-token-secret-0123456789"))
	sig, err := signaling.NewServer(signaling.Config{Tokens: w.tokens, Engine: sfuEngine{s}, Logger: log,
		ICEServers: func(g roomtoken.Grant) []signaling.ICEServer {
			var out []signaling.ICEServer
			for _, is := range w.turn.ICEServers(vnetTURN, g.Identity, time.Minute) {
				out = append(out, signaling.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
			}
			return out
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	hs := httptest.NewServer(mux)
	w.url = hs.URL
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sig.Close(ctx)
		hs.Close()
		w.turn.Close()
		s.Close()
		wan.Stop()
	})
	return w
}

func (w *vnetWorld) host(ips ...string) *vnet.Net {
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: ips})
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *vnetWorld) onWAN(nets ...*vnet.Net) {
	for _, n := range nets {
		if err := w.wan.AddNet(n); err != nil {
			w.t.Fatal(err)
		}
	}
}

// behindSymmetricNAT returns a client network behind a NAT whose mapping
// and filtering both depend on the remote address and port, with public
// address pub.
func (w *vnetWorld) behindSymmetricNAT(pub string) *vnet.Net {
	lan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.1.0.0/24", StaticIPs: []string{pub},
		NATType: &vnet.NATType{Mode: vnet.NATModeNormal, MappingBehavior: vnet.EndpointAddrPortDependent,
			FilteringBehavior: vnet.EndpointAddrPortDependent}, LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.wan.AddRouter(lan); err != nil {
		w.t.Fatal(err)
	}
	n := w.host()
	if err := lan.AddNet(n); err != nil {
		w.t.Fatal(err)
	}
	// The WAN is already running: a router added later must be started;
	// the WAN's Stop stops it.
	if err := lan.Start(); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *vnetWorld) firewall(f func(vnet.Chunk) bool) { w.drop.Store(&f) }

func vnetSettings(n *vnet.Net, types ...webrtc.NetworkType) webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetNet(n)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes(types)
	se.SetICETimeouts(2*time.Second, 4*time.Second, 500*time.Millisecond)
	return se
}

func ipOf(a net.Addr) string {
	h, _, _ := net.SplitHostPort(a.String())
	return h
}

func (w *vnetWorld) grant(room, id, role string) string {
	tok, err := w.tokens.Issue(roomtoken.Grant{Room: room, Identity: id, Name: id, Role: role, Expires: time.Now().Add(time.Minute)})
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// publishVia joins a publisher whose PeerConnections use the joined frame's
// ICE servers, and a plain viewer on the WAN, and returns the viewer.
func (w *vnetWorld) publishVia(ctx context.Context, room string, pub webrtc.SettingEngine, viewerIP string) (*peer, *peer) {
	a := dialPeerWith(w.t, ctx, w.url, pub)
	j := a.join(room, w.grant(room, "trainer-1", "trainer"))
	var servers []webrtc.ICEServer
	for _, s := range j.ICEServers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	a.rtc = webrtc.Configuration{ICEServers: servers}
	viewerNet := w.host(viewerIP)
	w.onWAN(viewerNet)
	b := dialPeerWith(w.t, ctx, w.url, vnetSettings(viewerNet, webrtc.NetworkTypeUDP4))
	b.join(room, w.grant(room, "viewer-1", "viewer"))
	a.expect("participant_joined")
	return a, b
}

// selectedLocal is the local candidate of a's publisher connection.
func selectedLocal(t *testing.T, a *peer) webrtc.ICECandidate {
	t.Helper()
	a.mu.Lock()
	pc := a.pub
	a.mu.Unlock()
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected pair: %v", err)
	}
	return *pair.Local
}

// TestVnetSymmetricNATThroughTURN: a publisher behind a symmetric NAT,
// whose firewall lets no UDP reach the SFU directly, connects through the
// TURN relay.
func TestVnetSymmetricNATThroughTURN(t *testing.T) {
	w := newVnetWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const natIP = "1.2.3.10"
	client := w.behindSymmetricNAT(natIP)
	w.firewall(func(c vnet.Chunk) bool {
		return c.Network() == "udp" && ipOf(c.SourceAddr()) == natIP && ipOf(c.DestinationAddr()) == vnetSFU
	})
	a, b := w.publishVia(ctx, "course-nat", vnetSettings(client, webrtc.NetworkTypeUDP4), "1.2.3.20")
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	a.publish(pubCtx)
	defer func() {
		if t.Failed() {
			t.Logf("TURN allocations %d, refused %d, firewall drops %d", w.turn.Allocations(), w.turn.Refused(), w.drops.Load())
		}
	}()
	waitGrowth(t, "media from behind the symmetric NAT", b.received.Load)
	if l := selectedLocal(t, a); l.Typ != webrtc.ICECandidateTypeRelay {
		t.Fatalf("selected %s candidate, want relay", l.Typ)
	}
	if w.drops.Load() == 0 {
		t.Fatal("the firewall never dropped a direct attempt: the test proves nothing")
	}
}

// TestVnetAddressChangeICERestart: the client's address in use dies (a
// phone leaving Wi-Fi); an ICE restart finds its other address and media
// comes back.
func TestVnetAddressChangeICERestart(t *testing.T) {
	w := newVnetWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := w.host("1.2.3.40", "1.2.3.41") // Wi-Fi and 4G
	w.onWAN(client)
	a, b := w.publishVia(ctx, "course-roam", vnetSettings(client, webrtc.NetworkTypeUDP4), "1.2.3.22")
	a.rtc = webrtc.Configuration{} // host candidates only: the restart must find the other address itself
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	a.publish(pubCtx)
	waitGrowth(t, "media before the change", b.received.Load)
	old := selectedLocal(t, a).Address
	w.firewall(func(c vnet.Chunk) bool { return ipOf(c.SourceAddr()) == old || ipOf(c.DestinationAddr()) == old })
	time.Sleep(500 * time.Millisecond)
	stalled := b.received.Load()
	time.Sleep(time.Second)
	if b.received.Load() > stalled+5 {
		t.Fatal("media kept flowing over the dead address: the test proves nothing")
	}
	// What the page does on "disconnected"/"failed": an ICE restart.
	a.mu.Lock()
	offer, err := a.pub.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err == nil {
		err = a.pub.SetLocalDescription(offer)
	}
	a.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	a.send(map[string]any{"type": "offer", "target": "publisher", "sdp": offer.SDP})
	waitGrowth(t, "media after the ICE restart", b.received.Load)
	if now := selectedLocal(t, a).Address; now == old {
		t.Fatalf("still on %s", now)
	}
}

// TestVnetSubscriberICERestart: the viewer's address dies; it asks for an
// ICE restart of its subscriber connection (restart_ice), the server offers
// new credentials, and media comes back over its other address.
func TestVnetSubscriberICERestart(t *testing.T) {
	w := newVnetWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pubNet := w.host("1.2.3.50")
	w.onWAN(pubNet)
	a := dialPeerWith(t, ctx, w.url, vnetSettings(pubNet, webrtc.NetworkTypeUDP4))
	a.join("course-roam2", w.grant("course-roam2", "trainer-1", "trainer"))
	viewerNet := w.host("1.2.3.51", "1.2.3.52")
	w.onWAN(viewerNet)
	b := dialPeerWith(t, ctx, w.url, vnetSettings(viewerNet, webrtc.NetworkTypeUDP4))
	b.join("course-roam2", w.grant("course-roam2", "viewer-1", "viewer"))
	a.expect("participant_joined")
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	a.publish(pubCtx)
	waitGrowth(t, "media before the change", b.received.Load)
	b.mu.Lock()
	pair, err := b.sub.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	b.mu.Unlock()
	if err != nil || pair == nil {
		t.Fatalf("no selected pair: %v", err)
	}
	old := pair.Local.Address
	w.firewall(func(c vnet.Chunk) bool { return ipOf(c.SourceAddr()) == old || ipOf(c.DestinationAddr()) == old })
	time.Sleep(500 * time.Millisecond)
	stalled := b.received.Load()
	time.Sleep(time.Second)
	if b.received.Load() > stalled+5 {
		t.Fatal("media kept flowing to the dead address: the test proves nothing")
	}
	b.send(map[string]any{"type": "restart_ice"})
	waitGrowth(t, "media after the subscriber's ICE restart", b.received.Load)
}
