package signaling

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

func (e *env) grantToken(g roomtoken.Grant) string {
	e.t.Helper()
	if g.Expires.IsZero() {
		g.Expires = time.Now().Add(time.Minute)
	}
	if g.Name == "" {
		g.Name = g.Identity
	}
	tok, err := e.issuer.Issue(g)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (c *client) join(room, tok string) {
	c.t.Helper()
	c.send(map[string]any{"type": "join", "room": room, "token": tok})
}

func (e *env) counts() (joins, leaves int) {
	e.engine.mu.Lock()
	defer e.engine.mu.Unlock()
	return len(e.engine.joins), len(e.engine.leaves)
}

func TestLobbyAdmitAndReject(t *testing.T) {
	e := newEnv(t)
	const room = "booth-9"
	s1, s2 := e.dial(), e.dial()
	s1.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-1", Role: "seeker", Lobby: true}))
	if m := s1.expect("lobby"); m.Position != 1 {
		t.Fatalf("%+v", m)
	}
	s2.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-2", Role: "seeker", Lobby: true}))
	if m := s2.expect("lobby"); m.Position != 2 {
		t.Fatalf("%+v", m)
	}
	// A waiter may not publish or chat, and may not admit itself.
	s1.expect("lobby")
	s1.send(map[string]any{"type": "offer", "target": "publisher", "sdp": "v=0\r\nm=video"})
	s1.expectError(apperr.Forbidden, "lobby")
	s1.send(map[string]any{"type": "admit", "id": "seeker-1"})
	s1.expectError(apperr.Forbidden, "lobby")

	host := e.dial()
	host.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "interviewer-1", Role: "interviewer"}))
	host.expect("joined")
	if m := host.expect("lobby_update"); len(m.Waiting) != 2 || m.Waiting[0].ID != "seeker-1" || m.Waiting[0].Since == nil {
		t.Fatalf("%+v", m)
	}
	if j, _ := e.counts(); j != 1 {
		t.Fatalf("waiters got media sessions: %d joins", j)
	}
	host.send(map[string]any{"type": "admit"}) // the next in line
	if m := s1.expect("joined"); m.Self.ID != "seeker-1" || len(m.Participants) != 1 {
		t.Fatalf("%+v", m)
	}
	if m := s2.expect("lobby"); m.Position != 1 {
		t.Fatalf("%+v", m)
	}
	for got := map[string]bool{}; !got["lobby_update"] || !got["participant_joined"]; {
		m := host.read()
		got[m.Type] = true
		if m.Type == "lobby_update" && (len(m.Waiting) != 1 || m.Waiting[0].ID != "seeker-2") {
			t.Fatalf("%+v", m)
		}
	}
	host.send(map[string]any{"type": "reject", "id": "seeker-2", "reason": "今天名额已满"})
	if m := s2.expect("error"); !strings.Contains(m.Message, "名额已满") {
		t.Fatalf("%+v", m)
	}
	if m := s2.expect("bye"); m.Reason != "rejected" {
		t.Fatalf("%+v", m)
	}
	host.expect("lobby_update")
	host.send(map[string]any{"type": "admit", "id": "nobody"})
	host.expectError(apperr.NotFound, "not waiting")
}

func TestResumeKeepsMediaAndReplaysTheOffer(t *testing.T) {
	e := newEnv(t)
	const room = "interview-5"
	host := e.dial()
	host.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "interviewer-1", Role: "interviewer"}))
	host.expect("joined")
	seekerTok := e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-1", Role: "seeker"})
	s := e.dial()
	s.join(room, seekerTok)
	s.expect("joined")
	host.expect("participant_joined")

	s.ws.Close() // the phone switches networks
	if m := host.expect("participant_updated"); m.Participant.ID != "seeker-1" || *m.Participant.Connected {
		t.Fatalf("%+v", m)
	}
	// The SFU renegotiates while the seeker is away.
	e.engine.mu.Lock()
	ev := e.engine.events["seeker-1"]
	e.engine.mu.Unlock()
	ev.SubscriberOffer(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0 while-away"})
	ev.ICECandidate(TargetSubscriber, webrtc.ICECandidateInit{Candidate: "candidate:away"})

	back := e.dial()
	back.send(map[string]any{"type": "join", "room": room, "token": seekerTok, "resume": true})
	if m := back.expect("joined"); !m.Resumed || len(m.Participants) != 1 {
		t.Fatalf("%+v", m)
	}
	if m := back.expect("offer"); m.SDP != "v=0 while-away" {
		t.Fatalf("%+v", m)
	}
	if m := back.expect("candidate"); m.Candidate.Candidate != "candidate:away" {
		t.Fatalf("%+v", m)
	}
	if m := host.expect("participant_updated"); !*m.Participant.Connected {
		t.Fatalf("%+v", m)
	}
	if j, l := e.counts(); j != 2 || l != 0 {
		t.Fatalf("resume re-created media: %d joins, %d leaves", j, l)
	}
	back.alive()

	// Away for longer than the window: gone for good.
	back.ws.Close()
	host.expect("participant_updated")
	if m := host.expect("participant_left"); m.ID != "seeker-1" {
		t.Fatalf("%+v", m)
	}
	if _, l := e.counts(); l != 1 {
		t.Fatalf("%d leaves", l)
	}
}

