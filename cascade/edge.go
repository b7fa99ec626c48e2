package cascade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/sfu"
)

// RelayIDPrefix starts the participant ID of every relay input in an edge
// room; viewer counts leave such participants out.
const RelayIDPrefix = "cascade~"

// EdgeConfig configures an Edge.
type EdgeConfig struct {
	SFU    *sfu.SFU
	Secret []byte // shared by every node, at least 16 bytes
	NodeID string // this node's name: the relay's id on the origin
	// IdleTimeout ends a link whose room has had no viewer for this long;
	// 0 = 30 s.
	IdleTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnects (doubling,
	// with jitter); 0 = 250 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Dialer for the control channel; nil = a dialer with a 5 s handshake
	// timeout.
	Dialer *websocket.Dialer
}

// Edge keeps this node's links to origins: one per (room, origin).
type Edge struct {
	cfg    EdgeConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	links  map[linkKey]*link
	closed bool
}

type linkKey struct{ room, origin string }

// link is one (room, origin) relay, reconnected until it idles out.
type link struct {
	e      *Edge
	key    linkKey
	ctx    context.Context
	cancel context.CancelFunc
	ready  chan struct{} // closed after the first attempt
	done   chan struct{} // closed when the link goroutine exits

	mu        sync.Mutex
	firstErr  error
	lastUse   time.Time
	connected bool
	sessions  int
	lastErr   string
}

// LinkStatus describes one link (for /metrics or a status page).
type LinkStatus struct {
	Room, Origin string
	Connected    bool
	Sessions     int    // successful connections so far (reconnects = Sessions-1)
	LastError    string // why the last session ended or failed
}

// NewEdge validates cfg.
func NewEdge(cfg EdgeConfig) (*Edge, error) {
	if cfg.SFU == nil {
		return nil, apperr.New(apperr.Invalid, "cascade: nil SFU")
	}
	if len(cfg.Secret) < minSecret {
		return nil, apperr.New(apperr.Invalid, "cascade: secret shorter than %d bytes", minSecret)
	}
	if !validID(cfg.NodeID) {
		return nil, apperr.New(apperr.Invalid, "cascade: node id must be 1 to %d printable characters", maxIDBytes)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	ctx, cancel := context.WithCancel(context.Background())
	return &Edge{cfg: cfg, log: cfg.Logger.With("component", "cascade-edge", "node", cfg.NodeID),
		ctx: ctx, cancel: cancel, links: map[linkKey]*link{}}, nil
}

// EnsureEdge makes sure this node relays roomID from the origin at
// originBaseURL (http:// or https://, the origin's base URL; the handler is
// at OriginPath). Call it whenever a viewer is about to join the local room
// of a room whose publishers are elsewhere, then join the local room as
// usual. A new link waits for its first connection (or ctx): an error
// means that attempt failed; the link keeps retrying with backoff unless
// the origin refused it (a bad token or request). An existing link returns
// at once.
func (e *Edge) EnsureEdge(ctx context.Context, roomID, originBaseURL string) error {
	if !validID(roomID) {
		return apperr.New(apperr.Invalid, "invalid room id")
	}
	u, err := url.Parse(originBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(originBaseURL) > 512 {
		return apperr.New(apperr.Invalid, "origin must be an http(s) base URL")
	}
	key := linkKey{roomID, strings.TrimRight(originBaseURL, "/")}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return apperr.New(apperr.Unavailable, "cascade edge is closed")
	}
	l := e.links[key]
	if l == nil {
		lctx, cancel := context.WithCancel(e.ctx)
		l = &link{e: e, key: key, ctx: lctx, cancel: cancel, ready: make(chan struct{}), done: make(chan struct{}), lastUse: time.Now()}
		e.links[key] = l
		e.wg.Add(1)
		go l.run()
	}
	e.mu.Unlock()
	l.touch()
	select {
	case <-l.ready:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.connected {
			return nil
		}
		return l.firstErr
	case <-ctx.Done():
		return apperr.Wrap(ctx.Err(), apperr.Unavailable, "cascade: origin not reached yet")
	}
}

// Stop ends the link for (roomID, originBaseURL), if any: its relayed
// tracks end for local viewers. Use it when the room moved to another
// origin.
func (e *Edge) Stop(roomID, originBaseURL string) {
	key := linkKey{roomID, strings.TrimRight(originBaseURL, "/")}
	e.mu.Lock()
	l := e.links[key]
	e.mu.Unlock()
	if l != nil {
		l.cancel()
		<-l.done
	}
}

// Links reports every link.
func (e *Edge) Links() []LinkStatus {
	e.mu.Lock()
	ls := make([]*link, 0, len(e.links))
	for _, l := range e.links {
		ls = append(ls, l)
	}
	e.mu.Unlock()
	out := make([]LinkStatus, 0, len(ls))
	for _, l := range ls {
		l.mu.Lock()
		out = append(out, LinkStatus{Room: l.key.room, Origin: l.key.origin, Connected: l.connected, Sessions: l.sessions, LastError: l.lastErr})
		l.mu.Unlock()
	}
	return out
}

// Close ends every link and waits for their goroutines.
func (e *Edge) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
}

func (l *link) touch() {
	l.mu.Lock()
	l.lastUse = time.Now()
	l.mu.Unlock()
}

// viewers counts the local room's participants other than relay inputs.
func (l *link) viewers() int {
	r := l.e.cfg.SFU.LookupRoom(l.key.room)
	if r == nil {
		return 0
	}
	n := 0
	for _, id := range r.Participants() {
		if !strings.HasPrefix(id, RelayIDPrefix) {
			n++
		}
	}
	return n
}

// idle reports whether the room has had no viewer for IdleTimeout.
func (l *link) idle() bool {
	n := l.viewers()
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > 0 {
		l.lastUse = now
		return false
	}
	return now.Sub(l.lastUse) >= l.e.cfg.IdleTimeout
}

// run keeps sessions going until the link idles out, is stopped, or the
// origin refuses it.
func (l *link) run() {
	e := l.e
	defer e.wg.Done()
	defer close(l.done)
	defer func() {
		e.mu.Lock()
		if e.links[l.key] == l {
			delete(e.links, l.key)
		}
		e.mu.Unlock()
		l.cancel()
	}()
	backoff := e.cfg.MinBackoff
	first := true
	for {
		start := time.Now()
		err := l.session(func() {
			if first {
				first = false
				close(l.ready)
			}
		})
		permanent := errors.Is(err, errRefused)
		l.mu.Lock()
		l.connected = false
		if err != nil {
			l.lastErr = err.Error()
		}
		if first {
			first = false
			l.firstErr = err
			close(l.ready)
		}
		l.mu.Unlock()
		if l.ctx.Err() != nil || permanent || l.idle() {
			e.log.Info("cascade link ended", "room", l.key.room, "origin", l.key.origin, "err", err)
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = e.cfg.MinBackoff // it had been up: start over quickly
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		e.log.Info("cascade link down; reconnecting", "room", l.key.room, "origin", l.key.origin, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, e.cfg.MaxBackoff)
	}
}

// inputID names the relay input in the local room: one per origin.
func (l *link) inputID() string {
	sum := sha256.Sum256([]byte(l.key.origin))
	return RelayIDPrefix + hex.EncodeToString(sum[:8])
}

var errRefused = errors.New("origin refused the relay")

// session dials the origin, relays until something ends it, and cleans
// up. up is called once the first answer has been sent.
func (l *link) session(up func()) error {
	e := l.e
	ws, err := l.dial()
	if err != nil {
		return err
	}
	defer ws.Close()
	ws.SetReadLimit(maxFrame)

	failed := make(chan struct{}, 1)
	in, err := e.cfg.SFU.Room(l.key.room).JoinRelayInput(l.inputID(), func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			select {
			case failed <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return fmt.Errorf("join relay input: %w", err)
	}
	defer in.Close()

	// The watcher ends the session by closing the socket.
	var why string
	var whyMu sync.Mutex
	sessDone := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		reason := ""
		for reason == "" {
			select {
			case <-sessDone:
				return
			case <-l.ctx.Done():
				reason = "stopped"
			case <-failed:
				reason = "relay connection failed"
			case <-tick.C:
				if l.idle() {
					reason = "no viewers"
				}
			}
		}
		whyMu.Lock()
		why = reason
		whyMu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, reason), time.Now().Add(time.Second))
		_ = ws.Close()
	}()
	defer func() {
		close(sessDone)
		<-watchDone
	}()

	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
	answered := false
	for {
		var m message
		if err := ws.ReadJSON(&m); err != nil {
			whyMu.Lock()
			defer whyMu.Unlock()
			if why != "" {
				return errors.New(why)
			}
			return fmt.Errorf("control channel: %w", err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
		switch m.Type {
		case "offer":
			answer, err := in.Apply(m.description(webrtc.SDPTypeOffer), m.Tracks)
			if err != nil {
				ae := apperr.As(err)
				_ = ws.WriteJSON(message{Type: "error", Code: string(ae.Code), Message: ae.Message})
				return fmt.Errorf("apply relay offer: %w", err)
			}
			_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := ws.WriteJSON(message{Type: "answer", SDP: answer.SDP}); err != nil {
				return fmt.Errorf("send answer: %w", err)
			}
			if !answered {
				answered = true
				l.mu.Lock()
				l.connected = true
				l.sessions++
				l.mu.Unlock()
				e.log.Info("cascade link up", "room", l.key.room, "origin", l.key.origin)
				up()
			}
		case "error":
			err := fmt.Errorf("origin: %s: %s", truncate(m.Code, 32), truncate(m.Message, 200))
			if m.Code == string(apperr.Unauthorized) || m.Code == string(apperr.Forbidden) || m.Code == string(apperr.Invalid) {
				return fmt.Errorf("%w: %w", errRefused, err)
			}
			return err
		default:
			return fmt.Errorf("origin sent unexpected frame %q", truncate(m.Type, 32))
		}
	}
}

// dial opens the control channel; a 4xx answer is permanent (errRefused).
func (l *link) dial() (*websocket.Conn, error) {
	e := l.e
	u := l.key.origin + OriginPath + "?" + url.Values{"room": {l.key.room}, "edge": {e.cfg.NodeID}}.Encode()
	u = "ws" + strings.TrimPrefix(u, "http")
	h := http.Header{}
	h.Set("Authorization", "Bearer "+Token(e.cfg.Secret, l.key.room, e.cfg.NodeID, time.Now().Add(tokenLifetime)))
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	ws, resp, err := e.cfg.Dialer.DialContext(ctx, u, h)
	if err == nil {
		return ws, nil
	}
	if resp == nil {
		return nil, fmt.Errorf("dial origin: %w", err)
	}
	defer resp.Body.Close()
	var b apperr.Body
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = json.Unmarshal(body, &b)
	err = fmt.Errorf("origin answered %d %s: %s", resp.StatusCode, b.Code, truncate(b.Message, 200))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
		return nil, fmt.Errorf("%w: %w", errRefused, err)
	}
	return nil, err
}
