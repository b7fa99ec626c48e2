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

// Engine admits participants to rooms; cmd/ adapts the SFU to it.
type Engine interface {
	Join(room string, p MediaParticipant, ev MediaEvents) (MediaSession, error)
}

// RoomHooks learn who comes and goes; called from connection goroutines,
// so implementations must return quickly.
type RoomHooks interface {
	ParticipantJoined(room string, g roomtoken.Grant)
	ParticipantLeft(room string, g roomtoken.Grant)
}

// Config configures a Server. Zero values get the defaults in NewServer.
type Config struct {
	Tokens          *roomtoken.Issuer
	Engine          Engine
	Hooks           RoomHooks              // optional
	Recording       func(room string) bool // optional: is the room recorded (shown to clients)
	Logger          *slog.Logger
	MaxMessageBytes int           // frames above this get an error frame; default 64 KiB
	RatePerSecond   float64       // sustained frames per second per connection; default 50
	RateBurst       int           // default 200
	PingInterval    time.Duration // WebSocket ping period; default 10 s
	IdleTimeout     time.Duration // no frame or pong for this long closes; default 30 s
	JoinTimeout     time.Duration // a connection must join within this; default 15 s
	MaxPerRoom      int           // participants per room; default 50
}

// Server accepts signalling WebSockets.
//
// Ownership: each connection has three goroutines: the reader (owns
// the socket's read side), the owner (owns all connection state and calls
// into the Engine), and the writer (owns the socket's write side). They talk
// through channels only. Server.mu guards rooms and conns; no call out
// happens under it.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu     sync.Mutex
	rooms  map[string]map[string]member // room -> identity -> live connection
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
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = 15 * time.Second
	}
	if cfg.MaxPerRoom <= 0 {
		cfg.MaxPerRoom = 50
	}
	return &Server{
		cfg: cfg,
		log: cfg.Logger,
		upgrader: websocket.Upgrader{
			ReadBufferSize: 4096, WriteBufferSize: 4096,
			// Access is by room token in the first frame, never by cookie,
			// so a cross-origin page gains nothing.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		rooms: make(map[string]map[string]member),
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
		c.kick("server_shutdown")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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

// register makes c the live connection of identity in room. It returns the
// connection it replaces (resume from a new socket) and the others present.
func (s *Server) register(room string, p Participant, c *conn) (old *conn, others []member, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.rooms[room]
	if m == nil {
		m = make(map[string]member)
		s.rooms[room] = m
	}
	old = m[p.ID].c
	if old == nil && len(m) >= s.cfg.MaxPerRoom {
		return nil, nil, apperr.New(apperr.Conflict, "room is full (%d participants)", s.cfg.MaxPerRoom)
	}
	m[p.ID] = member{c: c, p: p}
	for id, o := range m {
		if id != p.ID {
			others = append(others, o)
		}
	}
	return old, others, nil
}

// member is a live connection and how it is shown to others.
type member struct {
	c *conn
	p Participant
}

// unregister removes c if it is still the live connection of identity and
// returns the others left in the room; ok is false if c had been replaced.
func (s *Server) unregister(room, identity string, c *conn) (others []member, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.rooms[room]
	if m == nil || m[identity].c != c {
		return nil, false
	}
	delete(m, identity)
	if len(m) == 0 {
		delete(s.rooms, room)
	}
	for _, o := range m {
		others = append(others, o)
	}
	return others, true
}
