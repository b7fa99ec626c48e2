package sfu

import "runtime"

// fanReady bounds the pool's ready queue (subscribers with work); beyond
// it a subscriber's own goroutine does the work.
const fanReady = 8192

// fanPool runs direct-path subscribers' egress work on a few goroutines
// (one per processor). A track reader that ends a video frame makes each
// of a broadcast's viewers one entry in the ready queue instead of waking
// one goroutine per viewer: at 200 viewers those wake-ups were about 13 %
// of the SFU's CPU (docs/BENCHMARKS.md, SFU round 6). Each subscriber
// keeps its own goroutine too, for the times a pool worker must not wait
// (its writes could block: ICE over TCP) or the queue is full; the
// subscriber's mutex keeps the two from working on it at once.
type fanPool struct {
	ready   chan *egress
	workers int
}

func newFanPool(s *SFU) *fanPool {
	p := &fanPool{ready: make(chan *egress, fanReady), workers: max(1, runtime.GOMAXPROCS(0))}
	for range p.workers {
		s.spawn(p.work)
	}
	return p
}

func (p *fanPool) work() {
	for e := range p.ready {
		if e == nil {
			return // stop
		}
		e.queued.Store(false) // before the work: a ring from now on queues it again
		e.poolStep()
	}
}

// stop ends the workers once what is queued before it is done.
func (p *fanPool) stop() {
	for range p.workers {
		p.ready <- nil
	}
}
