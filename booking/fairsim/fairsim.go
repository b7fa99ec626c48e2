// Package fairsim replays a job-fair day in compressed time through the
// booking HTTP API: officers open the booking window, seekers register and
// book, booths arrive, seekers check in at the entrance by QR code, join
// interviews or walk in at booths, booth hosts call, hand off and record
// outcomes, the sweeper marks no-shows, and the fair closes with a frozen
// report. The simulation keeps its own count of what happened; Check
// compares it with the report. The booking test runs it small; cmd/loadgen
// runs it at full size (241 booths, 2,500 seekers).
package fairsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configure a run. The server's clock must be settable (SetClock):
// the day advances in 15-minute steps as fast as the API answers.
type Options struct {
	BaseURL   string
	Client    *http.Client
	Pool      *pgxpool.Pool // to pick booths, seekers and slots
	FairID    int64
	Officer   string // bearer token of an officer of the fair (or an administrator)
	SetClock  func(time.Time)
	RoomEvent func(ctx context.Context, room, kind string, at time.Time) error // a seeker entering the interview room (signalling's job live)
	Sweep     func(ctx context.Context) error                                  // the no-show sweeper
	Evaluate  func(ctx context.Context) error                                  // alert rules; nil = none
	Booths    int                                                              // 0 = every booth of the fair
	Seekers   int                                                              // 0 = every demo seeker
	Seed      uint64
	Workers   int // concurrent API calls; 0 = 16
}

// Counts is what the simulation saw succeed.
type Counts struct {
	Registered       int64 `json:"registered"`
	Bookings         int64 `json:"bookings"`
	EmployersPresent int64 `json:"employers_present"`
	Attendees        int64 `json:"attendees"`
	BookedHeld       int64 `json:"booked_interviews_held"`
	WalkIns          int64 `json:"walk_in_interviews"`
	Interviews       int64 `json:"interviews"`
	HireIntents      int64 `json:"hire_intents"`
	HandOffs         int64 `json:"hand_offs"`
	NoShows          int64 `json:"no_shows"`
}

// Result is a run's outcome.
type Result struct {
	Counts   Counts          `json:"counts"`
	Report   json.RawMessage `json:"report"` // the frozen statistics returned by close
	CSV      []byte          `json:"-"`
	HTML     []byte          `json:"-"`
	Requests int64           `json:"requests"`
	Refused  map[string]int  `json:"refused"` // expected refusals (slot taken, already queued) by route
	Elapsed  time.Duration   `json:"elapsed"`
}

type sim struct {
	o       Options
	rng     *rand.Rand
	day     time.Time
	loc     *time.Location
	reqs    atomic.Int64
	mu      sync.Mutex
	refused map[string]int
	c       Counts
}

type booth struct {
	id, employer int64
	lanes        int
	tok          string
	present      bool
}

type seeker struct {
	id      int64
	tok     string
	qr      string
	arrive  time.Time // zero: does not come
	present bool
	booking *bookingRef
	walks   int
}

type bookingRef struct {
	id, booth int64
	start     time.Time
	joined    bool
}

// Run replays the day.
func Run(ctx context.Context, o Options) (Result, error) {
	start := time.Now()
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	s := &sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)), refused: map[string]int{}}
	var tz string
	if err := o.Pool.QueryRow(ctx, `SELECT day, time_zone FROM fairs WHERE id = $1`, o.FairID).Scan(&s.day, &tz); err != nil {
		return Result{}, fmt.Errorf("fairsim: fair %d: %w", o.FairID, err)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return Result{}, err
	}
	s.loc = loc
	s.day = time.Date(s.day.Year(), s.day.Month(), s.day.Day(), 0, 0, 0, 0, loc)
	booths, seekers, err := s.load(ctx)
	if err != nil {
		return Result{}, err
	}
	res, err := s.day1(ctx, booths, seekers)
	res.Requests, res.Refused, res.Elapsed = s.reqs.Load(), s.refused, time.Since(start)
	return res, err
}

