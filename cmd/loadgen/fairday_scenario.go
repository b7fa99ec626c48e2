package main

// The fair-day scenario: a full demo fair day (241 booths, 2,500 seekers)
// replayed in compressed time through the booking API of an in-process
// booking service whose clock the replay advances (a live jobhall runs on
// the wall clock, so its day cannot be compressed). It runs on a scratch
// database created on the given server and dropped afterwards.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"jobhall/booking"
	"jobhall/booking/fairsim"
	"jobhall/internal/roomtoken"
)

func init() {
	scenarios["fairday"] = scenario{help: "replay a whole demo fair day (241 booths, 2,500 seekers) in compressed time through the API; checks the report adds up", run: runFairDay}
}

type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func runFairDay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fairday", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL server URL; a scratch database is created on it and dropped")
	booths := fs.Int("booths", 0, "booths taking part; 0 = all 241")
	seekers := fs.Int("seekers", 0, "seekers taking part; 0 = all 2,500")
	workers := fs.Int("concurrency", 32, "concurrent API calls")
	seed := fs.Uint64("seed", 1, "seed of the day's random choices")
	keep := fs.Bool("keep", false, "keep the scratch database (its name is printed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("-database-url (or DATABASE_URL) is required")
	}
	u, err := url.Parse(*dbURL)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	name := fmt.Sprintf("jobhall_fairday_%d_%d", os.Getpid(), time.Now().Unix())
	admin, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create scratch database: %w", err)
	}
	if !*keep {
		defer func() {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		}()
	} else {
		fmt.Fprintln(stderr, "fairday: scratch database", name)
	}
	u.Path = "/" + name
	pcfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return err
	}
	pcfg.MaxConns = int32(max(16, *workers))
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	t0 := time.Now()
	if err := booking.Migrate(ctx, pool); err != nil {
		return err
	}
	day := booking.DemoFairDay(time.Now()).AddDate(0, 0, 1)
	sum, err := booking.SeedDemo(ctx, pool, 20240301, day)
	if err != nil {
		return err
	}
	seeded := time.Since(t0)

	clock := &simClock{t: day.Add(7*time.Hour + 30*time.Minute)}
	tokens, err := roomtoken.NewIssuer([]byte("fairday-room-secret-0123456789"))
	if err != nil {
		return err
	}
	svc, err := booking.NewService(booking.Config{Pool: pool, Tokens: tokens, SessionSecret: []byte("fairday-session-secret-0123456789"),
		PublicURL: "http://127.0.0.1/", Demo: true, Now: clock.Now, PasswordIterations: 1000,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // closed below
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	if _, err := svc.CreateAccount(ctx, "fairday.admin", "模拟管理员", booking.RoleAdmin, "fairday-password-123", 0); err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *workers * 2}}
	officer, err := login(ctx, client, base, "fairday.admin", "fairday-password-123")
	if err != nil {
		return err
	}
	res, err := fairsim.Run(ctx, fairsim.Options{
		BaseURL: base, Client: client, Pool: pool, FairID: sum.FairID, Officer: officer, SetClock: clock.Set,
		RoomEvent: func(ctx context.Context, room, kind string, at time.Time) error {
			return svc.RecordRoomEvent(ctx, room, kind, at, nil)
		},
		Sweep:    svc.Sweep,
		Evaluate: func(ctx context.Context) error { _, _, err := svc.EvaluateAlerts(ctx); return err },
		Booths:   *booths, Seekers: *seekers, Seed: *seed, Workers: *workers,
	})
	if err != nil {
		return err
	}
	checkErr := fairsim.Check(res)
	var alerts int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM alerts`).Scan(&alerts)
	out := map[string]any{
		"scenario": "fairday", "fair_id": sum.FairID, "seed_seconds": seeded.Seconds(), "replay_seconds": res.Elapsed.Seconds(),
		"requests": res.Requests, "requests_per_second": float64(res.Requests) / res.Elapsed.Seconds(), "counts": res.Counts,
		"refused": res.Refused, "alerts_raised": alerts, "report": res.Report, "report_adds_up": checkErr == nil,
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	return checkErr
}

func login(ctx context.Context, c *http.Client, base, login, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"login": login, "password": password})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login: %d %v", res.StatusCode, err)
	}
	return out.Token, nil
}
