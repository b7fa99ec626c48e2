// Package mailbox is the FIFO that feeds an owner goroutine: Push never
// blocks the sender, a capacity-1 wake channel says "may be non-empty", and
// the storage grows only while items wait (so an idle owner costs nothing
// for it). The SFU's participant and relay loops and the signalling
// connections use it.
package mailbox

import "sync"

// Box is one owner's mailbox.
type Box[T any] struct {
	wake chan struct{}
	max  int // 0 = unbounded (bounded in practice by what feeds it)

	mu     sync.Mutex
	q      []T
	closed bool
}

// New makes a mailbox holding at most max items (0: no bound).
func New[T any](max int) *Box[T] {
	return &Box[T]{wake: make(chan struct{}, 1), max: max}
}

// Wake is ready after a Push; the owner then takes what is queued.
func (b *Box[T]) Wake() <-chan struct{} { return b.wake }

// Push appends v; it reports false when the mailbox is closed or full.
func (b *Box[T]) Push(v T) bool {
	b.mu.Lock()
	if b.closed || (b.max > 0 && len(b.q) >= b.max) {
		b.mu.Unlock()
		return false
	}
	b.q = append(b.q, v)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return true
}

// Take removes and returns the oldest item.
func (b *Box[T]) Take() (T, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var zero T
	if len(b.q) == 0 {
		return zero, false
	}
	v := b.q[0]
	b.q[0] = zero
	b.q = b.q[1:]
	if len(b.q) == 0 {
		b.q = nil // let a burst's backing array go
	}
	return v, true
}

// Drain takes everything queued so far.
func (b *Box[T]) Drain() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.q
	b.q = nil
	return q
}

// Close drops what is queued and refuses new items.
func (b *Box[T]) Close() {
	b.mu.Lock()
	b.closed = true
	b.q = nil
	b.mu.Unlock()
}

// queued is for tests: the backing array's capacity.
func (b *Box[T]) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return cap(b.q)
}
