package main

// Matching scenarios: latency of the seeker feed and of candidate lists
// through the HTTP API of a running jobhall (JOBHALL_DEMO=on, so the demo
// sign-in hands out seeker and employer sessions), on whatever data its
// database holds (e.g. after booking-seed-scale).

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"
)

func init() {
	scenarios["matching-feed"] = scenario{help: "seeker feed top-K latency through the API (random seekers, one request at a time)", run: runMatching("feed")}
	scenarios["matching-candidates"] = scenario{help: "candidates-for-a-job top-K latency through the API (random open jobs, their employers)", run: runMatching("candidates")}
}

func runMatching(kind string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := flag.NewFlagSet("matching-"+kind, flag.ContinueOnError)
		fs.SetOutput(stderr)
		base := fs.String("url", "http://127.0.0.1:8080", "jobhall base URL")
		dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL of that jobhall (to pick seekers and jobs)")
		n := fs.Int("n", 2000, "requests")
		k := fs.Int("k", 50, "page size (limit)")
		people := fs.Int("people", 500, "distinct seekers (feed) or jobs (candidates) to draw from")
		warm := fs.Int("warmup", 50, "requests before measuring")
		if err := fs.Parse(args); err != nil {
			return err
		}
		f := &bookingFlags{dbURL: *dbURL, concurrency: 1}
		pool, err := f.open(ctx)
		if err != nil {
			return err
		}
		defer pool.Close()
		c := f.client()
		r := rand.New(rand.NewPCG(7, uint64(len(kind))))

		// Random ids from the whole table, and their sessions.
		type target struct {
			path, token string
		}
		var targets []target
		signIn := func(role string, id int64) (string, error) {
			st, body, err := call(ctx, c, "POST", *base+"/api/v1/session/demo", "", map[string]any{"role": role, "id": id})
			if err != nil || st != 200 {
				return "", fmt.Errorf("sign in %s %d: %d %v %s", role, id, st, err, body)
			}
			var out struct{ Token string }
			_ = json.Unmarshal(body, &out)
			return out.Token, nil
		}
		if kind == "feed" {
			var lo, hi int64
			if err := pool.QueryRow(ctx, `SELECT min(id), max(id) FROM seekers`).Scan(&lo, &hi); err != nil {
				return err
			}
			for len(targets) < *people {
				id := lo + r.Int64N(hi-lo+1)
				tok, err := signIn("seeker", id)
				if err != nil {
					continue // a gap in the ids
				}
				targets = append(targets, target{fmt.Sprintf("%s/api/v1/me/feed?limit=%d", *base, *k), tok})
			}
		} else {
			var lo, hi int64
			if err := pool.QueryRow(ctx, `SELECT min(id), max(id) FROM job_posts WHERE status = 'published'`).Scan(&lo, &hi); err != nil {
				return err
			}
			for len(targets) < *people {
				var job, emp int64
				if err := pool.QueryRow(ctx, `SELECT id, employer_id FROM job_posts WHERE status = 'published' AND id >= $1 ORDER BY id LIMIT 1`,
					lo+r.Int64N(hi-lo+1)).Scan(&job, &emp); err != nil {
					return err
				}
				tok, err := signIn("employer", emp)
				if err != nil {
					return err
				}
				targets = append(targets, target{fmt.Sprintf("%s/api/v1/jobs/%d/candidates?limit=%d", *base, job, *k), tok})
			}
		}
		// Wait for the index (the feed answers 503 while it loads).
		start := time.Now()
		for {
			st, body, err := call(ctx, c, "GET", targets[0].path, targets[0].token, nil)
			if err != nil {
				return err
			}
			if st == 200 {
				break
			}
			if st != 503 || time.Since(start) > 10*time.Minute {
				return fmt.Errorf("first request: %d %s", st, body)
			}
			time.Sleep(time.Second)
		}
		fmt.Fprintf(stdout, "index ready after %.1fs; %d %s targets\n", time.Since(start).Seconds(), len(targets), kind)

		key := map[string]string{"feed": "items", "candidates": "candidates"}[kind]
		var ds []time.Duration
		itemsTotal, errs := 0, 0
		for i := range *warm + *n {
			tg := targets[r.IntN(len(targets))]
			t0 := time.Now()
			st, body, err := call(ctx, c, "GET", tg.path, tg.token, nil)
			d := time.Since(t0)
			if err != nil || st != 200 {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs++
				if errs <= 3 {
					fmt.Fprintf(stderr, "request: %d %v %.200s\n", st, err, body)
				}
				continue
			}
			if i < *warm {
				continue
			}
			var out map[string]json.RawMessage
			var list []json.RawMessage
			if json.Unmarshal(body, &out) == nil && json.Unmarshal(out[key], &list) == nil {
				itemsTotal += len(list)
			}
			ds = append(ds, d)
		}
		lat := latencies(slices.Clone(ds))
		slices.Sort(ds)
		p95 := 0.0
		if len(ds) > 0 {
			p95 = float64(ds[min(len(ds)-1, int(0.95*float64(len(ds))))].Microseconds()) / 1000
		}
		fmt.Fprintf(stdout, "%s top-%d: %d requests, %d errors; p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms; %.1f items per page\n",
			kind, *k, len(ds), errs, lat["p50_ms"], p95, lat["p99_ms"], lat["max_ms"], float64(itemsTotal)/float64(max(1, len(ds))))
		if errs > 0 {
			return fmt.Errorf("%d requests failed", errs)
		}
		return nil
	}
}
