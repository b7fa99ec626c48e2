package pgtest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"jobhall/internal/pgtest"
)

var migrations int32

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	migrations++ // serialized by pgtest's lock
	_, err := pool.Exec(ctx, `CREATE TABLE things (id int PRIMARY KEY, note text)`)
	return err
}

func TestFreshDatabasesFromOneTemplate(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const n = 6
	var mu sync.Mutex
	urls := map[string]bool{}
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				pool, url := pgtest.New(t, migrate)
				mu.Lock()
				urls[url] = true
				mu.Unlock()
				// The migrated table is there and empty: no other test's rows leak in.
				var c int
				if err := pool.QueryRow(ctx, `SELECT count(*) FROM things`).Scan(&c); err != nil || c != 0 {
					t.Fatalf("things: %d rows, err %v", c, err)
				}
				if _, err := pool.Exec(ctx, `INSERT INTO things VALUES ($1, 'mine')`, i); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
	if len(urls) != n {
		t.Fatalf("%d distinct databases for %d tests", len(urls), n)
	}
	if migrations != 1 {
		t.Fatalf("migrate ran %d times, want once (template cached)", migrations)
	}
	// Their cleanups dropped them.
	admin, _ := pgtest.New(t, nil)
	for u := range urls {
		name := u[strings.LastIndex(u, "/")+1 : strings.Index(u, "?")]
		var exists bool
		if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil || exists {
			t.Fatalf("database %s still exists after its test (err %v)", name, err)
		}
	}
}

// fakeTB records Fatalf and stops the goroutine like testing.T does.
type fakeTB struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (f *fakeTB) Helper()        {}
func (f *fakeTB) Cleanup(func()) {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestUnreachableServerFails(t *testing.T) {
	t.Setenv("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pgtest.New(f, nil)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("pgtest.New hung on an unreachable server")
	}
	if !strings.Contains(f.fatal, "cannot reach PostgreSQL") || !strings.Contains(f.fatal, "TEST_DATABASE_URL") {
		t.Fatalf("failure message %q is not clear", f.fatal)
	}
}
