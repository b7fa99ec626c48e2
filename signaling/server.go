package signaling

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// MediaParticipant is what the media engine needs to admit a participant.
type MediaParticipant struct {
	ID, Name                 string
	CanPublish, CanSubscribe bool
}

// MediaEvents is implemented by a connection; the engine calls it from its
// own goroutines, and every method only enqueues.
type MediaEvents interface {
	SubscriberOffer(offer webrtc.SessionDescription)
	ICECandidate(target Target, c webrtc.ICECandidateInit)
	ConnectionState(target Target, state webrtc.PeerConnectionState)
}

// MediaSession is one participant's presence in the media engine.
type MediaSession interface {
	Publish(offer webrtc.SessionDescription) (webrtc.SessionDescription, error)
	SetSubscriberAnswer(answer webrtc.SessionDescription) error
	AddICECandidate(target Target, c webrtc.ICECandidateInit) error
	Leave()
}

// ICEServer is one RTCConfiguration.iceServers entry sent in joined.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// SpeakerEvents is the optional MediaEvents method the engine calls when
// the room's active speakers change (loudest first; empty: nobody).
type SpeakerEvents interface {
	ActiveSpeakers(ids []string)
}

// LayerEvents is the optional MediaEvents method the engine calls on a
// publisher when the simulcast layers of one of its tracks that somebody
// watches change (dynacast): active are the RIDs to keep sending.
type LayerEvents interface {
	PublishedLayers(track string, active []string)
}

// SourceMuter is implemented by media sessions that can stop forwarding a
// source server-side when a moderator mutes it.
type SourceMuter interface {
	MuteSource(source string, muted bool) error
}

// VideoPreferrer is implemented by media sessions that pick a simulcast
// layer per viewer: the largest size the viewer shows a track at.
type VideoPreferrer interface {
	SetVideoPreference(publisherID, trackID string, maxWidth, maxHeight int) error
}

// ICERestarter is implemented by media sessions that can restart ICE on
// the subscriber connection (the server is its offerer).
type ICERestarter interface {
	RestartICE() error
}

// Engine admits participants to rooms; cmd/ adapts the SFU to it.
type Engine interface {
	Join(room string, p MediaParticipant, ev MediaEvents) (MediaSession, error)
}

// RoomHooks learn who comes and goes; called from connection goroutines,
// so implementations must return quickly.
type RoomHooks interface {
	ParticipantWaiting(room string, g roomtoken.Grant) // entered the lobby (it showed up)
	ParticipantJoined(room string, g roomtoken.Grant)  // admitted: in the room with media
	ParticipantLeft(room string, g roomtoken.Grant)
}

// Config configures a Server. Zero values get the defaults in NewServer.
type Config struct {
	Tokens          *roomtoken.Issuer
	Engine          Engine
	Hooks           RoomHooks                           // optional
	Recording       func(room string) bool              // optional: is the room recorded (shown to clients)
	ICEServers      func(g roomtoken.Grant) []ICEServer // optional: STUN/TURN servers with credentials for this participant
	Placer          Placer                              // optional: several nodes; nil = every room lives here
	Logger          *slog.Logger
	MaxMessageBytes int            // frames above this get an error frame; default 64 KiB
	RatePerSecond   float64        // sustained frames per second per connection; default 50
	RateBurst       int            // default 200
	PingInterval    time.Duration  // WebSocket ping period; default 10 s
	IdleTimeout     time.Duration  // no frame or pong for this long closes; default 30 s
	JoinTimeout     time.Duration  // a connection must join within this; default 15 s
	MaxPerRoom      int            // participants and waiters per room; default 1000
	MaxPerRole      map[string]int // admitted participants per role in one room; nil = DefaultMaxPerRole
	MaxLobby        int            // waiters in one room's lobby; default 500
	ResumeWindow    time.Duration  // how long an away participant keeps its media; default 30 s
	TimeWarning     time.Duration  // warning before a time limit ends a session; default 60 s
	EndedRetention  time.Duration  // an ended room refuses joins this long; default 1 h
	// RemoteMembers (optional) lists the members of a room held by another
	// node that this node relays (a cascaded broadcast's edge: the trainer
	// is a member on the origin only); joined includes them. Called on the
	// connection's goroutine, holding no lock; it must be bounded.
	RemoteMembers func(room string) []Participant
}

