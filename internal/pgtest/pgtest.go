// Package pgtest gives each test its own fresh, migrated PostgreSQL
// database on the server at TEST_DATABASE_URL.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is used when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

const prefix = "pgtest_"

var (
	// mu guards templates and serializes CREATE DATABASE ... TEMPLATE, which
	// fails if another session is copying or touching the same template.
	mu        sync.Mutex
	templates = map[uintptr]string{} // migrate func -> template database
	swept     bool
	seq       atomic.Int64
)

// AdminURL returns TEST_DATABASE_URL or DefaultURL.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// New creates a fresh database migrated by migrate (nil: empty database),
// returns a pool on it and its URL, and drops it when the test ends.
// Migrated templates are cached per process, keyed by migrate's code
// pointer: pass a top-level function, since closures of one literal share a
// key whatever they capture. Templates left by exited processes are dropped
// by the next process's first call.
func New(t testing.TB, migrate func(context.Context, *pgxpool.Pool) error) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin := AdminURL()
	name := fmt.Sprintf("%s%d_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	if err := create(ctx, admin, name, migrate); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return pool, dbURL
}

func create(ctx context.Context, admin, name string, migrate func(context.Context, *pgxpool.Pool) error) error {
	mu.Lock()
	defer mu.Unlock()
	conn, err := connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if !swept {
		swept = true
		sweepLocked(ctx, conn)
	}
	if migrate == nil {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	}
	key := reflect.ValueOf(migrate).Pointer()
	tpl, ok := templates[key]
	if !ok {
		tpl = fmt.Sprintf("%stpl_%d_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
		if err := buildTemplate(ctx, conn, admin, tpl, migrate); err != nil {
			return err
		}
		templates[key] = tpl
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tpl}.Sanitize()); err != nil {
		return fmt.Errorf("create %s from %s: %w", name, tpl, err)
	}
	return nil
}

func buildTemplate(ctx context.Context, conn *pgx.Conn, admin, tpl string, migrate func(context.Context, *pgxpool.Pool) error) error {
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{tpl}.Sanitize()); err != nil {
		return fmt.Errorf("create template %s: %w", tpl, err)
	}
	u, err := withDatabase(admin, tpl)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		return err
	}
	err = migrate(ctx, pool)
	pool.Close() // a template must have no sessions when it is copied
	if err != nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{tpl}.Sanitize()+" WITH (FORCE)")
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

// sweepLocked drops databases left behind by test processes that no longer
// run (killed before their cleanups): names carry the owner's pid.
func sweepLocked(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'pgtest\\_%'")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		rest := strings.TrimPrefix(strings.TrimPrefix(n, prefix), "tpl_")
		pidStr, _, _ := strings.Cut(rest, "_")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func connect(ctx context.Context, u string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return nil, fmt.Errorf("bad TEST_DATABASE_URL %q: %w", u, err)
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 10*time.Second {
		cfg.ConnectTimeout = 10 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s (set TEST_DATABASE_URL to a reachable server): %w", redact(u), err)
	}
	return conn, nil
}

func exec(ctx context.Context, admin, sql string) error {
	conn, err := connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func withDatabase(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("TEST_DATABASE_URL must be a postgres:// URL, got %q", redact(admin))
	}
	u.Path = "/" + name
	return u.String(), nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
