package booking

import (
	"context"
	"sync"
	"sync/atomic"
)

// batcher is group commit for one kind of statement. Requests that arrive
// while inFlight statements of the kind are already in the database queue
// up; the next request to find a free place takes up to max of them
// (itself first) and runs them as one statement, which shares the
// statement's fixed cost in PostgreSQL (protocol, executor start-up,
// relation locks, the commit's WAL flush) among them. Nothing waits for a
// batch to fill: with no queue a request runs at once, alone.
//
// No goroutine of its own: the request that leads runs the batch on its
// own goroutine and then hands the lead to the oldest waiting request.
// Requests with equal keys never share a batch (two identical bookings, or
// two uses of one Idempotency-Key, must be told apart by the database).
type batcher[R any, K comparable] struct {
	inFlight, max int
	key           func(*R) K
	run           func(context.Context, []*R) // fills in each request's result

	mu      sync.Mutex
	pending []*waiter[R]
	running int // batches in the database

	batches, carried atomic.Int64 // batches of more than one, and their requests
}

type waiter[R any] struct {
	r    *R
	done chan struct{} // closed when r's batch has run, or when r must lead
	lead bool          // set before done is closed
}

// do returns when r's batch has run.
func (b *batcher[R, K]) do(ctx context.Context, r *R) {
	w := &waiter[R]{r: r}
	b.mu.Lock()
	leads := b.running < b.inFlight // read here: once queued, w.lead is the leaders'
	if leads {
		b.running++
		w.lead = true
	} else {
		w.done = make(chan struct{})
		b.pending = append(b.pending, w)
	}
	b.mu.Unlock()
	if !leads {
		<-w.done // closed after w.lead was set, if it was
		if !w.lead {
			return
		}
	}
	b.lead(ctx, w)
}

// lead runs a batch of self and whoever waits, then passes the lead to the
// oldest request still waiting, if any, and returns, so that the leader's
// own answer is not held back by later batches.
func (b *batcher[R, K]) lead(ctx context.Context, self *waiter[R]) {
	b.mu.Lock()
	batch := b.takeLocked(self)
	b.mu.Unlock()
	rs := make([]*R, len(batch))
	for i, w := range batch {
		rs[i] = w.r
	}
	b.run(ctx, rs)
	if len(batch) > 1 {
		b.batches.Add(1)
		b.carried.Add(int64(len(batch)))
	}
	for _, w := range batch[1:] {
		close(w.done)
	}
	b.mu.Lock()
	if len(b.pending) > 0 {
		next := b.pending[0]
		b.pending = b.pending[1:]
		next.lead = true
		close(next.done) // still running: the lead moves on
	} else {
		b.running--
	}
	b.mu.Unlock()
}

// takeLocked makes a batch of self and up to max-1 queued requests, oldest
// first, leaving behind any whose key is already in it.
func (b *batcher[R, K]) takeLocked(self *waiter[R]) []*waiter[R] {
	seen := map[K]bool{b.key(self.r): true}
	batch := []*waiter[R]{self}
	rest := b.pending[:0:0]
	for _, w := range b.pending {
		k := b.key(w.r)
		if len(batch) == b.max || seen[k] {
			rest = append(rest, w)
			continue
		}
		seen[k] = true
		batch = append(batch, w)
	}
	b.pending = rest
	return batch
}
