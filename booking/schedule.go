package booking

// The fair-day auto-scheduler wired to PostgreSQL: load a fair's registered
// seekers, their best matches among the fair's employers, the booths' lanes
// and slots and every existing booking (fixed: never moved), solve with
// matching/schedule, and write the new interviews as ordinary bookings in
// one transaction, so the exclusion constraints recheck every row and a
// conflict writes nothing. A PostgreSQL advisory lock keeps one run per
// fair across nodes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"jobhall/internal/apperr"
	"jobhall/matching"
	"jobhall/matching/schedule"
)

// KindInterviewScheduled is the employment-log kind of an auto-scheduled interview.
const KindInterviewScheduled = "interview_scheduled"

// ScheduleOptions configure one run.
type ScheduleOptions struct {
	DryRun       bool // solve and write inside a transaction that is rolled back
	MaxPerSeeker int  // interviews per seeker, existing ones included; 0 = 3
	Actor        string
	Now          func() time.Time // nil = time.Now
	Logger       *slog.Logger
	Progress     func(phase string, done, total int) // called from the run's goroutine
}

// ScheduleOutcome is what a run did.
type ScheduleOutcome struct {
	RunID      int64            `json:"run_id"`
	FairID     int64            `json:"fair_id"`
	DryRun     bool             `json:"dry_run"`
	Seekers    int              `json:"seekers"`     // registered seekers considered
	NotVisible int              `json:"not_visible"` // registered but not consenting to be shown to employers: kept, given nothing new
	NoShows    int              `json:"no_shows"`    // marked no-show at this fair and not checked in: given nothing new
	Fixed      int              `json:"fixed"`       // existing bookings kept as they are
	Written    int              `json:"written"`     // new bookings committed (0 on a dry run)
	Report     schedule.Report  `json:"report"`
	Millis     map[string]int64 `json:"millis"` // load, choices, solve, write
}

// ScheduleLockKey is the PostgreSQL advisory lock a fair's scheduler run holds.
func ScheduleLockKey(fairID int64) int64 { return 0x7363_68<<40 | fairID&(1<<40-1) }

// lockFair takes the fair's scheduler lock on a connection of its own,
// held until unlockFair; Conflict if another run (any node) holds it.
func lockFair(ctx context.Context, pool *pgxpool.Pool, fairID int64) (*pgxpool.Conn, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "database unavailable")
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, ScheduleLockKey(fairID)).Scan(&ok); err != nil {
		conn.Release()
		return nil, apperr.Wrap(err, apperr.Unavailable, "database unavailable")
	}
	if !ok {
		conn.Release()
		return nil, apperr.New(apperr.Conflict, "这个招聘会正在排程 / fair %d is already being scheduled; wait for that run to finish", fairID)
	}
	return conn, nil
}

func unlockFair(conn *pgxpool.Conn, fairID int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, ScheduleLockKey(fairID)); err != nil {
		conn.Conn().Close(ctx) // a closed session drops its locks
	}
	conn.Release()
}

// checkFairSchedulable gives the clear 4xx of a fair that cannot be scheduled.
func checkFairSchedulable(ctx context.Context, q querier, fairID int64) error {
	var status string
	var booths, seekers int64
	err := q.QueryRow(ctx, `SELECT f.status, (SELECT count(*) FROM booths b WHERE b.fair_id = f.id),
			(SELECT count(*) FROM fair_attendees a WHERE a.fair_id = f.id) + (SELECT count(*) FROM (SELECT 1 FROM bookings bk JOIN booths b ON b.id = bk.booth_id
				WHERE b.fair_id = f.id AND bk.status IN ('held', 'booked') LIMIT 1) x)
		FROM fairs f WHERE f.id = $1`, fairID).Scan(&status, &booths, &seekers)
	switch {
	case isNoRows(err):
		return apperr.New(apperr.NotFound, "没有这个招聘会 / no fair with id %d", fairID)
	case err != nil:
		return internal(err, "look up fair")
	case status != "published":
		return apperr.New(apperr.Conflict, "招聘会未在进行 / fair %d is %s; only a published fair can be scheduled", fairID, status)
	case booths == 0:
		return apperr.New(apperr.Invalid, "招聘会还没有展位 / fair %d has no booths to schedule interviews at", fairID)
	case seekers == 0:
		return apperr.New(apperr.Invalid, "还没有求职者报名这个招聘会 / nobody has registered for fair %d yet", fairID)
	}
	return nil
}

