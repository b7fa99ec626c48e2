// Package bus carries small events between the parts of a node and, with
// Redis, between nodes. It is best-effort: nothing that must not be lost
// (a booking, a log entry) travels only on the bus.
package bus

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Bus publishes payloads on topics and delivers them to subscribers.
type Bus interface {
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe delivers payloads of topic until ctx ends; a subscriber
	// that does not keep up loses messages (the channel has a small buffer).
	Subscribe(ctx context.Context, topic string) (<-chan []byte, error)
	Ping(ctx context.Context) error
	Close() error
}

const subBuffer = 64

// Local is the single-node, in-process bus.
type Local struct {
	mu     sync.Mutex
	subs   map[string]map[chan []byte]struct{}
	closed bool
}

// NewLocal returns an in-process bus.
func NewLocal() *Local { return &Local{subs: make(map[string]map[chan []byte]struct{})} }

func (l *Local) Publish(_ context.Context, topic string, payload []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs[topic] {
		select {
		case ch <- payload:
		default: // slow subscriber: drop rather than block the publisher
		}
	}
	return nil
}

func (l *Local) Subscribe(ctx context.Context, topic string) (<-chan []byte, error) {
	ch := make(chan []byte, subBuffer)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		close(ch)
		return ch, nil
	}
	if l.subs[topic] == nil {
		l.subs[topic] = make(map[chan []byte]struct{})
	}
	l.subs[topic][ch] = struct{}{}
	l.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.subs[topic][ch]; ok {
			delete(l.subs[topic], ch)
			close(ch)
		}
	}()
	return ch, nil
}

func (l *Local) Ping(context.Context) error { return nil }

func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for t, m := range l.subs {
		for ch := range m {
			close(ch)
		}
		delete(l.subs, t)
	}
	return nil
}

// Redis is the multi-node bus over Redis pub/sub.
type Redis struct {
	c      *redis.Client
	prefix string // channel prefix: pub/sub ignores the database number
}

// NewRedis returns a bus on the Redis at url (redis://host:port/db).
func NewRedis(url string) (*Redis, error) { return NewRedisPrefix(url, "jobhall:") }

// NewRedisPrefix is NewRedis with its own channel prefix, so that several
// clusters (or tests) share one Redis.
func NewRedisPrefix(url, prefix string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	return &Redis{c: redis.NewClient(opt), prefix: prefix}, nil
}

func (r *Redis) Publish(ctx context.Context, topic string, payload []byte) error {
	return r.c.Publish(ctx, r.prefix+topic, payload).Err()
}

func (r *Redis) Subscribe(ctx context.Context, topic string) (<-chan []byte, error) {
	ps := r.c.Subscribe(ctx, r.prefix+topic)
	if _, err := ps.Receive(ctx); err != nil { // wait for the subscription to be live
		ps.Close()
		return nil, err
	}
	out := make(chan []byte, subBuffer)
	go func() {
		defer close(out)
		defer ps.Close()
		in := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- []byte(m.Payload):
				default:
				}
			}
		}
	}()
	return out, nil
}

func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func (r *Redis) Close() error { return r.c.Close() }