// DefaultMaxPerRole bounds each role in one room.
var DefaultMaxPerRole = map[string]int{
	"seeker": 4, "interviewer": 6, "booth_host": 4, "trainer": 2, "viewer": 1000, "officer": 10, "recorder": 2,
}

// Server accepts signalling WebSockets.
//
// Ownership: each connection has three goroutines: the reader (owns
// the socket's read side), the owner (owns all connection state and calls
// into the Engine), and the writer (owns the socket's write side). They talk
// through channels, and others reach the owner through its bounded event
// queue (conn.post). Server.mu guards rooms, conns and everything inside
// a room (members, lobby, timers); nothing calls out while holding it: the
// callers collect notices and media sessions under it and act after. A
// member's relay has its own lock, below Server.mu. Timer goroutines (resume
// window, time limits) follow the same rule. With several nodes the owner
// asks the Placer where a room lives before a join (holding no lock; it
// may wait up to 4 s on Redis) and may answer with a redirect.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu     sync.Mutex
	rooms  map[string]*room
	whip   map[string]*whipSession // WHIP resource id -> session
	conns  map[*conn]struct{}
	closed bool

	wg sync.WaitGroup

	framesIn, framesBad, framesDropped, kicked atomic.Uint64
}

// Stats are counters for metrics.
type Stats struct {
	Connections, Rooms                         int
	FramesIn, FramesBad, FramesDropped, Kicked uint64
}

// NewServer returns a Server; Tokens and Engine are required.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Tokens == nil || cfg.Engine == nil {
		return nil, errors.New("signaling: Tokens and Engine are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 64 << 10
	}
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond = 50
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 200
	}
	// 20 s keeps mobile carriers' NAT bindings open and costs 10,000
	// idle connections well under 5% of a core; two missed pings close.
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 20 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 50 * time.Second
	}
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = 15 * time.Second
	}
	if cfg.MaxPerRoom <= 0 {
		cfg.MaxPerRoom = 1000
	}
	if cfg.MaxLobby <= 0 {
		cfg.MaxLobby = 500
	}
	if cfg.MaxPerRole == nil {
		cfg.MaxPerRole = DefaultMaxPerRole
	}
	if cfg.ResumeWindow <= 0 {
		cfg.ResumeWindow = 30 * time.Second
	}
	if cfg.TimeWarning <= 0 {
		cfg.TimeWarning = time.Minute
	}
	if cfg.EndedRetention <= 0 {
		cfg.EndedRetention = time.Hour
	}
	return &Server{
		cfg: cfg,
		log: cfg.Logger,
		upgrader: websocket.Upgrader{
			// The read buffer stays with the connection for its life; frames
			// are few, so 1 KiB (a larger one is read in several calls)
			// rather than 4 KiB per participant.
			ReadBufferSize: 1024, WriteBufferSize: 4096,
			// Idle connections hold no write buffer.
			WriteBufferPool: &sync.Pool{},
			// Access is by room token in the first frame, never by cookie,
			// so a cross-origin page gains nothing.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		rooms: make(map[string]*room),
		whip:  make(map[string]*whipSession),
		conns: make(map[*conn]struct{}),
	}, nil
}

// ServeHTTP upgrades the request to a signalling WebSocket.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		apperr.WriteHTTP(w, r, apperr.New(apperr.Unavailable, "server is shutting down"))
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := newConn(s, ws)
	if h := r.URL.Query().Get("placement"); len(h) <= maxHintBytes {
		c.hint = h
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Close ends every connection with a bye frame and waits for them.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.kick(ByeShutdown)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Connections are gone; end what is still parked or waiting.
	s.mu.Lock()
	var rms []removal
	for _, r := range s.rooms {
		for _, t := range r.timers {
			t.Stop()
		}
		for _, m := range r.members {
			if m.parked != nil {
				m.parked.Stop()
			}
			rms = append(rms, removal{m: m})
		}
		for _, w := range r.lobby {
			if w.parked != nil {
				w.parked.Stop()
			}
		}
	}
	s.rooms = make(map[string]*room)
	s.whip = make(map[string]*whipSession)
	s.mu.Unlock()
	for _, rm := range rms {
		s.finish(rm)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{Connections: len(s.conns), Rooms: len(s.rooms)}
	s.mu.Unlock()
	st.FramesIn = s.framesIn.Load()
	st.FramesBad = s.framesBad.Load()
	st.FramesDropped = s.framesDropped.Load()
	st.Kicked = s.kicked.Load()
	return st
}
