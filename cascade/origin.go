package cascade

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/sfu"
)

// Origin is the origin node's end of the control channel: an http.Handler
// to mount at OriginPath on every node.
type Origin struct {
	sfu      *sfu.SFU
	secret   []byte
	log      *slog.Logger
	upgrader websocket.Upgrader
	now      func() time.Time

	mu     sync.Mutex
	conns  map[*originConn]struct{}
	closed bool
}

// NewOrigin makes the handler; secret (at least 16 bytes) is shared by
// every node.
func NewOrigin(s *sfu.SFU, secret []byte, log *slog.Logger) (*Origin, error) {
	if s == nil {
		return nil, apperr.New(apperr.Invalid, "cascade: nil SFU")
	}
	if len(secret) < minSecret {
		return nil, apperr.New(apperr.Invalid, "cascade: secret shorter than %d bytes", minSecret)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Origin{
		sfu: s, secret: append([]byte(nil), secret...), log: log.With("component", "cascade-origin"),
		// Server to server: no browser, so no Origin header to check.
		upgrader: websocket.Upgrader{ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10,
			CheckOrigin: func(*http.Request) bool { return true }},
		now:   time.Now,
		conns: map[*originConn]struct{}{},
	}, nil
}

// originConn is one edge's control connection and its relay.
type originConn struct {
	o     *Origin
	ws    *websocket.Conn
	room  string
	edge  string
	relay *sfu.Relay
	out   chan message
	done  chan struct{}
	once  sync.Once
	wdone chan struct{} // closed when the writer has exited
}

// ServeHTTP upgrades an authenticated edge and relays the room to it until
// the socket or the relay ends.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		apperr.WriteHTTP(w, r, apperr.New(apperr.Invalid, "cascade relay needs a WebSocket GET"))
		return
	}
	q := r.URL.Query()
	room, edge := q.Get("room"), q.Get("edge")
	if !validID(room) || !validID(edge) {
		apperr.WriteHTTP(w, r, apperr.New(apperr.Invalid, "room and edge must be 1 to %d printable characters", maxIDBytes))
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		apperr.WriteHTTP(w, r, apperr.New(apperr.Unauthorized, "cascade token missing"))
		return
	}
	if err := verifyToken(o.secret, tok, room, edge, o.now()); err != nil {
		o.log.Warn("cascade relay refused", "room", room, "edge", edge, "err", err)
		apperr.WriteHTTP(w, r, err)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		apperr.WriteHTTP(w, r, apperr.New(apperr.Invalid, "cascade relay needs a WebSocket upgrade"))
		return
	}
	ws, err := o.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	ws.SetReadLimit(maxFrame)
	c := &originConn{o: o, ws: ws, room: room, edge: edge, out: make(chan message, sendQueue),
		done: make(chan struct{}), wdone: make(chan struct{})}
	if !o.add(c) {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	defer o.remove(c)
	go c.writer()
	defer func() {
		c.stop()
		<-c.wdone
		_ = ws.Close()
	}()
	rl, err := o.sfu.Room(room).AddRelay(edge, c)
	if err != nil {
		e := apperr.As(err)
		c.send(message{Type: "error", Code: string(e.Code), Message: e.Message})
		return
	}
	c.relay = rl
	defer rl.Close()
	o.log.Info("edge connected", "room", room, "edge", edge)
	c.read()
	o.log.Info("edge disconnected", "room", room, "edge", edge)
}

func (o *Origin) add(c *originConn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.conns[c] = struct{}{}
	return true
}

func (o *Origin) remove(c *originConn) {
	o.mu.Lock()
	delete(o.conns, c)
	o.mu.Unlock()
}

// CloseRoom drops every edge relaying room (they reconnect unless told
// otherwise); it reports how many. Used when a room moves or drains.
func (o *Origin) CloseRoom(room string) int {
	o.mu.Lock()
	var cs []*originConn
	for c := range o.conns {
		if c.room == room {
			cs = append(cs, c)
		}
	}
	o.mu.Unlock()
	for _, c := range cs {
		c.stop()
	}
	return len(cs)
}

// Close drops every edge and refuses new ones. The handlers return soon
// after; an http.Server's Shutdown waits for them.
func (o *Origin) Close() {
	o.mu.Lock()
	o.closed = true
	cs := make([]*originConn, 0, len(o.conns))
	for c := range o.conns {
		cs = append(cs, c)
	}
	o.mu.Unlock()
	for _, c := range cs {
		c.stop()
	}
}

// stop ends the connection: the writer says goodbye and closes the socket,
// which ends the reader.
func (c *originConn) stop() { c.once.Do(func() { close(c.done) }) }

// RelayOffer implements sfu.RelayEvents.
func (c *originConn) RelayOffer(offer webrtc.SessionDescription, tracks []sfu.RelayTrack) {
	c.send(message{Type: "offer", SDP: offer.SDP, Tracks: tracks})
}

// RelayState implements sfu.RelayEvents: a failed relay ends the
// connection, so the edge reconnects with a fresh one.
func (c *originConn) RelayState(st webrtc.PeerConnectionState) {
	if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
		c.stop()
	}
}

// send queues a frame; an edge that does not keep up is dropped.
func (c *originConn) send(m message) {
	select {
	case c.out <- m:
	case <-c.done:
	default:
		c.o.log.Warn("edge does not read its control channel; dropping it", "room", c.room, "edge", c.edge)
		c.stop()
	}
}

func (c *originConn) writer() {
	defer close(c.wdone)
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case m := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.ws.WriteJSON(m); err != nil {
				c.stop()
				_ = c.ws.Close()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				c.stop()
				_ = c.ws.Close()
				return
			}
		case <-c.done:
			// Flush what is queued (an error frame explains the close).
			for n := len(c.out); n > 0; n-- {
				_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
				if c.ws.WriteJSON(<-c.out) != nil {
					break
				}
			}
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = c.ws.Close() // ends the reader
			return
		}
	}
}

// read applies the edge's answers until the socket ends.
func (c *originConn) read() {
	_ = c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(readTimeout)) })
	for {
		var m message
		if err := c.ws.ReadJSON(&m); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				c.o.log.Debug("edge read ended", "room", c.room, "edge", c.edge, "err", err)
			}
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(readTimeout))
		switch m.Type {
		case "answer":
			if err := c.relay.SetAnswer(m.description(webrtc.SDPTypeAnswer)); err != nil {
				e := apperr.As(err)
				c.o.log.Warn("edge answer refused", "room", c.room, "edge", c.edge, "err", err)
				c.send(message{Type: "error", Code: string(e.Code), Message: e.Message})
				return
			}
		case "error":
			c.o.log.Warn("edge reported an error", "room", c.room, "edge", c.edge, "code", m.Code, "message", m.Message)
			return
		default:
			c.send(message{Type: "error", Code: string(apperr.Invalid), Message: "unexpected frame " + truncate(m.Type, 32)})
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