func TestKickMuteChatEnd(t *testing.T) {
	e := newEnv(t)
	const room = "interview-6"
	host, s, v := e.dial(), e.dial(), e.dial()
	host.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "interviewer-1", Role: "interviewer"}))
	host.expect("joined")
	seekerTok := e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-1", Role: "seeker"})
	s.join(room, seekerTok)
	s.expect("joined")
	host.expect("participant_joined")
	v.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "officer-1", Role: "officer"}))
	v.expect("joined")
	host.expect("participant_joined")
	s.expect("participant_joined")

	s.send(map[string]any{"type": "chat", "text": "  您好，我准备好了  "})
	for _, c := range []*client{host, s, v} {
		if m := c.expect("chat"); m.Text != "您好，我准备好了" || m.From.ID != "seeker-1" || m.TS == 0 {
			t.Fatalf("%+v", m)
		}
	}
	host.send(map[string]any{"type": "mute", "id": "seeker-1", "source": "microphone"})
	if m := s.expect("muted"); m.Source != "microphone" || m.From.ID != "interviewer-1" {
		t.Fatalf("%+v", m)
	}
	if m := v.expect("participant_updated"); !m.Participant.Muted["microphone"] {
		t.Fatalf("%+v", m)
	}
	host.expect("participant_updated")
	s.send(map[string]any{"type": "mute_state", "source": "microphone", "muted": false})
	if m := host.expect("participant_updated"); m.Participant.Muted["microphone"] {
		t.Fatalf("%+v", m)
	}
	v.expect("participant_updated")

	host.send(map[string]any{"type": "kick", "id": "officer-1"})
	if m := v.expect("bye"); m.Reason != "removed" {
		t.Fatalf("%+v", m)
	}
	host.expect("participant_left")
	s.expect("participant_left")
	again := e.dial()
	again.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "officer-1", Role: "officer"}))
	again.expectError(apperr.Forbidden, "removed")

	host.send(map[string]any{"type": "end"})
	for _, c := range []*client{host, s} {
		if m := c.expect("bye"); m.Reason != "ended" {
			t.Fatalf("%+v", m)
		}
	}
	late := e.dial()
	late.join(room, seekerTok)
	late.expectError(apperr.Conflict, "ended")
}

func TestTimeLimitWarnsThenEnds(t *testing.T) {
	e := newEnv(t)
	const room = "walkin-3"
	host, s := e.dial(), e.dial()
	host.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "booth_host-1", Role: "booth_host", Limit: 2 * time.Second}))
	host.expect("joined")
	s.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-1", Role: "seeker"}))
	if m := s.expect("joined"); m.EndsAt == nil {
		t.Fatalf("no ends_at: %+v", m)
	}
	host.expect("participant_joined")
	for _, c := range []*client{host, s} {
		if m := c.expect("time_warning"); m.Seconds < 0 || m.Seconds > 2 {
			t.Fatalf("%+v", m)
		}
	}
	for _, c := range []*client{host, s} {
		if m := c.expect("bye"); m.Reason != "time_limit" {
			t.Fatalf("%+v", m)
		}
	}
}

// TestAuthorizationMatrix: every role against every action.
func TestAuthorizationMatrix(t *testing.T) {
	type action struct {
		name  string
		frame map[string]any
	}
	actions := []action{
		{"publish", map[string]any{"type": "offer", "target": "publisher", "sdp": "v=0\r\nm=video 9"}},
		{"chat", map[string]any{"type": "chat", "text": "hi"}},
		{"admit", map[string]any{"type": "admit"}},
		{"mute", map[string]any{"type": "mute", "id": "seeker-x", "source": "microphone"}},
		{"kick", map[string]any{"type": "kick", "id": "seeker-x"}},
	}
	allowed := map[string]map[string]bool{
		"seeker":      {"publish": true, "chat": true},
		"interviewer": {"publish": true, "chat": true, "admit": true, "mute": true, "kick": true},
		"booth_host":  {"publish": true, "chat": true, "admit": true, "mute": true, "kick": true},
		"trainer":     {"publish": true, "chat": true, "admit": true, "mute": true, "kick": true},
		"viewer":      {"chat": true},
		"officer":     {"chat": true},
		"recorder":    {},
	}
	e := newEnv(t)
	for role, ok := range allowed {
		for _, a := range actions {
			room := fmt.Sprintf("m-%s-%s", role, a.name)
			target := e.dial()
			target.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-x", Role: "seeker"}))
			target.expect("joined")
			w := e.dial()
			w.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: role + "-1", Role: role}))
			w.expect("joined")
			w.send(a.frame)
			w.send(map[string]any{"type": "ping", "ts": 1})
			m := w.read()
			denied := m.Type == "error" && m.Code == apperr.Forbidden
			switch {
			case ok[a.name] && denied:
				t.Errorf("%s may %s but was refused: %+v", role, a.name, m)
			case !ok[a.name] && !denied:
				t.Errorf("%s may not %s but got %+v", role, a.name, m)
			}
			w.ws.Close()
			target.ws.Close()
		}
	}
}

