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
// Feedback to publishers is the SFU's own too (feedback.go): one
// interceptor per publish PC (and relay input) generates NACKs, TWCC
// feedback (pion's twcc.Recorder) and receiver reports, reading sequence
// numbers, timestamps and transport-wide sequence numbers straight from the
// packet bytes, without allocating, under one lock per stream. It replaces
// Pion's NACK generator, receiver-report interceptor and TWCC sender, which
// each parsed every packet, locked and ran goroutines of their own.
//
// Forwarding is the SFU's own (no TrackLocalStaticRTP): each published
// track has up to three simulcast layers, each read by one reader goroutine
// that parses the packet once into a pooled, reference-counted buffer, keeps
// it in the layer's retransmission cache and puts a reference into the
// bounded queue of every subscriber that wants that layer (never waiting for
// video: a full queue drops the packet and the track restarts at the next
// keyframe; audio waits at most audioWait). Each subscriber's egress worker
// rewrites SSRC, payload type, sequence numbers, timestamps and header
// extensions per track (downTrack + rewriter), switches layers only at
// keyframes, answers NACKs from the caches (RTX when negotiated), runs a
// TWCC-based bandwidth estimate (bwe) and picks layers from it and the
// viewer's preferred size, pausing video when even the low layer does not
// fit. Subscribe PCs run no Pion interceptors; writes leave through one UDP
// socket whose flusher batches them with sendmmsg, equal-size runs to one
// destination as one UDP GSO message (batchConn). On that socket a
// subscriber's SRTP is sealed and its SRTCP opened by the SFU itself
// (srtpOut), bypassing Pion's per-packet layers. The hot path allocates
// nothing (BenchmarkForward*, TestForwardNoAllocs).
//
// # Cascade
//
// A room can be relayed to other nodes (package cascade carries the
// negotiation). On the origin, Room.AddRelay opens a Relay: one
// server-to-server PC (the origin offers) that the layer readers feed with
// every layer of every published track, once per edge, keeping the
// publisher's sequence numbers, timestamps, ids and RIDs; the edge's NACKs
// are answered from the layer caches, its PLIs go to the publisher through
// the layer's throttle. On the edge, Room.JoinRelayInput adds a RelayInput:
// a publish-only participant answering the relay, whose tracks are published
// under the origin publisher's participant ID, so local viewers subscribe to
// them like to a local publisher's (TestRelayNoAllocs covers the hot path).
//
// Dynacast (dynacast.go): simulcast layers that no subscriber and no local
// sink wants are paused at the publisher through LayerEvents and resumed as
// soon as someone picks them (the allocator may pick a paused layer). Codecs
// (codec.go): VP8, H.264, VP9; Opus with in-band FEC, and RED when the
// publisher offers it (the answer prefers it); subscribers and local sinks
// without RED get the Opus primary (red.go).
//
// # Goroutines and ownership
//
//   - Participant loop (one per participant): owns the subscribe PC's
//     mutations and negotiation state (Participant.downs, negotiating,
//     renegotiate). Fed by Participant.ops; nothing else touches those fields.
//     Subscribe-PC ICE candidates are also emitted from it, so they always
//     follow the offer they belong to. It publishes the egress's downTrack
//     list (copy-on-write).
//   - Layer reader (one per published layer): owns the read side; takes
//     packets from its queue (layer.in: the direct SRTP path and the Pion
//     pump feed it); reads the subscriber and sink lists through atomic
//     snapshots; never blocks on a consumer beyond audioWait.
//   - Layer pump (one per published layer): Pion's TrackRemote.Read into
//     the layer's queue (what arrives before the direct path takes the
//     SSRC, and whatever it leaves to Pion); closes layer.quit at the end.
//   - Egress worker (one per subscribing participant): owns every downTrack's
//     rewriter, header and NACK history, the bandwidth estimator and the
//     layer targets; all writes to that subscriber happen on it.
//   - Receiver RTCP reader (one per published layer) and sender RTCP reader
//     (one per forwarded track per subscriber whose RTCP reaches Pion, i.e.
//     without the direct SRTCP path: ICE over TCP, cryptex, vnet tests):
//     drain RTCP so interceptors run; the latter turns PLI/FIR into
//     throttled keyframe requests and hands NACKs and congestion feedback
//     to the egress worker. Started by Participant.needPionRTCP.
//   - Feedback loop (one per publish PC and relay input, started when the
//     PC is made, ticking from its first stream, ending on Close): owns the
//     PC's twcc.Recorder; every 100 ms drains each stream's transport-wide
//     records into it (sooner when a stream's buffer is half full) and
//     writes the TWCC feedback and the NACKs, every second the receiver
//     reports. The per-packet side runs on whatever goroutine reads the
//     stream from Pion (the layer reader, or Pion's RTX and probe readers).
//   - UDP socket reader (Pion's UDP mux worker, one per SFU): besides
//     feeding the mux, decrypts direct-path subscribers' SRTCP and does the
//     same as the sender RTCP reader (srtpOut.readRTCP; it owns each
//     srtpOut's decrypt context), and decrypts direct-path publishers' SRTP,
//     counts it in the PC's feedback streams and queues it to the layer
//     reader without waiting (srtpIn.readRTP; it owns each srtpIn's decrypt
//     context).
//   - Sink worker (one per local sink): owns its LocalTrackSink and its
//     rewriter; WriteRTP and Close are only ever called from it.
//   - Relay loop (one per relay): owns the relay PC's mutations, its
//     negotiation state and Relay.outs. Fed by Relay.ops.
//   - Relay writer (one per relay): owns the write scratch; every packet and
//     retransmission to the edge leaves from it. Layer readers only queue
//     to it (a full queue drops and counts).
//   - Relay RTCP reader (one per relayed encoding): PLI/FIR to the
//     publisher's layer throttle, NACKs to the relay writer.
//   - batchConn flusher (one per SFU): owns the sendmmsg batch.
//   - Speaker loop (one per SFU): every 300 ms compares each room's audio
//     levels and reports changed speaker lists (SpeakerEvents).
//   - Dynacast loop (one per SFU): every 250 ms, and at once when an egress
//     worker picks a paused layer, compares the layers each simulcast
//     track's consumers want (subscribers' current and target layers, the
//     local sinks' layer, and the lowest layer while anyone subscribes) with
//     those it sends; a layer nobody wanted for 3 s is paused, a wanted one
//     resumed, and the publisher is told which RIDs
//     to keep sending (LayerEvents). It also picks the layer local sinks
//     follow (settleSink). It owns publishedTrack.dyn except the atomics the
//     allocator reads (a paused layer stays selectable).
//   - Pion callback goroutines: OnTrack starts the readers; the others only
//     enqueue to a mailbox or emit Events.
//
// # Locks (acquire in this order; never call out while holding one)
//
//   - SFU.mu guards SFU.rooms and SFU.closed.
//   - Room.mu guards Room.participants, Room.tracks, Room.locals,
//     Room.relays, Room.closed, Room.published and Room.speakers.
//     Mailbox pushes happen under it so subscribe/unsubscribe ops for a track
//     reach every participant in the order the room saw them.
//   - Participant.mu guards Participant.closed, .tracks, .byRecv and the ICE
//     candidate buffers and Participant.relayOwners; Participant.pubMu
//     serialises Publish negotiations;
//     Participant.stateMu serialises ConnectionState events.
//   - publishedTrack.mu guards its downSet, sinks, relaySet, readers and
//     closed flag.
//   - Relay.mu guards Relay.closed; Relay.stateMu serialises its state
//     events. Neither is held while calling out.
//   - feedbackInterceptor.mu guards its stream list and its bound/closed
//     flags; fbStream.mu guards one received stream's counters, NACK window
//     and transport-wide records (taken once per packet). Neither is held
//     while the other is taken, nor while writing RTCP.
//   - srtpIn.mu guards its SSRC map (the socket reader reads a snapshot);
//     it takes feedbackInterceptor.mu (stream lookup) inside.
//   - SFU.fbBuilt.mu is held around making a publish PC, to take the
//     feedback interceptor Pion builds for it.
//   - the mailboxes' locks (internal/mailbox), keyframeThrottle.mu, packetCache.mu, batchConn.mu and
//     batchConn.rmu (the direct-path routes by address, srtpOut.gone,
//     srtpIn.gone) are leaves.
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
	"math/bits"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
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

	// TCPPort is the ICE-TCP port for clients whose UDP is blocked; 0 = off.
	TCPPort int
	// Net replaces the OS network (tests: a pion/transport vnet). With it
	// ListenIP must be an address of that network; writes are not batched.
	Net transport.Net
	// InitialBitrate is each subscriber's starting bandwidth estimate (bps);
	// 0 = 2.5 Mbit/s. MaxBitrate caps it; 0 = 20 Mbit/s.
	InitialBitrate int
	MaxBitrate     int
	// NoBatch sends each packet with its own system call (for comparison).
	NoBatch bool
}