func (s *sim) at(h, m int) time.Time {
	return s.day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func (s *sim) load(ctx context.Context) ([]*booth, []*seeker, error) {
	lim := func(n int) int {
		if n <= 0 {
			return 1 << 30
		}
		return n
	}
	rows, err := s.o.Pool.Query(ctx, `SELECT id, employer_id, lanes FROM booths WHERE fair_id = $1 ORDER BY id LIMIT $2`, s.o.FairID, lim(s.o.Booths))
	if err != nil {
		return nil, nil, err
	}
	var booths []*booth
	for rows.Next() {
		b := &booth{}
		if err := rows.Scan(&b.id, &b.employer, &b.lanes); err != nil {
			rows.Close()
			return nil, nil, err
		}
		booths = append(booths, b)
	}
	rows.Close()
	rows, err = s.o.Pool.Query(ctx, `SELECT id FROM seekers WHERE demo_seed IS NOT NULL ORDER BY id LIMIT $1`, lim(s.o.Seekers))
	if err != nil {
		return nil, nil, err
	}
	var seekers []*seeker
	for rows.Next() {
		sk := &seeker{}
		if err := rows.Scan(&sk.id); err != nil {
			rows.Close()
			return nil, nil, err
		}
		seekers = append(seekers, sk)
	}
	rows.Close()
	if len(booths) < 2 || len(seekers) == 0 {
		return nil, nil, fmt.Errorf("fairsim: fair %d has %d booths and %d demo seekers", s.o.FairID, len(booths), len(seekers))
	}
	return booths, seekers, rows.Err()
}

// each runs f for every item with Workers goroutines.
func each[T any](ctx context.Context, workers int, items []T, f func(T) error) error {
	ch := make(chan T)
	var wg sync.WaitGroup
	var first error
	var once sync.Once
	for range min(workers, max(len(items), 1)) {
		wg.Go(func() {
			for it := range ch {
				if err := f(it); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		ch <- it
	}
	close(ch)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func (s *sim) add(f *int64, n int64) { s.mu.Lock(); *f += n; s.mu.Unlock() }

func (s *sim) refuse(route string) { s.mu.Lock(); s.refused[route]++; s.mu.Unlock() }

func (s *sim) day1(ctx context.Context, booths []*booth, seekers []*seeker) (Result, error) {
	o := s.o
	o.SetClock(s.at(7, 30))
	if _, err := s.call(ctx, "PUT", fmt.Sprintf("/api/v1/fairs/%d/booking-window", o.FairID), o.Officer,
		map[string]any{"opens": s.day.Add(-24 * time.Hour), "closes": s.at(17, 0)}, 200); err != nil {
		return Result{}, err
	}
	// Sign everyone in (demo sign-in) and register the seekers.
	if err := each(ctx, o.Workers, booths, func(b *booth) (err error) {
		b.tok, err = s.signIn(ctx, "employer", b.employer)
		return err
	}); err != nil {
		return Result{}, err
	}
	for _, sk := range seekers { // random draws in a fixed order: runs repeat
		if s.rng.IntN(100) < 85 {
			sk.arrive = s.at(8, 30).Add(time.Duration(s.rng.IntN(25)) * 15 * time.Minute)
		}
	}
	if err := each(ctx, o.Workers, seekers, func(sk *seeker) error {
		tok, err := s.signIn(ctx, "seeker", sk.id)
		if err != nil {
			return err
		}
		sk.tok = tok
		r, err := s.call(ctx, "POST", fmt.Sprintf("/api/v1/fairs/%d/registrations", o.FairID), tok, nil, 201)
		if err != nil {
			return err
		}
		sk.qr, _ = r["qr_code"].(string)
		s.add(&s.c.Registered, 1)
		return nil
	}); err != nil {
		return Result{}, err
	}
	// Half the seekers book one interview after their arrival time.
	slots, err := s.slots(ctx, booths)
	if err != nil {
		return Result{}, err
	}
	type plan struct {
		sk    *seeker
		tries []slotRef
	}
	var plans []plan
	for _, sk := range seekers {
		if s.rng.IntN(100) >= 50 {
			continue
		}
		p := plan{sk: sk}
		for range 3 {
			p.tries = append(p.tries, slots[s.rng.IntN(len(slots))])
		}
		plans = append(plans, p)
	}
	if err := each(ctx, o.Workers, plans, func(p plan) error {
		for _, sl := range p.tries {
			r, st, err := s.try(ctx, "POST", "/api/v1/bookings", p.sk.tok, map[string]any{"slot_id": sl.id})
			if err != nil {
				return err
			}
			if st == 201 {
				p.sk.booking = &bookingRef{id: int64(r["id"].(float64)), booth: sl.booth, start: sl.start}
				s.add(&s.c.Bookings, 1)
				return nil
			}
			if st != 409 {
				return fmt.Errorf("book: %d %v", st, r)
			}
			s.refuse("POST /bookings")
		}
		return nil
	}); err != nil {
		return Result{}, err
	}
	// Booths arrive at 08:30 (19 in 20).
	o.SetClock(s.at(8, 30))
	var present []*booth
	for _, b := range booths {
		b.present = s.rng.IntN(20) != 0
		if b.present {
			present = append(present, b)
		}
	}
	if err := each(ctx, o.Workers, present, func(b *booth) error {
		_, err := s.call(ctx, "POST", fmt.Sprintf("/api/v1/booths/%d/arrive", b.id), b.tok, nil, 200)
		if err == nil {
			s.add(&s.c.EmployersPresent, 1)
		}
		return err
	}); err != nil {
		return Result{}, err
	}
	byID := map[int64]*booth{}
	for _, b := range booths {
		byID[b.id] = b
	}
	for t := s.at(8, 30); !t.After(s.at(17, 0)); t = t.Add(15 * time.Minute) {
		if err := s.tick(ctx, t, present, seekers, byID); err != nil {
			return Result{}, fmt.Errorf("fairsim: at %s: %w", t.Format("15:04"), err)
		}
	}
	o.SetClock(s.at(17, 30))
	if o.Sweep != nil {
		if err := o.Sweep(ctx); err != nil {
			return Result{}, err
		}
	}
	var noShows int64
	if err := o.Pool.QueryRow(ctx, `SELECT count(*) FROM outcomes o JOIN bookings bk ON bk.id = o.booking_id JOIN booths b ON b.id = bk.booth_id
		WHERE b.fair_id = $1 AND o.outcome = 'no_show'`, o.FairID).Scan(&noShows); err != nil {
		return Result{}, err
	}
	s.c.NoShows = noShows
	s.c.Interviews = s.c.BookedHeld + s.c.WalkIns
	report, err := s.raw(ctx, "POST", fmt.Sprintf("/api/v1/fairs/%d/close", o.FairID), o.Officer, 200)
	if err != nil {
		return Result{}, err
	}
	res := Result{Counts: s.c, Report: report}
	if res.CSV, err = s.raw(ctx, "GET", fmt.Sprintf("/api/v1/fairs/%d/report.csv", o.FairID), o.Officer, 200); err != nil {
		return res, err
	}
	if res.HTML, err = s.raw(ctx, "GET", fmt.Sprintf("/api/v1/fairs/%d/report.html", o.FairID), o.Officer, 200); err != nil {
		return res, err
	}
	return res, nil
}

type slotRef struct {
	id, booth int64
	start     time.Time
}

func (s *sim) slots(ctx context.Context, booths []*booth) ([]slotRef, error) {
	ids := make([]int64, len(booths))
	for i, b := range booths {
		ids[i] = b.id
	}
	rows, err := s.o.Pool.Query(ctx, `SELECT id, booth_id, lower(during) FROM slots WHERE booth_id = ANY($1) AND open ORDER BY id`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []slotRef
	for rows.Next() {
		var sl slotRef
		if err := rows.Scan(&sl.id, &sl.booth, &sl.start); err != nil {
			return nil, err
		}
		out = append(out, sl)
	}
	return out, rows.Err()
}

// tick is one 15-minute step of the day.
func (s *sim) tick(ctx context.Context, t time.Time, present []*booth, seekers []*seeker, byID map[int64]*booth) error {
	o := s.o
	o.SetClock(t)
	// Random draws for this step, in a fixed order.
	type walk struct {
		sk *seeker
		to *booth
	}
	var arrivals []*seeker
	var walks []walk
	shows := map[*seeker]bool{}
	for _, sk := range seekers {
		if !sk.present && !sk.arrive.IsZero() && !sk.arrive.After(t) {
			arrivals = append(arrivals, sk)
		}
		if sk.booking != nil && sk.booking.start.Equal(t) {
			shows[sk] = s.rng.IntN(10) != 0
		}
		if (sk.present || (!sk.arrive.IsZero() && !sk.arrive.After(t))) && sk.booking == nil && sk.walks < 2 && s.rng.IntN(100) < 20 {
			walks = append(walks, walk{sk, present[s.rng.IntN(len(present))]})
			sk.walks++
		}
	}
	outcomes := make(map[*booth][]int, len(present))
	for _, b := range present {
		for range b.lanes {
			outcomes[b] = append(outcomes[b], s.rng.IntN(100))
		}
	}
	// Entrance.
	if err := each(ctx, o.Workers, arrivals, func(sk *seeker) error {
		if _, err := s.call(ctx, "POST", fmt.Sprintf("/api/v1/fairs/%d/checkin", o.FairID), o.Officer, map[string]any{"qr_code": sk.qr}, 200); err != nil {
			return err
		}
		sk.present = true
		s.add(&s.c.Attendees, 1)
		return nil
	}); err != nil {
		return err
	}
	// Booked interviews starting now: present seekers who show enter the room.
	var starting []*seeker
	for sk, show := range shows {
		if show && sk.present {
			starting = append(starting, sk)
		}
	}
	if err := each(ctx, o.Workers, starting, func(sk *seeker) error {
		if err := o.RoomEvent(ctx, fmt.Sprintf("interview-%d", sk.booking.id), "seeker_joined", t); err != nil {
			return err
		}
		sk.booking.joined = true
		s.add(&s.c.BookedHeld, 1)
		return nil
	}); err != nil {
		return err
	}
	// Interviews that started a step ago get their outcome.
	var ended []*seeker
	for _, sk := range seekers {
		if sk.booking != nil && sk.booking.joined && sk.booking.start.Equal(t.Add(-15*time.Minute)) {
			ended = append(ended, sk)
		}
	}
	if err := each(ctx, o.Workers, ended, func(sk *seeker) error {
		out := pickOutcome(int(sk.id*7919) % 100)
		if _, err := s.call(ctx, "POST", fmt.Sprintf("/api/v1/bookings/%d/outcome", sk.booking.id), byID[sk.booking.booth].tok,
			map[string]any{"outcome": out}, 200); err != nil {
			return err
		}
		if out == "hire_intent" {
			s.add(&s.c.HireIntents, 1)
		}
		return nil
	}); err != nil {
		return err
	}
	// Walk-ins scan their code at a booth.
	if err := each(ctx, o.Workers, walks, func(w walk) error {
		if !w.sk.present {
			return nil
		}
		r, st, err := s.try(ctx, "POST", fmt.Sprintf("/api/v1/booths/%d/checkin", w.to.id), w.to.tok, map[string]any{"qr_code": w.sk.qr})
		if err != nil {
			return err
		}
		if st == 409 {
			s.refuse("POST /booths/{id}/checkin")
			return nil
		}
		if st != 201 {
			return fmt.Errorf("booth check-in: %d %v", st, r)
		}
		return nil
	}); err != nil {
		return err
	}
	// Every present booth calls a walk-in on each lane, records the outcome,
	// and now and then hands the seeker on to another booth.
	if err := each(ctx, o.Workers, present, func(b *booth) error {
		for lane := 1; lane <= b.lanes; lane++ {
			r, err := s.call(ctx, "POST", fmt.Sprintf("/api/v1/booths/%d/queue/next", b.id), b.tok, map[string]any{"lane": lane}, 200)
			if err != nil {
				return err
			}
			entry, _ := r["entry"].(map[string]any)
			if entry == nil {
				break
			}
			id := int64(entry["id"].(float64))
			s.add(&s.c.WalkIns, 1)
			draw := outcomes[b][lane-1]
			out := pickOutcome(draw)
			if _, err := s.call(ctx, "POST", fmt.Sprintf("/api/v1/queue-entries/%d/outcome", id), b.tok, map[string]any{"outcome": out}, 200); err != nil {
				return err
			}
			if out == "hire_intent" {
				s.add(&s.c.HireIntents, 1)
			}
			if draw%10 == 0 && out == "not_suitable" {
				to := present[(draw+int(b.id))%len(present)]
				if to.id != b.id {
					if _, err := s.call(ctx, "POST", fmt.Sprintf("/api/v1/queue-entries/%d/handoff", id), b.tok, map[string]any{"to_booth_id": to.id}, 201); err != nil {
						return err
					}
					s.add(&s.c.HandOffs, 1)
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if o.Sweep != nil {
		if err := o.Sweep(ctx); err != nil {
			return err
		}
	}
	if o.Evaluate != nil {
		if err := o.Evaluate(ctx); err != nil {
			return err
		}
	}
	return nil
}

// pickOutcome: 15% intend to hire, 25% a second round, the rest not suitable.
func pickOutcome(draw int) string {
	switch {
	case draw < 15:
		return "hire_intent"
	case draw < 40:
		return "second_round"
	default:
		return "not_suitable"
	}
}

func (s *sim) signIn(ctx context.Context, role string, id int64) (string, error) {
	r, err := s.call(ctx, "POST", "/api/v1/session/demo", "", map[string]any{"role": role, "id": id}, 200)
	if err != nil {
		return "", err
	}
	tok, _ := r["token"].(string)
	return tok, nil
}

// call expects status want and decodes the JSON object answered.
func (s *sim) call(ctx context.Context, method, path, token string, body any, want int) (map[string]any, error) {
	r, st, err := s.try(ctx, method, path, token, body)
	if err == nil && st != want {
		err = fmt.Errorf("%s %s: %d %v", method, path, st, r)
	}
	return r, err
}

func (s *sim) try(ctx context.Context, method, path, token string, body any) (map[string]any, int, error) {
	raw, st, err := s.do(ctx, method, path, token, body)
	if err != nil {
		return nil, 0, err
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, st, fmt.Errorf("%s %s: %d, not JSON: %.200s", method, path, st, raw)
		}
	}
	return m, st, nil
}

func (s *sim) raw(ctx context.Context, method, path, token string, want int) ([]byte, error) {
	raw, st, err := s.do(ctx, method, path, token, nil)
	if err == nil && st != want {
		err = fmt.Errorf("%s %s: %d %.300s", method, path, st, raw)
	}
	return raw, err
}

func (s *sim) do(ctx context.Context, method, path, token string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.o.BaseURL+path, rd)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	s.reqs.Add(1)
	res, err := s.o.Client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return raw, res.StatusCode, err
}

type row struct {
	Key              string `json:"key"`
	EmployersPresent int64  `json:"employers_present"`
	Posts            int64  `json:"posts"`
	Attendees        int64  `json:"attendees"`
	Interviews       int64  `json:"interviews"`
	HireIntents      int64  `json:"hire_intents"`
}

// Check verifies that the frozen report agrees with what the simulation
// did, that counties and sectors add up to the totals, and that the CSV
// and the printable page carry the same figures without external assets.
func Check(res Result) error {
	var st struct {
		Frozen     bool  `json:"frozen"`
		Registered int64 `json:"registered"`
		Bookings   int64 `json:"bookings"`
		NoShows    int64 `json:"no_shows"`
		Totals     row   `json:"totals"`
		ByCounty   []row `json:"by_county"`
		BySector   []row `json:"by_sector"`
	}
	if err := json.Unmarshal(res.Report, &st); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	c, t := res.Counts, st.Totals
	var errs []string
	eq := func(what string, got, want int64) {
		if got != want {
			errs = append(errs, fmt.Sprintf("%s: report %d, simulation %d", what, got, want))
		}
	}
	eq("frozen", b2i(st.Frozen), 1)
	eq("registered", st.Registered, c.Registered)
	eq("bookings", st.Bookings, c.Bookings)
	eq("no-shows", st.NoShows, c.NoShows)
	eq("employers present", t.EmployersPresent, c.EmployersPresent)
	eq("attendees", t.Attendees, c.Attendees)
	eq("interviews", t.Interviews, c.Interviews)
	eq("hire intents", t.HireIntents, c.HireIntents)
	eq("no-shows + held interviews <= bookings", b2i(c.NoShows+c.BookedHeld <= c.Bookings), 1)
	var county, sector row
	for _, r := range st.ByCounty {
		county = addRow(county, r)
	}
	for _, r := range st.BySector {
		sector = addRow(sector, r)
	}
	for _, x := range []struct {
		name     string
		got, tot row
		att      bool
	}{{"counties", county, t, true}, {"sectors", sector, t, false}} {
		eq(x.name+" employers", x.got.EmployersPresent, x.tot.EmployersPresent)
		eq(x.name+" posts", x.got.Posts, x.tot.Posts)
		eq(x.name+" interviews", x.got.Interviews, x.tot.Interviews)
		eq(x.name+" hire intents", x.got.HireIntents, x.tot.HireIntents)
		if x.att {
			eq(x.name+" attendees", x.got.Attendees, x.tot.Attendees)
		} else {
			eq(x.name+" attendees (none by sector)", x.got.Attendees, 0)
		}
	}
	lines := bytes.Split(bytes.TrimSpace(bytes.TrimPrefix(res.CSV, []byte("\ufeff"))), []byte("\n"))
	eq("CSV lines", int64(len(lines)), int64(2+len(st.ByCounty)+len(st.BySector)))
	if len(lines) > 1 {
		want := fmt.Sprintf("total,total,%d,%d,%d,%d,%d", t.EmployersPresent, t.Posts, t.Attendees, t.Interviews, t.HireIntents)
		if string(bytes.TrimSpace(lines[1])) != want {
			errs = append(errs, fmt.Sprintf("CSV total line %q, want %q", lines[1], want))
		}
	}
	if !bytes.Contains(res.HTML, []byte("<svg")) || bytes.Contains(res.HTML, []byte("src=")) || bytes.Contains(res.HTML, []byte("<link")) {
		errs = append(errs, "the printable page lacks its charts or loads external assets")
	}
	if !bytes.Contains(res.HTML, []byte(fmt.Sprintf("<b>%d</b>", t.Interviews))) {
		errs = append(errs, "the printable page does not show the interviews held")
	}
	if len(errs) > 0 {
		return fmt.Errorf("fairsim: the report does not add up:\n  %s", joinLines(errs))
	}
	return nil
}

func addRow(a, b row) row {
	a.EmployersPresent += b.EmployersPresent
	a.Posts += b.Posts
	a.Attendees += b.Attendees
	a.Interviews += b.Interviews
	a.HireIntents += b.HireIntents
	return a
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func joinLines(xs []string) string {
	var buf bytes.Buffer
	for i, x := range xs {
		if i > 0 {
			buf.WriteString("\n  ")
		}
		buf.WriteString(x)
	}
	return buf.String()
}