func TestRoleCapacity(t *testing.T) {
	e := newEnv(t)
	const room = "interview-cap"
	for i := 0; i < 4; i++ {
		c := e.dial()
		c.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: fmt.Sprintf("seeker-%d", i), Role: "seeker"}))
		c.expect("joined")
	}
	c := e.dial()
	c.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-9", Role: "seeker"}))
	c.expectError(apperr.Conflict, "role seeker")
	c.alive()
}

func TestPublishDeclaresSources(t *testing.T) {
	e := newEnv(t)
	const room = "interview-src"
	s, v := e.dial(), e.dial()
	s.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-1", Role: "seeker"}))
	s.expect("joined")
	v.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "officer-1", Role: "officer"}))
	v.expect("joined")
	s.expect("participant_joined")

	s.send(map[string]any{"type": "publish", "track": "t-screen", "source": "screen"})
	if m := v.expect("participant_updated"); m.Participant.Tracks["t-screen"] != "screen" {
		t.Fatalf("%+v", m)
	}
	v.send(map[string]any{"type": "publish", "track": "t1", "source": "camera"})
	v.expectError(apperr.Forbidden, "may not publish camera")
	s.send(map[string]any{"type": "unpublish", "track": "nope"})
	s.expectError(apperr.NotFound, "was not published")
	for i := 0; i < 7; i++ {
		s.send(map[string]any{"type": "publish", "track": fmt.Sprintf("t%d", i), "source": "camera"})
	}
	s.send(map[string]any{"type": "publish", "track": "t-over", "source": "camera"})
	s.expectError(apperr.TooLarge, "at most 8")
	s.send(map[string]any{"type": "unpublish", "track": "t-screen"})
	s.alive()
}

// fakeMuter records server-side mutes.
type fakeMuter struct {
	*fakeSession
	calls []string
}

func (f *fakeMuter) MuteSource(source string, muted bool) error {
	f.calls = append(f.calls, fmt.Sprintf("%s=%v", source, muted))
	return nil
}

func TestActiveSpeakerAndServerMute(t *testing.T) {
	e := newEnv(t)
	const room = "interview-sp"
	host, s := e.dial(), e.dial()
	host.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "interviewer-1", Role: "interviewer"}))
	host.expect("joined")
	s.join(room, e.grantToken(roomtoken.Grant{Room: room, Identity: "seeker-1", Role: "seeker"}))
	s.expect("joined")
	host.expect("participant_joined")

	e.engine.mu.Lock()
	ev := e.engine.events["seeker-1"]
	e.engine.mu.Unlock()
	ev.(SpeakerEvents).ActiveSpeakers([]string{"interviewer-1"})
	if m := s.expect("active_speaker"); len(m.IDs) != 1 || m.IDs[0] != "interviewer-1" {
		t.Fatalf("%+v", m)
	}
	ev.(SpeakerEvents).ActiveSpeakers(nil)
	if m := s.expect("active_speaker"); len(m.IDs) != 0 {
		t.Fatalf("%+v", m)
	}

	// A moderator's mute reaches the media engine; unmuting oneself lifts it.
	e.srv.mu.Lock()
	mem := e.srv.rooms[room].members["seeker-1"]
	fm := &fakeMuter{fakeSession: mem.media.(*fakeSession)}
	mem.media = fm
	e.srv.mu.Unlock()
	host.send(map[string]any{"type": "mute", "id": "seeker-1", "source": "microphone"})
	s.expect("muted")
	host.expect("participant_updated")
	s.send(map[string]any{"type": "mute_state", "source": "microphone", "muted": false})
	host.expect("participant_updated")
	s.alive()
	e.srv.mu.Lock()
	calls := strings.Join(fm.calls, ",")
	e.srv.mu.Unlock()
	if calls != "microphone=true,microphone=false" {
		t.Fatalf("server-side mutes %q", calls)
	}
}