// Stats is a snapshot of the SFU's size and packet counters.
type Stats struct {
	Rooms, Participants, Tracks int
	// PacketsForwarded counts packets handed to a subscriber: each remote
	// subscriber and each local sink counts once per packet.
	PacketsForwarded uint64
	BytesForwarded   uint64 // payload bytes to remote subscribers
	// PacketsDropped is the sum of Drops.
	PacketsDropped uint64
	Drops          DropStats
	// Loss recovery and layer control.
	NACKsReceived    uint64 // sequence numbers subscribers asked for
	NACKMisses       uint64 // asked for but no longer cached (or retried too often)
	Retransmits      uint64
	KeyframeRequests uint64 // PLIs sent to publishers (after throttling)
	LayerSwitches    uint64
	WriteErrors      uint64
	PausedVideo      int // forwarded video tracks paused because even the low layer does not fit
	PausedLayers     int // simulcast layers publishers were told to stop (dynacast: nobody watches them)
	// DirectSRTP counts subscribers whose packets the SFU encrypts and
	// batches itself (the rest go through Pion's SRTP writer: vnet, ICE-TCP).
	DirectSRTP int

	// Cascade. RelayPackets and RelayBytes count packets (payload bytes)
	// sent to edge nodes over relays, once per packet per edge; Relays has
	// them per relay and track. Published counts what each track's
	// publisher (or relay input, on an edge) delivered, all layers together.
	RelayPackets, RelayBytes uint64
	Relays                   []RelayTrackStats
	RelayInputs              int
	Published                []TrackStats

	// UDPDatagrams went out through the batch writer in UDPMessages
	// sendmmsg messages (fewer when UDP GSO grouped them).
	UDPDatagrams, UDPMessages uint64
	// UDPSendCalls and UDPReadCalls are the sendmmsg and recvmmsg system
	// calls that carried them, and UDPReads the datagrams read.
	UDPSendCalls, UDPReadCalls, UDPReads uint64
	// UDPSendYields counts bursts that made a producer yield to the batch
	// writer (every 1,024 datagrams queued) so its queue would not overflow.
	UDPSendYields uint64
	// UDPReceiveDrops are datagrams the kernel dropped because the
	// socket's receive buffer was full (Linux, batched socket only).
	UDPReceiveDrops uint64
	// DirectRTCP counts subscriber SRTCP packets decrypted and handled by
	// the SFU's own path rather than Pion's (see srtpOut).
	DirectRTCP uint64
	// DirectRTP counts publishers' SRTP packets decrypted by the SFU's own
	// path rather than Pion's receive chain (see srtpIn); DirectRTX those
	// of them that were repairs (RTX) of a lost packet.
	DirectRTP, DirectRTX uint64
}

