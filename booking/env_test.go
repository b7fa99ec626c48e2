package booking_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"jobhall/booking"
	"jobhall/internal/pgtest"
	"jobhall/internal/roomtoken"
)

const testSeed = 20260301

// testDay is two days after the demo day, so every slot is in the future
// and inside the booking window while the tests run.
var testDay = booking.DemoFairDay(time.Now()).AddDate(0, 0, 2)

// migrateAndSeed is the template builder for seeded test databases:
// pgtest caches its result, so each test gets a seeded copy cheaply.
func migrateAndSeed(ctx context.Context, pool *pgxpool.Pool) error {
	if err := booking.Migrate(ctx, pool); err != nil {
		return err
	}
	_, err := booking.SeedDemo(ctx, pool, testSeed, testDay)
	return err
}

// leakCheck must be called first in a test: cleanups run last-in first-out,
// so the check runs after every other cleanup has closed its goroutines.
func leakCheck(t testing.TB) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

type env struct {
	t      testing.TB
	ctx    context.Context
	pool   *pgxpool.Pool
	svc    *booking.Service
	srv    *httptest.Server
	client *http.Client
	tokens *roomtoken.Issuer
	fairID int64
}

const sessionSecret = "test-session-secret-0123456789"

func newEnv(t testing.TB) *env { t.Helper(); return newEnvWith(t, nil) }

// testClock is a settable clock for time-compressed tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// newEnvAt is newEnv with the service on a settable clock starting at start.
func newEnvAt(t testing.TB, start time.Time) (*env, *testClock) {
	t.Helper()
	c := &testClock{t: start}
	return newEnvWith(t, func(cfg *booking.Config) { cfg.Now = c.Now }), c
}

func newEnvWith(t testing.TB, configure func(*booking.Config)) *env {
	t.Helper()
	leakCheck(t)
	ctx := testCtx(t)
	_, dbURL := pgtest.New(t, migrateAndSeed)
	// More connections than the default so the race test contends in the database.
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tokens, err := roomtoken.NewIssuer([]byte("test-room-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := booking.Config{
		Pool: pool, Tokens: tokens, SessionSecret: []byte(sessionSecret),
		PublicURL: "http://jobhall.test/", Demo: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PasswordIterations: 1000, HoldTTL: 10 * time.Minute,
	}
	if configure != nil {
		configure(&cfg)
	}
	svc, err := booking.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	e := &env{t: t, ctx: ctx, pool: pool, svc: svc, srv: srv, client: &http.Client{Transport: tr, Timeout: time.Minute}, tokens: tokens}
	if err := pool.QueryRow(ctx, `SELECT fair_id FROM demo_seeds WHERE seed = $1`, testSeed).Scan(&e.fairID); err != nil {
		t.Fatal(err)
	}
	return e
}

type resp struct {
	Status int
	Body   map[string]any
	Raw    []byte
	Header http.Header
}

func (r resp) str(k string) string { s, _ := r.Body[k].(string); return s }

// request sends body (a string, or a value to encode) with the given
// content type and bearer token ("" for none).
func (e *env) request(method, path, token, ctype string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := resp{Status: res.StatusCode, Raw: raw, Header: res.Header}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return out
}

func (e *env) get(path, token string) resp { return e.request(http.MethodGet, path, token, "", nil) }

func (e *env) post(path, token string, body any) resp {
	return e.request(http.MethodPost, path, token, "application/json", body)
}

// signIn uses the demo endpoint and returns the bearer token.
func (e *env) signIn(role string, id int64) string {
	e.t.Helper()
	r := e.post("/api/v1/session/demo", "", map[string]any{"role": role, "id": id})
	if r.Status != http.StatusOK || r.str("token") == "" {
		e.t.Fatalf("sign in %s %d: %d %s", role, id, r.Status, r.Raw)
	}
	return r.str("token")
}

// signInAll signs each id in with role and returns their tokens in order.
func (e *env) signInAll(role string, ids []int64) []string {
	e.t.Helper()
	toks := make([]string, len(ids))
	for i, id := range ids {
		toks[i] = e.signIn(role, id)
	}
	return toks
}

func (e *env) seekerIDs(n int) []int64 {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT id FROM seekers ORDER BY id LIMIT $1`, n)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) != n {
		e.t.Fatalf("want %d seekers, have %d", n, len(ids))
	}
	return ids
}

// slotAt returns the slot of booth's lane 1 starting at hh:mm on the fair day.
func (e *env) slotAt(boothID int64, hh, mm int) int64 {
	e.t.Helper()
	start := time.Date(testDay.Year(), testDay.Month(), testDay.Day(), hh, mm, 0, 0, testDay.Location())
	var id int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM slots WHERE booth_id = $1 AND lane = 1 AND lower(during) = $2`, boothID, start).Scan(&id); err != nil {
		e.t.Fatalf("slot of booth %d at %02d:%02d: %v", boothID, hh, mm, err)
	}
	return id
}

// booths returns the first n booth ids of the fair with their employers.
func (e *env) booths(n int) (booths, employers []int64) {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT id, employer_id FROM booths WHERE fair_id = $1 ORDER BY id LIMIT $2`, e.fairID, n)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b, em int64
		if err := rows.Scan(&b, &em); err != nil {
			e.t.Fatal(err)
		}
		booths, employers = append(booths, b), append(employers, em)
	}
	return booths, employers
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *env) book(token string, slotID int64) resp {
	return e.post("/api/v1/bookings", token, map[string]any{"slot_id": slotID})
}

func mustStatus(t testing.TB, r resp, want int, what string) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, want, r.Raw)
	}
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func fmtPath(format string, args ...any) string { return fmt.Sprintf(format, args...) }
