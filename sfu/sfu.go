// Package sfu is jobhall's selective forwarding unit built on Pion WebRTC v4.
// It knows rooms, participants and tracks; it knows nothing of bookings, HTTP
// or JSON. The signalling layer drives it through Room.Join, Participant
// methods and the Events interface; the recorder attaches through
// Room.AddLocalSubscriber.
//
// # Model
//
// Each participant has two PeerConnections (as in LiveKit): the publish PC,
// where the client offers and the server answers (server side recvonly), and
// the subscribe PC, where the server offers and the client answers (server
// side sendonly). Keeping the offerer fixed per PC avoids glare.
//
// Every published track is read by one reader goroutine which writes each
// packet to a shared TrackLocalStaticRTP (bound once per subscribe PC, so Pion
// fans it out and rewrites SSRC and payload type) and copies it into the
// bounded queue of each local sink. A later custom forwarder replaces the
// shared track behind downTrack without changing this API.
//
// # Goroutines and ownership
//
//   - Participant loop (one per participant): owns the subscribe PC's
//     mutations and negotiation state (Participant.downs, negotiating,
//     renegotiate). Fed by Participant.ops; nothing else touches those fields.
//     Subscribe-PC ICE candidates are also emitted from it, so they always
//     follow the offer they belong to.
//   - Track reader (one per published track): owns the read buffer; reads
//     the sink list through an atomic snapshot; never blocks on a consumer.
//   - Receiver RTCP reader (one per published track) and sender RTCP reader
//     (one per forwarded track per subscriber): drain RTCP so interceptors
//     run; the latter turns PLI/FIR into throttled keyframe requests.
//   - Sink worker (one per local sink): owns its LocalTrackSink; WriteRTP and
//     Close are only ever called from it, so a sink needs no locking.
//   - Pion callback goroutines: OnTrack starts the readers; the others only
//     enqueue to a mailbox or emit Events.
//
// # Locks (acquire in this order; never call out while holding one)
//
//   - SFU.mu guards SFU.rooms and SFU.closed.
//   - Room.mu guards Room.participants, Room.tracks, Room.locals, Room.closed.
//     Mailbox pushes happen under it so subscribe/unsubscribe ops for a track
//     reach every participant in the order the room saw them.
//   - Participant.mu guards Participant.closed, .tracks and the ICE candidate
//     buffers; Participant.pubMu serialises Publish negotiations;
//     Participant.stateMu serialises ConnectionState events.
//   - publishedTrack.mu guards its sinks and closed flag.
//   - mailbox.mu and keyframeThrottle.mu are leaves.
//
// Events methods and LocalSubscriber.AddTrack are called with no lock held.
package sfu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

// Config configures an SFU.
type Config struct {
	ListenIP        string   // IP for the single ICE UDP mux socket; "" = "0.0.0.0"
	UDPPort         int      // the one UDP port for all peers; 0 = pick a free port
	PublicIPs       []string // optional 1:1 NAT addresses to advertise instead (host candidates)
	IncludeLoopback bool     // advertise loopback candidates (tests, single machine demo)
	Logger          *slog.Logger
}

// Stats is a snapshot of the SFU's size and packet counters.
type Stats struct {
	Rooms, Participants, Tracks int
	// PacketsForwarded counts packets handed to a subscriber: each remote
	// subscriber and each local sink counts once per packet.
	PacketsForwarded uint64
	// PacketsDropped counts packets dropped because a local sink's queue was full.
	PacketsDropped uint64
}

const (
	maxTracksPerParticipant = 8
	maxSDPBytes             = 64 << 10
	maxCandidateBytes       = 1024
	maxPendingCandidates    = 64
	keyframeInterval        = 500 * time.Millisecond // min gap between PLIs per track
	sinkQueueLen            = 256                    // ~1 s of 2.5 Mbit/s video
	gatherTimeout           = 3 * time.Second
	closeWait               = 5 * time.Second
	certRenewBefore         = 24 * time.Hour
)

// SFU owns the UDP mux, the Pion API and the rooms.
type SFU struct {
	log  *slog.Logger
	api  *webrtc.API
	mux  *ice.UDPMuxDefault
	conn *net.UDPConn

	forwarded atomic.Uint64
	dropped   atomic.Uint64

	certMu sync.Mutex
	cert   *webrtc.Certificate

	// wg counts the goroutines this package starts; goMu makes Add and the
	// final Wait race-free.
	goMu     sync.Mutex
	goClosed bool
	wg       sync.WaitGroup

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
}