// TrackStats counts what one published track received, all layers.
type TrackStats struct {
	Room, ParticipantID, TrackID, Kind string
	Layers                             int
	Relayed                            bool   // published by a relay input (this node is an edge for it)
	Packets, Bytes                     uint64 // RTP packets and payload bytes received
	// Dynacast, as bit masks by layer rank (1 = q, 2 = h, 4 = f): the
	// layers some consumer wants now and those the publisher was told to
	// stop; SinkLayer is the rank local sinks (the recorder) follow.
	Wanted, Paused uint8
	SinkLayer      int
}

// DropStats counts dropped packets by reason.
type DropStats struct {
	VideoQueueFull uint64 // a subscriber's queue was full (video then waits for a keyframe)
	AudioQueueFull uint64 // a subscriber's queue stayed full for the audio wait
	LocalSinkFull  uint64 // a local sink (the recorder) fell behind
	Malformed      uint64 // publisher packets failing RTP or payload checks
	Oversized      uint64 // publisher packets larger than an MTU
	RTCPFlood      uint64 // RTCP packets over the per-track rate, or control queue full
	SocketQueue    uint64 // the UDP batch writer's queue was full
	RejectedTracks uint64 // tracks over the per-participant limit
	UnknownSSRC    uint64 // packets on SSRCs that were never negotiated (Pion drops them)
	RelayQueueFull uint64 // a relay to an edge node fell behind
	IngressQueue   uint64 // a layer's reader fell behind the direct SRTP path
}

