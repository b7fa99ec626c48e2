package signaling

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// fakePlacer holds "elsewhere-*" rooms on another node, fails "down-*"
// rooms, and remembers the hints it was given.
type fakePlacer struct {
	mu    sync.Mutex
	hints []string
}

func (p *fakePlacer) Place(_ context.Context, g roomtoken.Grant, hint string) (string, error) {
	p.mu.Lock()
	p.hints = append(p.hints, hint)
	p.mu.Unlock()
	switch {
	case hint == "ok-"+g.Room:
		return "", nil
	case strings.HasPrefix(g.Room, "elsewhere-"):
		return "ws://node-2.example/ws?placement=ok-" + g.Room, nil
	case strings.HasPrefix(g.Room, "down-"):
		return "", apperr.New(apperr.Unavailable, "rooms cannot be placed right now")
	}
	return "", nil
}

func TestJoinRedirectsToTheRoomsNode(t *testing.T) {
	e := newEnv(t)
	pl := &fakePlacer{}
	e.srv.cfg.Placer = pl

	// A room held elsewhere: redirect, bye, closed; no media session.
	c := e.dial()
	c.send(map[string]any{"type": "join", "room": "elsewhere-1", "token": e.token("elsewhere-1", "seeker-1", "seeker", time.Minute)})
	if m := c.expect("redirect"); m.URL != "ws://node-2.example/ws?placement=ok-elsewhere-1" {
		t.Fatalf("redirect %+v", m)
	}
	if m := c.expect("bye"); m.Reason != ByeRedirect {
		t.Fatalf("bye %+v", m)
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ws.ReadMessage(); err == nil {
		t.Fatal("the connection stayed open after a redirect")
	}
	// With the placement note the redirect carried, the join is served.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.http.URL, "http")+"/?placement=ok-elsewhere-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c2 := &client{t: t, ws: ws}
	c2.send(map[string]any{"type": "hello", "version": 1})
	c2.expect("welcome")
	c2.send(map[string]any{"type": "join", "room": "elsewhere-1", "token": e.token("elsewhere-1", "seeker-1", "seeker", time.Minute)})
	c2.expect("joined")

	// Placement fails: an error frame, and the connection goes on.
	c3 := e.dial()
	c3.send(map[string]any{"type": "join", "room": "down-1", "token": e.token("down-1", "seeker-2", "seeker", time.Minute)})
	c3.expectError(apperr.Unavailable, "cannot be placed")
	c3.alive()
	e.engine.mu.Lock()
	joins := append([]string(nil), e.engine.joins...)
	e.engine.mu.Unlock()
	if len(joins) != 1 || joins[0] != "elsewhere-1/seeker-1" {
		t.Fatalf("media joins %v, want only the served one", joins)
	}
	if live := e.srv.Live(); len(live) != 1 || live[0].Room != "elsewhere-1" || !e.srv.RoomActive("elsewhere-1") {
		t.Fatalf("live rooms %+v", live)
	}
}

func TestWHIPRedirectsToTheRoomsNode(t *testing.T) {
	e := newEnv(t)
	e.srv.cfg.Placer = &fakePlacer{}
	srv := httptest.NewServer(e.srv.WHIPHandler())
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/whip", strings.NewReader("v=0\r\n"))
	req.Header.Set("Authorization", "Bearer "+e.token("elsewhere-2", "trainer-1", "trainer", time.Minute))
	req.Header.Set("Content-Type", "application/sdp")
	c := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != "http://node-2.example/whip?placement=ok-elsewhere-2" {
		t.Fatalf("WHIP to another node's room: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