// ScheduleFair runs the auto-scheduler for fairID from start to end (the
// CLI): lock, load, solve, write. A run row records it like an API run.
func ScheduleFair(ctx context.Context, pool *pgxpool.Pool, fairID int64, o ScheduleOptions) (ScheduleOutcome, error) {
	o = o.withDefaults()
	if err := checkFairSchedulable(ctx, pool, fairID); err != nil {
		return ScheduleOutcome{}, err
	}
	conn, err := lockFair(ctx, pool, fairID)
	if err != nil {
		return ScheduleOutcome{}, err
	}
	defer unlockFair(conn, fairID)
	runID, err := startRun(ctx, conn, fairID, o)
	if err != nil {
		return ScheduleOutcome{}, err
	}
	return runLocked(ctx, pool, conn, fairID, runID, o)
}

func (o ScheduleOptions) withDefaults() ScheduleOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Actor == "" {
		o.Actor = "system"
	}
	if o.MaxPerSeeker == 0 {
		o.MaxPerSeeker = 3
	}
	return o
}

// startRun records the run; runs of this fair left 'running' by a crashed
// process are closed first (we hold the fair's lock, so none is alive).
func startRun(ctx context.Context, conn *pgxpool.Conn, fairID int64, o ScheduleOptions) (int64, error) {
	now := o.Now()
	if _, err := conn.Exec(ctx, `UPDATE schedule_runs SET status = 'failed', finished_at = $2,
			error = '{"code":"unavailable","message":"运行中断 / the run was interrupted"}' WHERE fair_id = $1 AND status = 'running'`, fairID, now); err != nil {
		return 0, internal(err, "record schedule run")
	}
	var id int64
	if err := conn.QueryRow(ctx, `INSERT INTO schedule_runs (fair_id, dry_run, started_by, started_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		fairID, o.DryRun, o.Actor, now).Scan(&id); err != nil {
		return 0, internal(err, "record schedule run")
	}
	return id, nil
}

// runLocked does the run under the fair's lock and records its end.
func runLocked(ctx context.Context, pool *pgxpool.Pool, conn *pgxpool.Conn, fairID, runID int64, o ScheduleOptions) (ScheduleOutcome, error) {
	var mu sync.Mutex
	last := time.Time{}
	progress := func(phase string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if o.Progress != nil {
			o.Progress(phase, done, total)
		}
		// Persisted at most every 300 ms so any node can answer a poll.
		if time.Since(last) < 300*time.Millisecond && done != total {
			return
		}
		last = time.Now()
		_, _ = pool.Exec(ctx, `UPDATE schedule_runs SET phase = $2, done = $3, total = $4 WHERE id = $1`, runID, phase, done, total)
	}
	out, err := solveAndWrite(ctx, conn, fairID, runID, o, progress)
	out.RunID, out.FairID, out.DryRun = runID, fairID, o.DryRun
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		e := apperr.As(err)
		if e.Code == apperr.Internal {
			o.Logger.ErrorContext(ctx, "booking: schedule run failed", "fair", fairID, "run", runID, "err", err)
		}
		body, _ := json.Marshal(map[string]any{"code": e.Code, "message": e.Message, "details": e.Details})
		_, _ = pool.Exec(fctx, `UPDATE schedule_runs SET status = 'failed', finished_at = $2, error = $3 WHERE id = $1`, runID, o.Now(), body)
		return out, err
	}
	rep := out
	if len(rep.Report.Unserved) > 200 { // the full list can be 25,000 rows: keep a sample
		rep.Report.Unserved = rep.Report.Unserved[:200]
	}
	body, _ := json.Marshal(rep)
	if _, err := pool.Exec(fctx, `UPDATE schedule_runs SET status = 'done', finished_at = $2, report = $3, interviews = $4, phase = 'done', done = total
		WHERE id = $1`, runID, o.Now(), body, out.Written); err != nil {
		return out, internal(err, "record schedule run")
	}
	return out, nil
}

// fairLoad is what the scheduler reads about a fair.
type fairLoad struct {
	day, end time.Time // the fair day in its zone
	mode     string
	booths   map[int64]int64 // booth -> employer
	empBooth map[int64]int64 // employer -> booth
}

func solveAndWrite(ctx context.Context, conn *pgxpool.Conn, fairID, runID int64, o ScheduleOptions,
	progress func(string, int, int)) (ScheduleOutcome, error) {
	out := ScheduleOutcome{Millis: map[string]int64{}}
	t0 := time.Now()
	lap := func(name string) { out.Millis[name] = time.Since(t0).Milliseconds(); t0 = time.Now() }
	now := o.Now()
	progress("load", 0, 1)

	var fl fairLoad
	var tz string
	var day time.Time
	err := conn.QueryRow(ctx, `SELECT day, time_zone, mode FROM fairs WHERE id = $1`, fairID).Scan(&day, &tz, &fl.mode)
	if isNoRows(err) {
		return out, apperr.New(apperr.NotFound, "没有这个招聘会 / no fair with id %d", fairID)
	}
	if err != nil {
		return out, internal(err, "load fair")
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = shanghai
	}
	fl.day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	fl.end = fl.day.AddDate(0, 0, 1)

	// Booths and their slots of the fair day.
	rows, err := conn.Query(ctx, `SELECT id, employer_id FROM booths WHERE fair_id = $1 ORDER BY id`, fairID)
	if err != nil {
		return out, internal(err, "load booths")
	}
	fl.booths, fl.empBooth = map[int64]int64{}, map[int64]int64{}
	var bid, emp int64
	if _, err := pgx.ForEachRow(rows, []any{&bid, &emp}, func() error { fl.booths[bid], fl.empBooth[emp] = emp, bid; return nil }); err != nil {
		return out, internal(err, "load booths")
	}
	if len(fl.booths) == 0 {
		return out, apperr.New(apperr.Invalid, "招聘会还没有展位 / fair %d has no booths to schedule interviews at", fairID)
	}
	type slotRow struct {
		id, booth  int64
		lane       int16
		start, end time.Time
		open       bool
	}
	rows, err = conn.Query(ctx, `SELECT s.id, s.booth_id, s.lane, lower(s.during), upper(s.during), s.open FROM slots s JOIN booths b ON b.id = s.booth_id
		WHERE b.fair_id = $1 AND s.during && tstzrange($2, $3) ORDER BY s.booth_id, s.lane, lower(s.during), s.id`, fairID, fl.day, fl.end)
	if err != nil {
		return out, internal(err, "load slots")
	}
	var slots []slotRow
	var sr slotRow
	if _, err := pgx.ForEachRow(rows, []any{&sr.id, &sr.booth, &sr.lane, &sr.start, &sr.end, &sr.open}, func() error {
		slots = append(slots, sr)
		return nil
	}); err != nil {
		return out, internal(err, "load slots")
	}

	// Every held or booked interview at the fair that day is fixed.
	type bookingRow struct {
		id, group, slot, booth, seeker, job int64
		lane                                int16
		start, end                          time.Time
	}
	rows, err = conn.Query(ctx, `SELECT bk.id, bk.group_id, bk.slot_id, bk.booth_id, bk.lane, bk.seeker_id, lower(bk.during), upper(bk.during),
			coalesce(bk.job_post_id, 0)
		FROM bookings bk JOIN booths b ON b.id = bk.booth_id
		WHERE b.fair_id = $1 AND bk.status IN ('held', 'booked') AND bk.during && tstzrange($2, $3)`, fairID, fl.day, fl.end)
	if err != nil {
		return out, internal(err, "load bookings")
	}
	var books []bookingRow
	var br bookingRow
	if _, err := pgx.ForEachRow(rows, []any{&br.id, &br.group, &br.slot, &br.booth, &br.lane, &br.seeker, &br.start, &br.end, &br.job}, func() error {
		books = append(books, br)
		return nil
	}); err != nil {
		return out, internal(err, "load bookings")
	}

	// Registered seekers: fair registrations and anyone holding an interview
	// there. Check-in time opens an on-site seeker's window.
	rows, err = conn.Query(ctx, `WITH reg AS (
			SELECT seeker_id, max(checked_in_at) AS checked_in_at FROM (
				SELECT seeker_id, checked_in_at FROM fair_attendees WHERE fair_id = $1
				UNION ALL SELECT bk.seeker_id, NULL FROM bookings bk JOIN booths b ON b.id = bk.booth_id
					WHERE b.fair_id = $1 AND bk.status IN ('held', 'booked')) x
			GROUP BY seeker_id)
		SELECT `+seekerCols+`, reg.checked_in_at, EXISTS (SELECT 1 FROM outcomes oc JOIN bookings bk ON bk.id = oc.booking_id
				JOIN booths b ON b.id = bk.booth_id WHERE b.fair_id = $1 AND bk.seeker_id = s.id AND oc.outcome = 'no_show')
		FROM reg JOIN seekers s ON s.id = reg.seeker_id ORDER BY s.id`, fairID)
	if err != nil {
		return out, internal(err, "load registered seekers")
	}
	type regRow struct {
		sk        matching.Seeker
		checkedIn *time.Time
		noShow    bool
	}
	var regs []regRow
	var regIDs []int64
	// Job posts first so seekers' desired titles map to occupation codes.
	emps := make([]int64, 0, len(fl.empBooth))
	for e := range fl.empBooth {
		emps = append(emps, e)
	}
	slices.Sort(emps)
	rowsDone := func() error {
		for rows.Next() {
			var r regRow
			var county, edu string
			var exp int16
			var sal int32
			if err := rows.Scan(&r.sk.ID, &county, &edu, &r.sk.Skills, &exp, &r.sk.DesiredTitle, &sal, &r.sk.Visible, &r.checkedIn, &r.noShow); err != nil {
				return err
			}
			r.sk.Location, r.sk.Education, r.sk.ExperienceYears, r.sk.SalaryMin = countyCentres[county], matching.ParseEducation(edu), int(exp), int(sal)
			regs = append(regs, r)
			regIDs = append(regIDs, r.sk.ID)
		}
		return rows.Err()
	}
	if err := rowsDone(); err != nil {
		rows.Close()
		return out, internal(err, "load registered seekers")
	}
	rows.Close()
	if len(regs) == 0 {
		return out, apperr.New(apperr.Invalid, "还没有求职者报名这个招聘会 / nobody has registered for fair %d yet", fairID)
	}
	jobs, err := loadJobs(ctx, conn, now, emps)
	if err != nil {
		return out, internal(err, "load job posts")
	}
	occ := titleOccupations(jobs)

	// The same seekers' interviews elsewhere that day block their time.
	rows, err = conn.Query(ctx, `SELECT bk.id, bk.seeker_id, lower(bk.during), upper(bk.during) FROM bookings bk JOIN booths b ON b.id = bk.booth_id
		WHERE bk.seeker_id = ANY($1) AND b.fair_id <> $2 AND bk.status IN ('held', 'booked') AND bk.id = bk.group_id
			AND bk.during && tstzrange($3, $4)`, regIDs, fairID, fl.day, fl.end)
	if err != nil {
		return out, internal(err, "load other bookings")
	}
	var external []bookingRow
	if _, err := pgx.ForEachRow(rows, []any{&br.id, &br.seeker, &br.start, &br.end}, func() error {
		external = append(external, br)
		return nil
	}); err != nil {
		return out, internal(err, "load other bookings")
	}
	lap("load")

	// The problem: lanes hold open slots and slots of kept bookings; a panel's
	// extra lanes are simply left out (they are taken anyway).
	rep := map[int64]bool{} // slots of group-leading bookings
	taken := map[int64]bool{}
	var p schedule.Problem
	for _, b := range books {
		taken[b.slot] = true
		if b.id == b.group {
			rep[b.slot] = true
			p.Fixed = append(p.Fixed, schedule.Interview{SeekerID: b.seeker, BoothID: b.booth, Lane: int(b.lane), SlotID: b.slot,
				Start: b.start, End: b.end, JobID: b.job})
		}
	}
	out.Fixed = len(p.Fixed)
	boothIdx := map[int64]int{}
	for i := 0; i < len(slots); {
		k := i
		for k < len(slots) && slots[k].booth == slots[i].booth {
			k++
		}
		b := schedule.Booth{ID: slots[i].booth}
		for l := i; l < k; {
			m := l
			for m < k && slots[m].lane == slots[l].lane {
				m++
			}
			lane := schedule.Lane{Lane: int(slots[l].lane)}
			for _, s := range slots[l:m] {
				if !rep[s.id] && (taken[s.id] || !s.open) {
					continue
				}
				if n := len(lane.Slots); n > 0 && s.start.Before(lane.Slots[n-1].End) { // overlapping grids: keep one
					if !rep[s.id] {
						continue
					}
					lane.Slots = lane.Slots[:n-1]
				}
				lane.Slots = append(lane.Slots, schedule.Slot{ID: s.id, Start: s.start, End: s.end})
			}
			if len(lane.Slots) > 0 {
				b.Lanes = append(b.Lanes, lane)
			}
			l = m
		}
		if len(b.Lanes) > 0 {
			boothIdx[b.ID] = len(p.Booths)
			p.Booths = append(p.Booths, b)
		}
		i = k
	}
	if len(p.Booths) == 0 {
		return out, apperr.New(apperr.Invalid, "招聘会当天没有可预约的时段 / fair %d has no open slots on its day", fairID)
	}
	// Other fairs' interviews: one lane each on a pseudo booth no one chooses.
	if len(external) > 0 {
		pseudo := schedule.Booth{ID: -1}
		for i, x := range external {
			pseudo.Lanes = append(pseudo.Lanes, schedule.Lane{Lane: i + 1, Slots: []schedule.Slot{{ID: -x.id, Start: x.start, End: x.end}}})
			p.Fixed = append(p.Fixed, schedule.Interview{SeekerID: x.seeker, BoothID: -1, Lane: i + 1, SlotID: -x.id, Start: x.start, End: x.end})
		}
		p.Booths = append(p.Booths, pseudo)
	}
	p.NotBefore = now

	// Choices: each seeker's best job per fair employer, from an index of
	// just these seekers and the fair's employers' posts.
	var cand []matching.Seeker
	mode := schedule.OnSite
	if fl.mode == "online" {
		mode = schedule.Remote
	}
	seekers := make([]schedule.Seeker, 0, len(regs))
	for _, r := range regs {
		switch {
		case !r.sk.Visible:
			out.NotVisible++
			continue
		case r.noShow && r.checkedIn == nil:
			out.NoShows++
			continue
		}
		if c := occ[r.sk.DesiredTitle]; c != "" {
			r.sk.OccupationCodes = []string{c}
		}
		cand = append(cand, r.sk)
		sk := schedule.Seeker{ID: r.sk.ID, Mode: mode}
		if r.checkedIn != nil && r.checkedIn.After(fl.day) && r.checkedIn.Before(fl.end) {
			sk.Arrive = *r.checkedIn
		}
		seekers = append(seekers, sk)
	}
	out.Seekers = len(regs)
	ix, err := matching.NewIndex(cand, jobs, matching.Options{Now: o.Now, CandidateBudget: fairChoiceBudget})
	if err != nil {
		return out, internal(err, "build fair index")
	}
	empSet := make(map[int64]bool, len(emps))
	for _, e := range emps {
		empSet[e] = true
	}
	// Seekers already at the cap need no choices (a re-solve late in the day).
	fixedOf := map[int64]int{}
	for _, iv := range p.Fixed {
		fixedOf[iv.SeekerID]++
	}
	var open []int
	for i := range seekers {
		if fixedOf[seekers[i].ID] < o.MaxPerSeeker {
			open = append(open, i)
		}
	}
	if err := fairChoices(ctx, ix, seekers, open, empSet, fl.empBooth, boothIdx, progress); err != nil {
		return out, err
	}
	p.Seekers = seekers
	lap("choices")

	res, err := schedule.Solve(ctx, p, schedule.Options{MaxPerSeeker: o.MaxPerSeeker,
		Progress: func(pr schedule.Progress) { progress(pr.Phase, pr.Done, pr.Total) }})
	if err != nil {
		return out, err
	}
	out.Report = res.Report
	lap("solve")

	progress("write", 0, len(res.Interviews))
	n, err := writeInterviews(ctx, conn, res.Interviews, runID, now, o.DryRun)
	if err != nil {
		return out, err
	}
	if !o.DryRun {
		out.Written = n
	}
	progress("write", len(res.Interviews), len(res.Interviews))
	lap("write")
	return out, nil
}

// fairChoiceBudget bounds the jobs scored per seeker when picking booths
// (the feed's is 40,000). At the scale fair 3,000 ran 3.4 times faster but
// left seekers with fewer eligible employers: 9% fewer interviews.
const fairChoiceBudget = 10_000

// fairChoices fills each seeker's Choices with the booths of its ten best
// fair employers, on all cores (the index is safe for concurrent reads).
func fairChoices(ctx context.Context, ix *matching.Index, seekers []schedule.Seeker, open []int, emps map[int64]bool, empBooth map[int64]int64,
	boothIdx map[int64]int, progress func(string, int, int)) error {
	workers := max(1, runtime.GOMAXPROCS(0))
	var next, done int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				if firstErr != nil || int(i) >= len(open) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				mu.Unlock()
				sk := &seekers[open[i]]
				pg, err := ix.TopJobs(sk.ID, matching.Query{K: 10, Employers: emps, OnePerEmployer: true})
				if err == nil {
					for _, m := range pg.Items {
						if b, ok := empBooth[m.EmployerID]; ok {
							if _, has := boothIdx[b]; has {
								sk.Choices = append(sk.Choices, schedule.Choice{BoothID: b, Score: min(1, max(0, m.Score)), JobID: m.JobID})
							}
						}
					}
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				done++
				d := done
				mu.Unlock()
				if d%500 == 0 || int(d) == len(open) {
					progress("choices", int(d), len(open))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return internal(firstErr, "match seekers to booths")
	}
	if err := ctx.Err(); err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "scheduling was cancelled")
	}
	return nil
}

// writeInterviewsSQL books every new interview, its log entry, reminders
// and booking.created webhooks in one statement. $1 slots, $2 seekers,
// $3 jobs, $4 now, $5 run.
var writeInterviewsSQL = `WITH x AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS x(slot_id, seeker_id, job_id)),
ins AS (
	INSERT INTO bookings (slot_id, booth_id, lane, seeker_id, during, status, kind, origin, job_post_id, confirmed_at, schedule_run_id)
	SELECT s.id, s.booth_id, s.lane, x.seeker_id, s.during, 'booked', 'one_to_one', 'schedule', nullif(x.job_id, 0), $4, $5
	FROM x JOIN slots s ON s.id = x.slot_id
	RETURNING id, seeker_id, booth_id, lane, slot_id, during, job_post_id
),
info AS (SELECT i.*, b.employer_id, e.name AS employer FROM ins i JOIN booths b ON b.id = i.booth_id JOIN employers e ON e.id = b.employer_id),
lg AS (
	INSERT INTO employment_log (seeker_id, kind, at, booking_id, data)
	SELECT seeker_id, 'interview_scheduled', $4, id, jsonb_build_object('booking_id', id, 'room', 'interview-' || id, 'slot_id', slot_id,
		'booth_id', booth_id, 'lane', lane, 'employer', employer, 'start', lower(during), 'end', upper(during), 'job_post_id', job_post_id,
		'schedule_run_id', $5::bigint)
	FROM info
),
rm AS (
	INSERT INTO outbox (kind, event, booking_id, payload, due_at)
	SELECT 'reminder', r.ev, i.id, jsonb_build_object('booking_id', i.id, 'start', lower(i.during)), lower(i.during) - r.ahead
	FROM ins i CROSS JOIN LATERAL (` + firstReminderSQL("lower(i.during)", "$4") + `) r
),
wh AS (
	INSERT INTO outbox (kind, event, webhook_id, booking_id, payload)
	SELECT 'webhook', 'booking.created', w.id, i.id, jsonb_build_object('booking_id', i.id, 'seeker_id', i.seeker_id, 'slot_id', i.slot_id,
		'booth_id', i.booth_id, 'lane', i.lane, 'employer', i.employer, 'start', lower(i.during), 'end', upper(i.during), 'origin', 'schedule')
	FROM info i JOIN webhooks w ON w.active AND 'booking.created' = ANY (w.events) AND (w.employer_id IS NULL OR w.employer_id = i.employer_id)
)
SELECT count(*) FROM ins`

// writeInterviews books ivs in one transaction through the constrained
// bookings table: one refused row aborts them all. A dry run rolls back.
func writeInterviews(ctx context.Context, conn *pgxpool.Conn, ivs []schedule.Interview, runID int64, now time.Time, dry bool) (int, error) {
	slotIDs, seekerIDs, jobIDs := make([]int64, len(ivs)), make([]int64, len(ivs)), make([]int64, len(ivs))
	for i, iv := range ivs {
		slotIDs[i], seekerIDs[i], jobIDs[i] = iv.SlotID, iv.SeekerID, iv.JobID
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, apperr.Wrap(err, apperr.Unavailable, "database unavailable")
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var n int
	if err := tx.QueryRow(ctx, writeInterviewsSQL, slotIDs, seekerIDs, jobIDs, now, runID).Scan(&n); err != nil {
		return 0, scheduleRefusal(err)
	}
	if n != len(ivs) {
		return 0, apperr.New(apperr.Conflict, "排程中有%d个时段已不存在，未写入任何面试 / %d of the schedule's slots no longer exist; nothing was written, run it again",
			len(ivs)-n, len(ivs)-n)
	}
	if dry {
		return n, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, scheduleRefusal(err)
	}
	return n, nil
}

// scheduleRefusal explains a write the database refused.
func scheduleRefusal(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return internal(err, "write interviews")
	}
	details := map[string]any{"constraint": pgErr.ConstraintName, "detail": pgErr.Detail}
	switch {
	case pgErr.Code == "23P01" && pgErr.ConstraintName == constraintBoothLane:
		return apperr.Wrap(err, apperr.Conflict, "排程与刚刚产生的预约冲突（时段已被占用），未写入任何面试，请重新排程 / "+
			"a slot in the schedule was booked meanwhile; nothing was written, run it again").WithDetails(details)
	case pgErr.Code == "23P01" && pgErr.ConstraintName == constraintSeekerOverlap:
		return apperr.Wrap(err, apperr.Conflict, "排程与求职者刚刚产生的预约时间冲突，未写入任何面试，请重新排程 / "+
			"a seeker booked another interview at the same time meanwhile; nothing was written, run it again").WithDetails(details)
	case pgErr.Code == "23514" && pgErr.ConstraintName == "slot_open":
		return apperr.Wrap(err, apperr.Conflict, "排程中的时段已关闭，未写入任何面试，请重新排程 / "+
			"a slot in the schedule was closed meanwhile; nothing was written, run it again").WithDetails(details)
	}
	return internal(err, "write interviews")
}

// --- HTTP ---

func (s *Service) handleStartScheduleRun(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		DryRun       bool `json:"dry_run"`
		MaxPerSeeker int  `json:"max_per_seeker"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.MaxPerSeeker < 0 || in.MaxPerSeeker > 10 {
		return apperr.New(apperr.Invalid, "max_per_seeker must be 1 to 10 (0 = 3)")
	}
	ctx := r.Context()
	if err := s.runsFair(ctx, p, fairID); err != nil {
		return err
	}
	if err := checkFairSchedulable(ctx, s.pool, fairID); err != nil {
		return err
	}
	if s.runsCtx.Err() != nil {
		return apperr.New(apperr.Unavailable, "服务正在关闭 / the server is shutting down")
	}
	o := ScheduleOptions{DryRun: in.DryRun, MaxPerSeeker: in.MaxPerSeeker, Actor: p.actor(), Now: s.now, Logger: s.log}.withDefaults()
	// The lock is taken before answering, so a second request gets 409 at once.
	conn, err := lockFair(ctx, s.pool, fairID)
	if err != nil {
		return err
	}
	runID, err := startRun(ctx, conn, fairID, o)
	if err != nil {
		unlockFair(conn, fairID)
		return err
	}
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		defer unlockFair(conn, fairID)
		_, _ = runLocked(s.runsCtx, s.pool, conn, fairID, runID, o)
	}()
	w.Header().Set("Location", fmt.Sprintf("/api/v1/schedule-runs/%d", runID))
	return writeJSON(w, http.StatusAccepted, map[string]any{"id": runID, "fair_id": fairID, "status": "running", "dry_run": in.DryRun})
}