type dropCounters struct {
	videoQueue, audioQueue, sinkFull, malformed, oversized, rtcpFlood, socketQueue, rejectedTracks, unknownSSRC, relayQueue, ingressQueue atomic.Uint64
}

const (
	maxTracksPerParticipant = 8
	maxSDPBytes             = 64 << 10
	maxCandidateBytes       = 1024
	maxPendingCandidates    = 64
	keyframeInterval        = 500 * time.Millisecond // min gap between PLIs per publisher layer
	sinkQueueLen            = 256                    // ~1 s of 2.5 Mbit/s video
	gatherTimeout           = 3 * time.Second
	closeWait               = 5 * time.Second
	certRenewBefore         = 24 * time.Hour
	socketBuffer            = 8 << 20
	// Below this the socket may not hold a millisecond of a busy node's
	// arrivals (the batched reader reads once a millisecond): jobhall warns.
	minReceiveBuffer = 1 << 20
)

// SFU owns the UDP mux, the Pion APIs and the rooms.
type SFU struct {
	log      *slog.Logger
	cfg      Config
	pubAPI   *webrtc.API // publish PCs and relay inputs: NACK generation, receiver reports, TWCC feedback (feedback.go)
	fbBuilt  fbBuilt     // the feedback interceptor of the publish PC being made (newPublishPC)
	subAPI   *webrtc.API // subscribe PCs: no interceptors, the egress does it all
	relayAPI *webrtc.API // relays to edge nodes: no interceptors, no RTX
	mux      *ice.UDPMuxDefault
	conn     net.PacketConn
	tcpLn    net.Listener
	tcpMux   ice.TCPMux
	// hostNet lists the host's interfaces once for every PeerConnection;
	// without it each ICE agent lists them itself and keeps its own copy
	// (≈ 9 KB and a netlink dump per PC).
	hostNet transport.Net

	forwarded, bytesOut, retransmits, nacks, nackMiss, writeErrs, switches, keyframes atomic.Uint64
	relayPackets, relayBytes                                                          atomic.Uint64
	directRTCP                                                                        atomic.Uint64 // SRTCP taken by the direct path
	directRTP                                                                         atomic.Uint64 // publishers' SRTP taken by the direct path
	directRTX                                                                         atomic.Uint64 // of which repairs (RTX) unwrapped there
	drops                                                                             dropCounters

	certMu sync.Mutex
	cert   *webrtc.Certificate

	// wg counts the goroutines this package starts; goMu makes Add and the
	// final Wait race-free.
	goMu     sync.Mutex
	goClosed bool
	wg       sync.WaitGroup
	quit     chan struct{} // closed by Close: stops the speaker and dynacast loops
	pool     *fanPool      // direct-path subscribers' egress work
	dynKick  chan struct{} // capacity 1: run the dynacast loop now

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
}

