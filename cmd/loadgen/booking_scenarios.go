package main

// Booking scenarios: load the city-scale data set, then drive the booking
// API of a running jobhall (started with JOBHALL_DEMO=on on the same
// database, so the demo sign-in can hand out seeker sessions).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"jobhall/booking"
)

func init() {
	scenarios["booking-seed-scale"] = scenario{help: "load the 10x city (1.6M profiles, 300k posts, 2,410 booths, 25k attendees) with COPY", run: runSeedScale}
	scenarios["booking-race"] = scenario{help: "N concurrent booking attempts on M free slots; checks exactly M win and SQL finds no overlap", run: runBookingRace}
	scenarios["booking-throughput"] = scenario{help: "sustained bookings per second with latency percentiles", run: runBookingThroughput}
	scenarios["booking-availability"] = scenario{help: "booth-day free-slot reads per second with latency percentiles", run: runAvailability}
	scenarios["booking-freemap"] = scenario{help: "latency of the fair-wide free-slot map", run: runFreeMap}
}

type bookingFlags struct {
	fs          *flag.FlagSet
	url, dbURL  string
	fair        int64
	concurrency int
	duration    time.Duration
}

func newBookingFlags(name string, stderr io.Writer) *bookingFlags {
	f := &bookingFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.StringVar(&f.url, "url", "http://127.0.0.1:8080", "jobhall base URL")
	f.fs.StringVar(&f.dbURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL of that jobhall (to pick slots and seekers and to check results)")
	f.fs.Int64Var(&f.fair, "fair", 0, "fair id; 0 = the fair with the most booths")
	f.fs.IntVar(&f.concurrency, "concurrency", 64, "concurrent clients")
	f.fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run")
	return f
}

func (f *bookingFlags) open(ctx context.Context) (*pgxpool.Pool, error) {
	if f.dbURL == "" {
		return nil, errors.New("-database-url (or DATABASE_URL) is required")
	}
	pool, err := pgxpool.New(ctx, f.dbURL)
	if err != nil {
		return nil, err
	}
	if f.fair == 0 {
		if err := pool.QueryRow(ctx, `SELECT fair_id FROM booths GROUP BY fair_id ORDER BY count(*) DESC, fair_id DESC LIMIT 1`).Scan(&f.fair); err != nil {
			pool.Close()
			return nil, fmt.Errorf("find fair: %w", err)
		}
	}
	return pool, nil
}

func (f *bookingFlags) client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: f.concurrency * 2,
		MaxIdleConnsPerHost: f.concurrency * 2, IdleConnTimeout: time.Minute}}
}

// prepare picks free slots and idle seekers and signs the seekers in: the
// setup of every scenario that books.
func (f *bookingFlags) prepare(ctx context.Context, nSlots, nSeekers int, stderr io.Writer) (*pgxpool.Pool, []int64, *http.Client, []string, error) {
	pool, err := f.open(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	fail := func(err error) (*pgxpool.Pool, []int64, *http.Client, []string, error) {
		pool.Close()
		return nil, nil, nil, nil, err
	}
	slotIDs, err := freeSlots(ctx, pool, f.fair, nSlots)
	if err != nil {
		return fail(err)
	}
	seekers, err := idleSeekers(ctx, pool, nSeekers)
	if err != nil {
		return fail(err)
	}
	c := f.client()
	fmt.Fprintf(stderr, "signing in %d seekers\n", len(seekers))
	toks, err := signInAll(ctx, c, f.url, seekers, f.concurrency)
	if err != nil {
		return fail(err)
	}
	return pool, slotIDs, c, toks, nil
}

func runSeedScale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("booking-seed-scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL")
	scale := fs.Float64("scale", 1, "fraction of the full 10x city (1 = 1.6M profiles)")
	seed := fs.Int64("seed", 1, "random seed")
	dayFlag := fs.String("day", "", "the fair's date (YYYY-MM-DD, Asia/Shanghai); empty = today, or tomorrow after 16:00 there (a benchmark run in the afternoon wants tomorrow: it books future slots)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" || *scale <= 0 || *scale > 10 {
		return errors.New("-database-url is required and -scale must be in (0, 10]")
	}
	var day time.Time
	if *dayFlag != "" {
		d, err := time.Parse(time.DateOnly, *dayFlag)
		if err != nil {
			return fmt.Errorf("-day: %w", err)
		}
		day = d
	}
	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := booking.Migrate(ctx, pool); err != nil {
		return err
	}
	o := booking.ScaleFull
	sc := func(n int) int { return max(1, int(float64(n)**scale)) }
	o.Day = day
	o.Seed, o.Profiles, o.Employers, o.JobPosts, o.Booths, o.Attendees = *seed, sc(o.Profiles), sc(o.Employers), sc(o.JobPosts), sc(o.Booths), sc(o.Attendees)
	start := time.Now()
	sum, err := booking.GenerateScale(ctx, pool, o, stderr)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"scenario": "booking-seed-scale", "summary": sum, "seconds": time.Since(start).Seconds()})
}

