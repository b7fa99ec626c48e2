package mailbox

import "testing"

// A bounded mailbox keeps order, refuses the item past its bound (the
// signalling connection then closes as too slow) and lets a burst's storage
// go once drained.
func TestBounded(t *testing.T) {
	const max = 128
	q := New[string](max)
	if _, ok := q.Take(); ok {
		t.Fatal("empty queue gave an item")
	}
	for i := 0; i < max; i++ {
		if !q.Push(string(rune('a' + i%26))) {
			t.Fatalf("push %d refused below the bound", i)
		}
	}
	if q.Push("over") {
		t.Fatal("push past the bound accepted")
	}
	select {
	case <-q.Wake():
	default:
		t.Fatal("no wake-up")
	}
	for i := 0; i < max; i++ {
		v, ok := q.Take()
		if !ok || v != string(rune('a'+i%26)) {
			t.Fatalf("take %d: %q %v", i, v, ok)
		}
	}
	if n := q.queued(); n != 0 {
		t.Fatalf("drained queue keeps %d slots", n)
	}
	if !q.Push("again") {
		t.Fatal("push after draining refused")
	}
}

// Drain takes all in order; a closed mailbox refuses and forgets.
func TestDrainClose(t *testing.T) {
	q := New[int](0)
	for i := range 3 {
		q.Push(i)
	}
	if got := q.Drain(); len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("drain %v", got)
	}
	q.Push(9)
	q.Close()
	if q.Push(10) || len(q.Drain()) != 0 {
		t.Fatal("closed mailbox took or kept items")
	}
}