// Close stops background schedule runs (they fail as interrupted) and
// waits for them.
func (s *Service) Close() {
	s.runsStop()
	s.runs.Wait()
}

type runJSON struct {
	ID         int64           `json:"id"`
	FairID     int64           `json:"fair_id"`
	DryRun     bool            `json:"dry_run"`
	Status     string          `json:"status"`
	Phase      string          `json:"phase"`
	Done       int             `json:"done"`
	Total      int             `json:"total"`
	Interviews int             `json:"interviews"`
	StartedBy  string          `json:"started_by"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	Report     json.RawMessage `json:"report"`
	Error      json.RawMessage `json:"error"`
}

func (s *Service) handleGetScheduleRun(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `SELECT id, fair_id, dry_run, status, phase, done, total, interviews, started_by, started_at, finished_at,
			coalesce(report, 'null'), coalesce(error, 'null') FROM schedule_runs WHERE id = $1`, id)
	if err != nil {
		return internal(err, "read schedule run")
	}
	run, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[runJSON])
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这次排程 / no schedule run with id %d", id)
	}
	if err != nil {
		return internal(err, "read schedule run")
	}
	if err := s.runsFair(r.Context(), p, run.FairID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, run)
}

// handleBoothTimetable is the per-booth view: every lane's slots of the
// fair day with who is booked in them and how (self, invitation, scheduler).
func (s *Service) handleBoothTimetable(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := s.manageBooth(r, p, boothID)
	if err != nil {
		return err
	}
	loc := s.zone(b.timeZone)
	day := time.Date(b.fairDay.Year(), b.fairDay.Month(), b.fairDay.Day(), 0, 0, 0, 0, loc)
	rows, err := s.pool.Query(r.Context(), `SELECT s.id, s.lane, lower(s.during), upper(s.during), s.open,
			bk.id, bk.seeker_id, sk.name, bk.status, bk.origin, bk.job_post_id, bk.schedule_run_id
		FROM slots s LEFT JOIN bookings bk ON bk.booth_id = s.booth_id AND bk.lane = s.lane AND bk.during && s.during
				AND bk.slot_id = s.id AND bk.status IN ('held', 'booked') -- through bookings_no_double_booking
			LEFT JOIN seekers sk ON sk.id = bk.seeker_id
		WHERE s.booth_id = $1 AND s.during && tstzrange($2, $3) ORDER BY s.lane, lower(s.during), s.id`, boothID, day, day.AddDate(0, 0, 1))
	if err != nil {
		return internal(err, "read timetable")
	}
	type entry struct {
		BookingID     int64  `json:"booking_id"`
		SeekerID      int64  `json:"seeker_id"`
		SeekerName    string `json:"seeker_name"`
		Status        string `json:"status"`
		Origin        string `json:"origin"`
		JobPostID     *int64 `json:"job_post_id"`
		ScheduleRunID *int64 `json:"schedule_run_id"`
	}
	type slot struct {
		SlotID    int64     `json:"slot_id"`
		Start     time.Time `json:"start"`
		End       time.Time `json:"end"`
		Open      bool      `json:"open"`
		Interview *entry    `json:"interview"`
	}
	type lane struct {
		Lane  int16  `json:"lane"`
		Slots []slot `json:"slots"`
	}
	lanes := []lane{}
	booked := 0
	for rows.Next() {
		var sl slot
		var ln int16
		var bk *int64
		var e entry
		var seeker *int64
		var name, status, origin *string
		if err := rows.Scan(&sl.SlotID, &ln, &sl.Start, &sl.End, &sl.Open, &bk, &seeker, &name, &status, &origin, &e.JobPostID, &e.ScheduleRunID); err != nil {
			rows.Close()
			return internal(err, "read timetable")
		}
		sl.Start, sl.End = sl.Start.In(loc), sl.End.In(loc)
		if bk != nil {
			e.BookingID, e.SeekerID, e.SeekerName, e.Status, e.Origin = *bk, *seeker, *name, *status, *origin
			sl.Interview = &e
			booked++
		}
		if len(lanes) == 0 || lanes[len(lanes)-1].Lane != ln {
			lanes = append(lanes, lane{Lane: ln})
		}
		lanes[len(lanes)-1].Slots = append(lanes[len(lanes)-1].Slots, sl)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return internal(err, "read timetable")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"booth_id": boothID, "employer_name": b.employerName, "date": day.Format(time.DateOnly),
		"time_zone": b.timeZone, "booked": booked, "lanes": lanes})
}