// New opens the UDP mux and prepares the WebRTC API.
func New(cfg Config) (*SFU, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "sfu")
	ip := cfg.ListenIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	listenIP := net.ParseIP(ip)
	if listenIP == nil {
		return nil, apperr.New(apperr.Invalid, "sfu: invalid listen IP %q", cfg.ListenIP)
	}
	if cfg.UDPPort < 0 || cfg.UDPPort > 65535 {
		return nil, apperr.New(apperr.Invalid, "sfu: invalid UDP port %d", cfg.UDPPort)
	}
	for _, p := range cfg.PublicIPs {
		if net.ParseIP(p) == nil {
			return nil, apperr.New(apperr.Invalid, "sfu: invalid public IP %q", p)
		}
	}

	cert, err := newCertificate()
	if err != nil {
		return nil, err
	}

	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: listenIP, Port: cfg.UDPPort})
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "sfu: listen UDP %s:%d", ip, cfg.UDPPort)
	}
	logs := pionLogFactory{log: log}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: logs.NewLogger("udpmux")})

	api, err := newAPI(cfg, mux, logs)
	if err != nil {
		_ = mux.Close()
		return nil, apperr.Wrap(err, apperr.Internal, "sfu: build WebRTC API")
	}
	s := &SFU{log: log, api: api, mux: mux, conn: conn, cert: cert, rooms: map[string]*Room{}}
	log.Info("sfu listening", "addr", conn.LocalAddr().String())
	return s, nil
}

func newCertificate() (*webrtc.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "sfu: generate DTLS key")
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "sfu: generate DTLS certificate")
	}
	return cert, nil
}

func newAPI(cfg Config, mux ice.UDPMux, logs pionLogFactory) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	// Only VP8 and Opus: they are what the WebM recorder writes and what
	// every browser sends, so publisher and subscribers always agree.
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}},
		},
		PayloadType: 96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	// TWCC feedback lets browsers run their send-side bandwidth estimation.
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}

	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	// mDNS would open a multicast socket per PeerConnection; browsers reach
	// us through peer-reflexive candidates anyway.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if len(cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, err
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// certificate returns the shared DTLS certificate, renewing it shortly
// before it expires (Pion's default validity is one month).
func (s *SFU) certificate() (webrtc.Certificate, error) {
	s.certMu.Lock()
	defer s.certMu.Unlock()
	if time.Until(s.cert.Expires()) < certRenewBefore {
		c, err := newCertificate()
		if err != nil {
			return webrtc.Certificate{}, err
		}
		s.cert = c
	}
	return *s.cert, nil
}

func (s *SFU) newPeerConnection() (*webrtc.PeerConnection, error) {
	cert, err := s.certificate()
	if err != nil {
		return nil, err
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{
		Certificates:  []webrtc.Certificate{cert},
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	})
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "sfu: new peer connection")
	}
	return pc, nil
}

// spawn runs f on a counted goroutine; it reports false once the SFU is closing.
func (s *SFU) spawn(f func()) bool {
	s.goMu.Lock()
	defer s.goMu.Unlock()
	if s.goClosed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// UDPPort is the port of the ICE UDP mux.
func (s *SFU) UDPPort() int {
	return s.conn.LocalAddr().(*net.UDPAddr).Port
}

// Room returns the room with this id, creating it if needed. Once the SFU is
// closed it returns a closed, unregistered room (Join fails with Unavailable).
func (s *SFU) Room(id string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		r := newRoom(s, id)
		r.closed = true
		return r
	}
	if r := s.rooms[id]; r != nil {
		return r
	}
	r := newRoom(s, id)
	s.rooms[id] = r
	return r
}

// LookupRoom returns the room with this id or nil.
func (s *SFU) LookupRoom(id string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

// reapRoom removes r from the map if it has neither participants nor local
// subscribers; a reaped room is closed, so a stale pointer cannot gain members.
func (s *SFU) reapRoom(r *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.participants) > 0 || len(r.locals) > 0 {
		return
	}
	r.closed = true
	if s.rooms[r.id] == r {
		delete(s.rooms, r.id)
	}
	s.log.Debug("room removed", "room", r.id)
}

func (s *SFU) dropRoom(r *Room) {
	s.mu.Lock()
	if s.rooms[r.id] == r {
		delete(s.rooms, r.id)
	}
	s.mu.Unlock()
}

// Stats returns current sizes and counters.
func (s *SFU) Stats() Stats {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	st := Stats{Rooms: len(rooms), PacketsForwarded: s.forwarded.Load(), PacketsDropped: s.dropped.Load()}
	for _, r := range rooms {
		r.mu.Lock()
		st.Participants += len(r.participants)
		st.Tracks += len(r.tracks)
		r.mu.Unlock()
	}
	return st
}

// Close closes every room and the UDP mux and waits (bounded) for the
// package's goroutines. A LocalTrackSink blocked in WriteRTP keeps its worker
// alive until it returns; Close gives up waiting after a few seconds.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()

	for _, r := range rooms {
		r.Close()
	}

	s.goMu.Lock()
	s.goClosed = true
	s.goMu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-time.After(closeWait):
		err = apperr.New(apperr.Internal, "sfu: goroutines still running after %s (a local sink blocked?)", closeWait)
		s.log.Warn("sfu close: goroutines still running", "err", err)
	}
	if cerr := s.mux.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = errors.Join(err, fmt.Errorf("sfu: close UDP mux: %w", cerr))
	}
	return err
}
