package signaling

import (
	"encoding/json"
	"testing"
	"time"

	"jobhall/internal/roomtoken"
)

// FuzzHandleFrame drives a connection's owner logic with arbitrary frames
// (after a valid hello and join): nothing may panic, every frame gets at
// most a bounded answer, and every answer is a valid frame.
func FuzzHandleFrame(f *testing.F) {
	is, _ := roomtoken.NewIssuer([]byte("0123456789abcdef0123456789abcdef"))
	tok, _ := is.Issue(roomtoken.Grant{Room: "r", Identity: "interviewer-1", Role: "interviewer", Expires: time.Now().Add(time.Hour)})
	for _, s := range []string{
		`{"type":"ping","ts":1}`, `{"type":"chat","text":"你好"}`, `{"type":"admit"}`, `{"type":"kick","id":"x"}`,
		`{"type":"mute","id":"x","source":"microphone"}`, `{"type":"mute_state","source":"camera","muted":true}`,
		`{"type":"offer","target":"publisher","sdp":"v=0\r\nm=video 9"}`, `{"type":"answer","target":"subscriber","sdp":"v=0"}`,
		`{"type":"candidate","target":"subscriber","candidate":{"candidate":"c"}}`, `{"type":"join","room":"r","token":"x"}`,
		`{"type":"reject","id":"y","reason":"full"}`, `{"type":"end"}`, `{"type":"leave"}`, `not json`, `{"type":"hello","version":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srv, err := NewServer(Config{Tokens: is, Engine: &fakeEngine{}})
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(srv, nil)
		c.handleFrame(frame{data: []byte(`{"type":"hello","version":1}`)})
		c.handleFrame(frame{data: []byte(`{"type":"join","room":"r","token":"` + tok + `"}`)})
		for len(c.outbox) > 0 {
			<-c.outbox
		}
		c.handleFrame(frame{data: data})
		if len(c.outbox) > 4 {
			t.Fatalf("one frame produced %d answers", len(c.outbox))
		}
		for len(c.outbox) > 0 {
			var m Outbound
			if err := json.Unmarshal(<-c.outbox, &m); err != nil || m.Type == "" {
				t.Fatalf("answer is not a frame: %v", err)
			}
		}
		c.left = true
		c.cleanup()
	})
}
