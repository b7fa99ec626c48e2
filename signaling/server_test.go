package signaling

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// The media engine is out of scope here: these tests pin the protocol
// layer. cmd/jobhall tests the same server over the real SFU.
type fakeEngine struct {
	mu     sync.Mutex
	joins  []string
	leaves []string
	events map[string]MediaEvents // by participant id, the latest
}

type fakeSession struct {
	e  *fakeEngine
	id string
}

func (e *fakeEngine) Join(room string, p MediaParticipant, ev MediaEvents) (MediaSession, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.joins = append(e.joins, room+"/"+p.ID)
	if e.events == nil {
		e.events = map[string]MediaEvents{}
	}
	e.events[p.ID] = ev
	return &fakeSession{e: e, id: p.ID}, nil
}

func (s *fakeSession) Publish(o webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	if !strings.Contains(o.SDP, "m=") {
		return webrtc.SessionDescription{}, apperr.New(apperr.Invalid, "offer has no media")
	}
	return webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "v=0 answer"}, nil
}
func (s *fakeSession) SetSubscriberAnswer(webrtc.SessionDescription) error   { return nil }
func (s *fakeSession) AddICECandidate(Target, webrtc.ICECandidateInit) error { return nil }
func (s *fakeSession) Leave() {
	s.e.mu.Lock()
	s.e.leaves = append(s.e.leaves, s.id)
	s.e.mu.Unlock()
}

type hooks struct {
	mu   sync.Mutex
	seen []string
}

func (h *hooks) ParticipantJoined(room string, g roomtoken.Grant) {
	h.mu.Lock()
	h.seen = append(h.seen, "join:"+g.Identity)
	h.mu.Unlock()
}
func (h *hooks) ParticipantWaiting(room string, g roomtoken.Grant) {
	h.mu.Lock()
	h.seen = append(h.seen, "wait:"+g.Identity)
	h.mu.Unlock()
}
func (h *hooks) ParticipantLeft(room string, g roomtoken.Grant) {
	h.mu.Lock()
	h.seen = append(h.seen, "left:"+g.Identity)
	h.mu.Unlock()
}

type env struct {
	t      *testing.T
	srv    *Server
	http   *httptest.Server
	issuer *roomtoken.Issuer
	engine *fakeEngine
	hooks  *hooks
}

func newEnv(t *testing.T) *env {
	t.Helper()
	is, err := roomtoken.NewIssuer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, issuer: is, engine: &fakeEngine{}, hooks: &hooks{}}
	e.srv, err = NewServer(Config{Tokens: is, Engine: e.engine, Hooks: e.hooks, MaxMessageBytes: 8 << 10, RatePerSecond: 1000, RateBurst: 1000,
		ResumeWindow: 400 * time.Millisecond, TimeWarning: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		e.http.Close()
	})
	return e
}

func (e *env) token(room, id, role string, exp time.Duration) string {
	tok, err := e.issuer.Issue(roomtoken.Grant{Room: room, Identity: id, Name: id, Role: role, Expires: time.Now().Add(exp)})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (e *env) dial() *client {
	e.t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.http.URL, "http"), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ws.Close() })
	c := &client{t: e.t, ws: ws}
	c.send(map[string]any{"type": "hello", "version": 1})
	c.expect("welcome")
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() Outbound {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m Outbound
	if err := c.ws.ReadJSON(&m); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *client) expect(typ string) Outbound {
	c.t.Helper()
	m := c.read()
	if m.Type != typ {
		c.t.Fatalf("got %+v, want type %s", m, typ)
	}
	return m
}

func (c *client) expectError(code apperr.Code, contains string) {
	c.t.Helper()
	m := c.expect("error")
	if m.Code != code || !strings.Contains(m.Message, contains) {
		c.t.Fatalf("error frame %+v, want code %s containing %q", m, code, contains)
	}
}

