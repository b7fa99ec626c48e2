package bus

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func redisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func TestBuses(t *testing.T) {
	r, err := NewRedis(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("redis at %s is not reachable (set TEST_REDIS_URL): %v", redisURL(), err)
	}
	for name, b := range map[string]Bus{"local": NewLocal(), "redis": r} {
		t.Run(name, func(t *testing.T) {
			sctx, scancel := context.WithCancel(ctx)
			topic := fmt.Sprintf("test-%d", time.Now().UnixNano())
			ch, err := b.Subscribe(sctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if err := b.Publish(ctx, topic, []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 3; i++ {
				select {
				case p := <-ch:
					if len(p) != 1 || p[0] != byte(i) {
						t.Fatalf("got %v want %d", p, i)
					}
				case <-ctx.Done():
					t.Fatal("timeout")
				}
			}
			scancel()
			for range ch { // closes after cancel
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