// New opens the UDP mux and prepares the WebRTC APIs.
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
	if cfg.UDPPort < 0 || cfg.UDPPort > 65535 || cfg.TCPPort < 0 || cfg.TCPPort > 65535 {
		return nil, apperr.New(apperr.Invalid, "sfu: invalid port %d/%d", cfg.UDPPort, cfg.TCPPort)
	}
	for _, p := range cfg.PublicIPs {
		if net.ParseIP(p) == nil {
			return nil, apperr.New(apperr.Invalid, "sfu: invalid public IP %q", p)
		}
	}
	if cfg.InitialBitrate <= 0 {
		cfg.InitialBitrate = 2_500_000
	}
	if cfg.MaxBitrate <= 0 {
		cfg.MaxBitrate = 20_000_000
	}

	cert, err := newCertificate()
	if err != nil {
		return nil, err
	}
	s := &SFU{log: log, cfg: cfg, cert: cert, rooms: map[string]*Room{}, quit: make(chan struct{}),
		dynKick: make(chan struct{}, 1)}

	addr := net.JoinHostPort(ip, strconv.Itoa(cfg.UDPPort))
	if cfg.Net != nil {
		s.conn, err = cfg.Net.ListenPacket("udp4", addr)
	} else {
		var uc *net.UDPConn
		uc, err = net.ListenUDP("udp", &net.UDPAddr{IP: listenIP, Port: cfg.UDPPort})
		if err == nil {
			// One socket carries every peer: a big receive buffer rides out
			// scheduling hiccups without loss (capped by net.core.rmem_max).
			_ = uc.SetReadBuffer(socketBuffer)
			_ = uc.SetWriteBuffer(socketBuffer)
			if got := receiveBuffer(uc); got > 0 && got < minReceiveBuffer {
				log.Warn("sfu: small UDP receive buffer; raise net.core.rmem_max (docs/OPERATIONS.md)",
					"bytes", got, "want", socketBuffer)
			}
			s.conn = uc
			if !cfg.NoBatch {
				s.conn = newBatchConn(uc, &s.drops.socketQueue)
			}
		}
	}
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "sfu: listen UDP %s", addr)
	}
	logs := pionLogFactory{log: log, unknown: &s.drops.unknownSSRC, scopes: &sync.Map{}}
	s.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: s.conn, Logger: logs.NewLogger("udpmux"), Net: cfg.Net})
	if _, ok := s.conn.(*batchConn); ok {
		s.pool = newFanPool(s) // direct paths exist only on the batched socket
	}

	if cfg.TCPPort > 0 {
		taddr := net.JoinHostPort(ip, strconv.Itoa(cfg.TCPPort))
		if cfg.Net != nil {
			s.tcpLn, err = cfg.Net.ListenTCP("tcp4", &net.TCPAddr{IP: listenIP, Port: cfg.TCPPort})
		} else {
			s.tcpLn, err = net.Listen("tcp", taddr)
		}
		if err != nil {
			_ = s.mux.Close()
			return nil, apperr.Wrap(err, apperr.Unavailable, "sfu: listen TCP %s", taddr)
		}
		s.tcpMux = webrtc.NewICETCPMux(logs.NewLogger("tcpmux"), s.tcpLn, 8)
	}

	if s.hostNet = cfg.Net; s.hostNet == nil {
		// Read once: the media sockets are bound at start, so addresses
		// gained later would not carry media anyway.
		if s.hostNet, err = stdnet.NewNet(); err != nil {
			s.closeSockets()
			return nil, apperr.Wrap(err, apperr.Internal, "sfu: list network interfaces")
		}
	}
	if s.pubAPI, err = s.newAPI(apiPublish, logs); err == nil {
		if s.subAPI, err = s.newAPI(apiSubscribe, logs); err == nil {
			s.relayAPI, err = s.newAPI(apiRelay, logs)
		}
	}
	if err != nil {
		s.closeSockets()
		return nil, apperr.Wrap(err, apperr.Internal, "sfu: build WebRTC API")
	}
	s.spawn(s.speakerLoop)
	s.spawn(s.dynacastLoop)
	log.Info("sfu listening", "udp", s.conn.LocalAddr().String(), "tcp", cfg.TCPPort)
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