// freeSlots picks n free future slots of the fair, spread over its booths.
func freeSlots(ctx context.Context, pool *pgxpool.Pool, fair int64, n int) ([]int64, error) {
	rows, err := pool.Query(ctx, `SELECT s.id FROM slots s JOIN booths b ON b.id = s.booth_id
		WHERE b.fair_id = $1 AND s.open AND lower(s.during) > now()
			AND NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.booth_id = s.booth_id AND bk.lane = s.lane AND bk.during && s.during
				AND bk.status IN ('held', 'booked'))
		ORDER BY hashint8(s.id) LIMIT $2`, fair, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if len(ids) < n {
		return nil, fmt.Errorf("only %d free slots, want %d", len(ids), n)
	}
	return ids, rows.Err()
}

// idleSeekers picks n seekers with no bookings at all.
func idleSeekers(ctx context.Context, pool *pgxpool.Pool, n int) ([]int64, error) {
	rows, err := pool.Query(ctx, `SELECT id FROM seekers s WHERE NOT EXISTS (SELECT 1 FROM bookings b WHERE b.seeker_id = s.id)
		ORDER BY id DESC LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if len(ids) < n {
		return nil, fmt.Errorf("only %d idle seekers, want %d", len(ids), n)
	}
	return ids, rows.Err()
}

// signInAll gets a session for every seeker through the demo sign-in.
func signInAll(ctx context.Context, c *http.Client, base string, ids []int64, conc int) ([]string, error) {
	toks := make([]string, len(ids))
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) || ctx.Err() != nil {
					return
				}
				st, body, err := call(ctx, c, "POST", base+"/api/v1/session/demo", "", map[string]any{"role": "seeker", "id": ids[i]})
				if err != nil || st != 200 {
					once.Do(func() { firstErr = fmt.Errorf("sign in seeker %d: %d %v %s", ids[i], st, err, body) })
					return
				}
				var out struct{ Token string }
				_ = json.Unmarshal(body, &out)
				toks[i] = out.Token
			}
		})
	}
	wg.Wait()
	return toks, firstErr
}

func call(ctx context.Context, c *http.Client, method, url, token string, body any) (int, []byte, error) {
	return callKeyed(ctx, c, method, url, token, "", body)
}

// callKeyed is call with an Idempotency-Key (none when key is empty).
func callKeyed(ctx context.Context, c *http.Client, method, url, token, key string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// latencies summarizes durations in milliseconds.
func latencies(ds []time.Duration) map[string]float64 {
	if len(ds) == 0 {
		return map[string]float64{}
	}
	slices.Sort(ds)
	q := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	return map[string]float64{"p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "max_ms": q(1)}
}

func runBookingRace(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newBookingFlags("booking-race", stderr)
	nSlots := f.fs.Int("slots", 1000, "free slots to fight over")
	attempts := f.fs.Int("attempts", 10000, "booking attempts (distinct seekers), spread evenly over the slots")
	f.concurrency = 256
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	pool, slotIDs, c, toks, err := f.prepare(ctx, *nSlots, *attempts, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	order := rand.Perm(*attempts) // attempt i books slot i % slots, in shuffled order
	var created, conflicts, other atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range f.concurrency {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(order) {
					return
				}
				i := order[k]
				st, _, err := call(ctx, c, "POST", f.url+"/api/v1/bookings", toks[i], map[string]any{"slot_id": slotIDs[i%len(slotIDs)]})
				switch {
				case err == nil && st == 201:
					created.Add(1)
				case err == nil && st == 409:
					conflicts.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var overlaps, booked int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM bookings a JOIN bookings b ON a.id < b.id AND a.during && b.during
		AND a.status IN ('held', 'booked') AND b.status IN ('held', 'booked')
		AND ((a.booth_id = b.booth_id AND a.lane = b.lane) OR (a.seeker_id = b.seeker_id AND a.group_id <> b.group_id))`).Scan(&overlaps); err != nil {
		return err
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM bookings WHERE slot_id = ANY($1) AND status = 'booked'`, slotIDs).Scan(&booked); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"scenario": "booking-race", "slots": len(slotIDs), "attempts": *attempts,
		"created": created.Load(), "conflicts": conflicts.Load(), "other": other.Load(), "booked_rows": booked, "overlaps": overlaps,
		"seconds": elapsed.Seconds(), "attempts_per_second": float64(*attempts) / elapsed.Seconds(), "concurrency": f.concurrency})
}

func runBookingThroughput(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newBookingFlags("booking-throughput", stderr)
	maxOps := f.fs.Int("max", 30000, "at most this many bookings (free slots and idle seekers are prepared for them)")
	keyed := f.fs.Bool("idempotency-keys", false, "send a fresh Idempotency-Key with every booking (as a careful client does)")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	run := time.Now().UnixNano()
	pool, slotIDs, c, toks, err := f.prepare(ctx, *maxOps, *maxOps, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	fmt.Fprintf(stderr, "booking for %v with %d clients\n", f.duration, f.concurrency)
	return drive(ctx, stdout, f, "booking-throughput", *maxOps, func(i int) (int, error) {
		key := ""
		if *keyed {
			key = fmt.Sprintf("lg-%d-%d", run, i)
		}
		st, _, err := callKeyed(ctx, c, "POST", f.url+"/api/v1/bookings", toks[i], key, map[string]any{"slot_id": slotIDs[i]})
		return st, err
	}, http.StatusCreated)
}

func runAvailability(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newBookingFlags("booking-availability", stderr)
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	pool, err := f.open(ctx)
	if err != nil {
		return err
	}
	var booths []int64
	var day string
	rows, err := pool.Query(ctx, `SELECT b.id, f.day::text FROM booths b JOIN fairs f ON f.id = b.fair_id WHERE b.fair_id = $1`, f.fair)
	if err != nil {
		pool.Close()
		return err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &day); err != nil {
			rows.Close()
			pool.Close()
			return err
		}
		booths = append(booths, id)
	}
	rows.Close()
	pool.Close()
	if len(booths) == 0 {
		return errors.New("the fair has no booths")
	}
	c := f.client()
	return drive(ctx, stdout, f, "booking-availability", 1<<40, func(i int) (int, error) {
		st, _, err := call(ctx, c, "GET", fmt.Sprintf("%s/api/v1/booths/%d/slots?date=%s", f.url, booths[rand.IntN(len(booths))], day), "", nil)
		return st, err
	}, http.StatusOK)
}

// drive runs op(i) for i = 0, 1, … on f.concurrency clients until the
// duration passes or maxOps ops are done, and prints rate and latencies.
func drive(ctx context.Context, stdout io.Writer, f *bookingFlags, name string, maxOps int, op func(i int) (int, error), okStatus int) error {
	var next atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	statuses := map[int]int{}
	deadline := time.Now().Add(f.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for range f.concurrency {
		wg.Go(func() {
			var lat []time.Duration
			st := map[int]int{}
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= maxOps {
					break
				}
				t0 := time.Now()
				code, err := op(i)
				if err != nil {
					code = -1
				}
				lat = append(lat, time.Since(t0))
				st[code]++
			}
			mu.Lock()
			all = append(all, lat...)
			for k, v := range st {
				statuses[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	out := map[string]any{"scenario": name, "concurrency": f.concurrency, "seconds": elapsed.Seconds(), "requests": len(all),
		"ok": statuses[okStatus], "ok_per_second": float64(statuses[okStatus]) / elapsed.Seconds(), "statuses": statuses}
	for k, v := range latencies(all) {
		out[k] = v
	}
	return json.NewEncoder(stdout).Encode(out)
}

func runFreeMap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newBookingFlags("booking-freemap", stderr)
	n := f.fs.Int("n", 20, "requests, one at a time")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	pool, err := f.open(ctx)
	if err != nil {
		return err
	}
	var booths int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM booths WHERE fair_id = $1`, f.fair).Scan(&booths)
	pool.Close()
	c := f.client()
	var ds []time.Duration
	var size int
	for range *n {
		t0 := time.Now()
		st, body, err := call(ctx, c, "GET", fmt.Sprintf("%s/api/v1/fairs/%d/free-slots", f.url, f.fair), "", nil)
		if err != nil || st != 200 {
			return fmt.Errorf("free-slot map: %d %v", st, err)
		}
		ds = append(ds, time.Since(t0))
		size = len(body)
	}
	out := map[string]any{"scenario": "booking-freemap", "fair": f.fair, "booths": booths, "requests": *n, "response_bytes": size}
	for k, v := range latencies(ds) {
		out[k] = v
	}
	return json.NewEncoder(stdout).Encode(out)
}
