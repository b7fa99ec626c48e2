package signaling

import (
	"slices"
	"testing"
	"time"
)

// Dynacast: the engine's layer choice reaches the publisher as a layers
// frame, and a resumed connection gets the newest one per track again.
func TestLayersFrame(t *testing.T) {
	e := newEnv(t)
	const room = "interview-layers"
	tok := e.token(room, "seeker-1", "seeker", time.Minute)
	s := e.dial()
	s.send(map[string]any{"type": "join", "room": room, "token": tok})
	s.expect("joined")

	e.engine.mu.Lock()
	ev := e.engine.events["seeker-1"]
	e.engine.mu.Unlock()
	le, ok := ev.(LayerEvents)
	if !ok {
		t.Fatal("the connection's media events do not take layer changes")
	}
	le.PublishedLayers("cam-1", []string{"q", "f"})
	if m := s.expect("layers"); m.Track != "cam-1" || !slices.Equal(m.Active, []string{"q", "f"}) {
		t.Fatalf("%+v", m)
	}
	le.PublishedLayers("cam-1", nil) // nobody watches: pause every layer
	if m := s.expect("layers"); m.Track != "cam-1" || len(m.Active) != 0 {
		t.Fatalf("%+v", m)
	}
	le.PublishedLayers("", []string{"f"})                     // ignored: no track
	le.PublishedLayers("cam-2", []string{"a", "b", "c", "d"}) // ignored: more than three layers
	le.PublishedLayers("cam-3", []string{"h"})
	if m := s.expect("layers"); m.Track != "cam-3" {
		t.Fatalf("%+v", m)
	}

	// A new connection resuming the session learns the current choice.
	r := e.dial()
	r.send(map[string]any{"type": "join", "room": room, "token": tok, "resume": true})
	if m := r.expect("joined"); !m.Resumed {
		t.Fatalf("not resumed: %+v", m)
	}
	got := map[string][]string{}
	for range 2 {
		m := r.expect("layers")
		got[m.Track] = m.Active
	}
	if len(got["cam-1"]) != 0 || !slices.Equal(got["cam-3"], []string{"h"}) || len(got) != 2 {
		t.Fatalf("catch-up layers %v", got)
	}
	r.alive()
}