type apiKind int

const (
	apiPublish apiKind = iota
	apiSubscribe
	apiRelay
)

// newAPI builds the Pion API for publish PCs, subscribe PCs or relays (the
// origin end of a cascade). Subscribe PCs and relays run no interceptors:
// every per-packet cost on egress is the egress worker's or the relay
// writer's own (rewriting, NACK cache, TWCC, sender reports).
func (s *SFU) newAPI(kind apiKind, logs pionLogFactory) (*webrtc.API, error) {
	cfg := s.cfg
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, kind == apiRelay); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if kind == apiPublish {
		if err := publishInterceptors(m, ir, s.log, &s.fbBuilt); err != nil {
			return nil, err
		}
	}

	se := webrtc.SettingEngine{LoggerFactory: logs}
	// A little above our own packet bound, so oversized packets reach the
	// reader and are counted rather than vanishing inside Pion.
	se.SetReceiveMTU(maxPacket + 100)
	se.SetICEUDPMux(s.mux)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if s.tcpMux != nil {
		se.SetICETCPMux(s.tcpMux)
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(types)
	se.SetNet(s.hostNet)
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

func (s *SFU) closeSockets() error {
	var err error
	if cerr := s.mux.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = fmt.Errorf("sfu: close UDP mux: %w", cerr)
	}
	_ = s.conn.Close() // the mux closes it too; this covers a mux that failed early
	if s.tcpMux != nil {
		_ = s.tcpMux.Close()
		_ = s.tcpLn.Close()
	}
	return err
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

// newPublishPC makes a publish PC and returns its feedback interceptor.
func (s *SFU) newPublishPC() (*webrtc.PeerConnection, *feedbackInterceptor, error) {
	s.fbBuilt.mu.Lock()
	defer s.fbBuilt.mu.Unlock()
	s.fbBuilt.last = nil
	pc, err := s.newPeerConnection(s.pubAPI)
	fi := s.fbBuilt.last
	s.fbBuilt.last = nil
	return pc, fi, err
}

func (s *SFU) newPeerConnection(api *webrtc.API) (*webrtc.PeerConnection, error) {
	cert, err := s.certificate()
	if err != nil {
		return nil, err
	}
	cfg := webrtc.Configuration{
		Certificates:  []webrtc.Certificate{cert},
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	}
	if api == s.subAPI {
		// No header encryption (RFC 9335) towards subscribers: the direct
		// SRTP path (srtpOut) encrypts payloads only.
		cfg.RTPHeaderEncryptionPolicy = webrtc.RTPHeaderEncryptionPolicyDisable
	}
	pc, err := api.NewPeerConnection(cfg)
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
	if a, ok := s.conn.LocalAddr().(*net.UDPAddr); ok {
		return a.Port
	}
	return 0
}

// TCPPort is the ICE-TCP port, 0 when off.
func (s *SFU) TCPPort() int {
	if s.tcpLn == nil {
		return 0
	}
	if a, ok := s.tcpLn.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
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
	if r.closed || len(r.participants) > 0 || len(r.locals) > 0 || len(r.relays) > 0 {
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
	rooms := s.roomList()
	d := &s.drops
	st := Stats{Rooms: len(rooms), PacketsForwarded: s.forwarded.Load(), BytesForwarded: s.bytesOut.Load(),
		Drops: DropStats{
			VideoQueueFull: d.videoQueue.Load(), AudioQueueFull: d.audioQueue.Load(), LocalSinkFull: d.sinkFull.Load(),
			Malformed: d.malformed.Load(), Oversized: d.oversized.Load(), RTCPFlood: d.rtcpFlood.Load(),
			SocketQueue: d.socketQueue.Load(), RejectedTracks: d.rejectedTracks.Load(), UnknownSSRC: d.unknownSSRC.Load(),
			RelayQueueFull: d.relayQueue.Load(), IngressQueue: d.ingressQueue.Load(),
		},
		RelayPackets: s.relayPackets.Load(), RelayBytes: s.relayBytes.Load(),
		NACKsReceived: s.nacks.Load(), NACKMisses: s.nackMiss.Load(), Retransmits: s.retransmits.Load(),
		KeyframeRequests: s.keyframes.Load(), LayerSwitches: s.switches.Load(), WriteErrors: s.writeErrs.Load(),
	}
	x := st.Drops
	st.PacketsDropped = x.VideoQueueFull + x.AudioQueueFull + x.LocalSinkFull + x.Malformed + x.Oversized + x.RTCPFlood + x.SocketQueue + x.UnknownSSRC + x.RelayQueueFull + x.IngressQueue
	var parts []*Participant
	var relays []*Relay
	var tracks []*publishedTrack
	for _, r := range rooms {
		r.mu.Lock()
		st.Participants += len(r.participants)
		st.Tracks += len(r.tracks)
		for pt := range r.tracks {
			st.PausedLayers += bits.OnesCount32(pt.dyn.paused.Load())
		}
		for _, p := range r.participants {
			parts = append(parts, p)
			if p.relayIn {
				st.RelayInputs++
			}
		}
		for rl := range r.relays {
			relays = append(relays, rl)
		}
		for pt := range r.tracks {
			tracks = append(tracks, pt)
		}
		r.mu.Unlock()
	}
	for _, rl := range relays {
		st.Relays = append(st.Relays, rl.stats()...)
	}
	for _, pt := range tracks {
		n := 0
		for i := range pt.layers {
			if pt.layers[i].Load() != nil {
				n++
			}
		}
		st.Published = append(st.Published, TrackStats{Room: pt.owner.room.id, ParticipantID: pt.info.ParticipantID,
			TrackID: pt.info.TrackID, Kind: pt.info.Kind, Layers: n, Relayed: pt.owner.relayIn,
			Packets: pt.recvPackets.Load(), Bytes: pt.recvBytes.Load(),
			Wanted: uint8(pt.wanted()), Paused: uint8(pt.dyn.paused.Load()), SinkLayer: int(pt.sinkL.Load())})
	}
	if bc, ok := s.conn.(*batchConn); ok {
		st.UDPDatagrams, st.UDPMessages = bc.datagrams.Load(), bc.messages.Load()
		st.UDPSendCalls, st.UDPReadCalls, st.UDPReads = bc.sendCalls.Load(), bc.readCalls.Load(), bc.reads.Load()
		st.UDPSendYields = bc.yields.Load()
		if bc.raw != nil {
			st.UDPReceiveDrops = bc.raw.kernelDrops()
		}
	}
	st.DirectRTCP = s.directRTCP.Load()
	st.DirectRTP = s.directRTP.Load()
	st.DirectRTX = s.directRTX.Load()
	for _, p := range parts {
		if p.eg != nil {
			if o := p.eg.out.Load(); o != nil && o.dst.Load() != nil {
				st.DirectSRTP++
			}
			for _, dt := range *p.eg.downs.Load() {
				if dt.paused.Load() {
					st.PausedVideo++
				}
			}
		}
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
	rooms := s.roomListLocked()
	s.mu.Unlock()

	for _, r := range rooms {
		r.Close()
	}

	close(s.quit)
	if s.pool != nil {
		s.pool.stop()
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
	return errors.Join(err, s.closeSockets())
}
