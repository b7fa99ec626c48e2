package signaling

import "testing"

// A connection's event queue keeps order, refuses the event past its bound
// (the caller then closes the connection as too slow) and lets a burst's
// storage go once drained.
func TestEventQueueBounded(t *testing.T) {
	q := eventQueue{wake: make(chan struct{}, 1)}
	if _, ok := q.take(); ok {
		t.Fatal("empty queue gave an event")
	}
	for i := 0; i < maxEvents; i++ {
		if !q.push(event{kick: string(rune('a' + i%26))}) {
			t.Fatalf("push %d refused below the bound", i)
		}
	}
	if q.push(event{kick: "over"}) {
		t.Fatal("push past the bound accepted")
	}
	select {
	case <-q.wake:
	default:
		t.Fatal("no wake-up")
	}
	for i := 0; i < maxEvents; i++ {
		ev, ok := q.take()
		if !ok || ev.kick != string(rune('a'+i%26)) {
			t.Fatalf("take %d: %q %v", i, ev.kick, ok)
		}
	}
	if q.q != nil {
		t.Fatalf("drained queue keeps %d slots", cap(q.q))
	}
	if !q.push(event{kick: "again"}) {
		t.Fatal("push after draining refused")
	}
}