// alive proves the connection still works after an error.
func (c *client) alive() {
	c.t.Helper()
	c.send(map[string]any{"type": "ping", "ts": 42})
	if m := c.expect("pong"); m.TS != 42 {
		c.t.Fatalf("pong %+v", m)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestJoinRefusesBadTokens(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	c.send(map[string]any{"type": "join", "room": "interview-1"})
	c.expectError(apperr.Invalid, "join needs a token")
	c.send(map[string]any{"type": "join", "room": "interview-1", "token": e.token("interview-1", "seeker-1", "seeker", -time.Minute)})
	c.expectError(apperr.Unauthorized, "expired")
	c.send(map[string]any{"type": "join", "room": "interview-2", "token": e.token("interview-1", "seeker-1", "seeker", time.Minute)})
	c.expectError(apperr.Forbidden, "another room")
	other, _ := roomtoken.NewIssuer([]byte("another-secret-another-secret!!"))
	forged, _ := other.Issue(roomtoken.Grant{Room: "interview-1", Identity: "seeker-1", Role: "seeker", Expires: time.Now().Add(time.Minute)})
	c.send(map[string]any{"type": "join", "room": "interview-1", "token": forged})
	c.expectError(apperr.Unauthorized, "invalid room token")
	c.send(map[string]any{"type": "offer", "target": "publisher", "sdp": "v=0\r\nm=video"})
	c.expectError(apperr.Invalid, "join a room first")
	c.alive()
	if len(e.engine.joins) != 0 {
		t.Fatalf("engine saw joins %v", e.engine.joins)
	}
}

func TestHelloFirstAndVersion(t *testing.T) {
	e := newEnv(t)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.http.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := &client{t: t, ws: ws}
	c.send(map[string]any{"type": "join", "room": "r", "token": "x"})
	c.expectError(apperr.Invalid, "hello first")
	c.send(map[string]any{"type": "hello", "version": 99})
	c.expectError(apperr.Invalid, "not supported")
}

func TestBadFramesGetErrorsAndDoNotDisturbTheRoom(t *testing.T) {
	e := newEnv(t)
	a, b := e.dial(), e.dial()
	a.send(map[string]any{"type": "join", "room": "r1", "token": e.token("r1", "seeker-1", "seeker", time.Minute)})
	a.expect("joined")
	b.send(map[string]any{"type": "join", "room": "r1", "token": e.token("r1", "interviewer-1", "interviewer", time.Minute)})
	if j := b.expect("joined"); len(j.Participants) != 1 || j.Participants[0].ID != "seeker-1" {
		t.Fatalf("joined %+v", j)
	}
	if m := a.expect("participant_joined"); m.Participant.ID != "interviewer-1" {
		t.Fatalf("%+v", m)
	}

	for _, raw := range []string{
		`{"type":`, `[]`, `{"type":"offer","target":"publisher","sdp":"v=0","extra":1}`,
		`{"type":"nonsense"}`, `{}`, `{"type":"offer","target":"subscriber","sdp":"v=0"}`,
		`{"type":"candidate","target":"publisher"}`, `{"type":"answer","target":"subscriber","sdp":"hello"}`,
		`{"type":"ping"} {"type":"ping"}`,
	} {
		if err := a.ws.WriteMessage(websocket.TextMessage, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		a.expectError(apperr.Invalid, "")
	}
	big := `{"type":"ping","ts":1,"pad":"` + strings.Repeat("x", 100<<10) + `"}`
	if err := a.ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	a.expectError(apperr.TooLarge, "over the 8192-byte limit")
	a.send(map[string]any{"type": "offer", "target": "publisher", "sdp": "v=0\r\n"})
	a.expectError(apperr.Invalid, "no media")
	a.alive()
	b.alive() // b saw nothing of a's mistakes: the next frame it gets is its pong
}

func TestViewerCannotPublish(t *testing.T) {
	e := newEnv(t)
	v := e.dial()
	v.send(map[string]any{"type": "join", "room": "course-1", "token": e.token("course-1", "viewer-1", "viewer", time.Minute)})
	if j := v.expect("joined"); len(j.Permissions.Publish) != 0 {
		t.Fatalf("viewer permissions %+v", j.Permissions)
	}
	v.send(map[string]any{"type": "offer", "target": "publisher", "sdp": "v=0\r\nm=video 9"})
	v.expectError(apperr.Forbidden, "may not publish")
	v.send(map[string]any{"type": "candidate", "target": "publisher", "candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}})
	v.expectError(apperr.Forbidden, "may not publish")
	v.alive()
}

func TestResumeReplacesOlderConnection(t *testing.T) {
	e := newEnv(t)
	other := e.dial()
	other.send(map[string]any{"type": "join", "room": "r", "token": e.token("r", "interviewer-1", "interviewer", time.Minute)})
	other.expect("joined")
	first := e.dial()
	tok := e.token("r", "seeker-1", "seeker", time.Minute)
	first.send(map[string]any{"type": "join", "room": "r", "token": tok})
	first.expect("joined")
	other.expect("participant_joined")

	second := e.dial()
	second.send(map[string]any{"type": "join", "room": "r", "token": tok})
	second.expect("joined")
	if m := first.expect("bye"); m.Reason != "replaced" {
		t.Fatalf("bye %+v", m)
	}
	// The other participant sees neither a leave nor a second join.
	other.alive()
	second.alive()

	second.send(map[string]any{"type": "leave"})
	second.expect("bye")
	if m := other.expect("participant_left"); m.ID != "seeker-1" {
		t.Fatalf("%+v", m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.hooks.mu.Lock()
		seen := strings.Join(e.hooks.seen, ",")
		e.hooks.mu.Unlock()
		if seen == "join:interviewer-1,join:seeker-1,left:seeker-1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hooks saw %s", seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRateLimit(t *testing.T) {
	is, _ := roomtoken.NewIssuer([]byte("0123456789abcdef0123456789abcdef"))
	srv, _ := NewServer(Config{Tokens: is, Engine: &fakeEngine{}, RatePerSecond: 1, RateBurst: 5})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close(context.Background())
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := &client{t: t, ws: ws}
	for i := 0; i < 10; i++ {
		c.send(map[string]any{"type": "ping", "ts": i + 1})
	}
	limited := 0
	for i := 0; i < 10; i++ {
		m := c.read()
		if m.Type == "error" && m.Code == apperr.RateLimited {
			limited++
		}
	}
	if limited < 4 {
		t.Fatalf("only %d of 10 frames were rate limited with a burst of 5", limited)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"type":"hello","version":1}`, `{"type":"join","room":"r","token":"t"}`,
		`{"type":"offer","target":"publisher","sdp":"v=0\r\n"}`, `{"type":"candidate","target":"subscriber","candidate":{"candidate":"x"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if apperr.CodeOf(err) != apperr.Invalid {
				t.Fatalf("decode error with code %s", apperr.CodeOf(err))
			}
			return
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}

// In a broadcast viewers are listed to and told about the presenter, not
// about each other; the presenter hears of every viewer.
func TestViewersAreApart(t *testing.T) {
	e := newEnv(t)
	tr := e.dial()
	tr.send(map[string]any{"type": "join", "room": "course-2", "token": e.token("course-2", "trainer-1", "trainer", time.Minute)})
	tr.expect("joined")
	v1 := e.dial()
	v1.send(map[string]any{"type": "join", "room": "course-2", "token": e.token("course-2", "viewer-1", "viewer", time.Minute)})
	if j := v1.expect("joined"); len(j.Participants) != 1 || j.Participants[0].ID != "trainer-1" {
		t.Fatalf("viewer-1 was shown %+v", j.Participants)
	}
	if m := tr.expect("participant_joined"); m.Participant.ID != "viewer-1" {
		t.Fatalf("%+v", m)
	}
	v2 := e.dial()
	v2.send(map[string]any{"type": "join", "room": "course-2", "token": e.token("course-2", "viewer-2", "viewer", time.Minute)})
	if j := v2.expect("joined"); len(j.Participants) != 1 || j.Participants[0].ID != "trainer-1" {
		t.Fatalf("viewer-2 was shown %+v", j.Participants)
	}
	if m := tr.expect("participant_joined"); m.Participant.ID != "viewer-2" {
		t.Fatalf("%+v", m)
	}
	v2.send(map[string]any{"type": "leave"})
	v2.expect("bye")
	if m := tr.expect("participant_left"); m.ID != "viewer-2" {
		t.Fatalf("%+v", m)
	}
	v1.alive() // nothing about viewer-2 came before the pong
	tr.send(map[string]any{"type": "leave"})
	tr.expect("bye")
	if m := v1.expect("participant_left"); m.ID != "trainer-1" {
		t.Fatalf("%+v", m)
	}
}
