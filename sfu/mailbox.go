package sfu

import "sync"

// mailbox is an unbounded FIFO of closures drained by one owner goroutine.
// push never blocks, so Pion callbacks and room fan-out can feed it safely.
// Its size is bounded in practice by what feeds it: track changes in one room,
// ICE candidates of one PeerConnection and the client's answers.
type mailbox struct {
	wake chan struct{} // capacity 1: "queue may be non-empty"

	mu     sync.Mutex
	queue  []func()
	closed bool
}

func newMailbox() *mailbox {
	return &mailbox{wake: make(chan struct{}, 1)}
}

// push enqueues f; it reports false if the mailbox is closed.
func (m *mailbox) push(f func()) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.queue = append(m.queue, f)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return true
}

// drain takes everything queued so far.
func (m *mailbox) drain() []func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queue
	m.queue = nil
	return q
}

// close drops queued work and refuses new work.
func (m *mailbox) close() {
	m.mu.Lock()
	m.closed = true
	m.queue = nil
	m.mu.Unlock()
}
