package booking_test

import (
	"net/http"
	"testing"
	"time"

	"jobhall/booking"
	"jobhall/internal/apperr"
)

// register signs n consenting seekers (after skip) up for the fair.
func (e *env) register(fairID int64, skip, n int) []int64 {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `INSERT INTO fair_attendees (fair_id, seeker_id)
		SELECT $1, id FROM seekers WHERE consent_profile_visible ORDER BY id OFFSET $2 LIMIT $3 RETURNING seeker_id`, fairID, skip, n)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// waitRun polls a scheduler run until it ends.
func (e *env) waitRun(tok string, id int64) resp {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := e.get(fmtPath("/api/v1/schedule-runs/%d", id), tok)
		mustStatus(e.t, r, http.StatusOK, "poll run")
		if r.str("status") != "running" {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %d still running after a minute: %s", id, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkSchedule verifies in SQL what the database does not enforce itself:
// at most 3 interviews per seeker, one per booth, 5 minutes between booths.
func (e *env) checkSchedule() {
	e.t.Helper()
	if n := e.count(`SELECT count(*) FROM (SELECT seeker_id FROM bookings WHERE status = 'booked' AND id = group_id
			GROUP BY seeker_id HAVING count(*) > 3) x`); n != 0 {
		e.t.Fatalf("%d seekers over the cap", n)
	}
	if n := e.count(`SELECT count(*) FROM (SELECT seeker_id, booth_id FROM bookings WHERE status = 'booked' AND origin = 'schedule'
			GROUP BY 1, 2 HAVING count(*) > 1) x`); n != 0 {
		e.t.Fatalf("%d seekers scheduled twice at one booth", n)
	}
	if n := e.count(`SELECT count(*) FROM bookings a JOIN bookings b ON a.seeker_id = b.seeker_id AND a.id < b.id AND a.booth_id <> b.booth_id
			WHERE a.status = 'booked' AND b.status = 'booked' AND (a.origin = 'schedule' OR b.origin = 'schedule')
				AND tstzrange(lower(a.during) - interval '5 minutes', upper(a.during) + interval '5 minutes') && b.during`); n != 0 {
		e.t.Fatalf("%d pairs of interviews without the walking gap", n)
	}
}

func TestScheduleFairEndToEnd(t *testing.T) {
	e := newEnv(t)
	t.Cleanup(e.svc.Close)
	admin, _ := e.account(booking.RoleAdmin, 0)
	officer := e.officerOf(e.fairID)

	// Bad input first: unknown fair, nobody registered, a fair without booths.
	mustStatus(t, e.post(fmtPath("/api/v1/fairs/%d/schedule-runs", 1<<40), admin, map[string]any{}), http.StatusNotFound, "unknown fair")
	r := e.post(fmtPath("/api/v1/fairs/%d/schedule-runs", e.fairID), officer, map[string]any{})
	mustStatus(t, r, http.StatusBadRequest, "nobody registered")
	var empty int64
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO fairs (name, day, booking_opens, booking_closes) VALUES ('空招聘会', $1, now(), now() + interval '3 days')
		RETURNING id`, testDay).Scan(&empty); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/fairs/%d/schedule-runs", empty), admin, map[string]any{}), http.StatusBadRequest, "no booths")
	mustStatus(t, e.post(fmtPath("/api/v1/fairs/%d/schedule-runs", e.fairID), officer, map[string]any{"max_per_seeker": 99}), http.StatusBadRequest, "bad cap")

	// 120 registered seekers; one already booked by hand (kept as it is);
	// one registered but not consenting (gets nothing new).
	reg := e.register(e.fairID, 0, 120)
	booths, _ := e.booths(1)
	own := e.book(e.signIn("seeker", reg[0]), e.slotAt(booths[0], 10, 0))
	mustStatus(t, own, http.StatusCreated, "own booking")
	var hidden int64
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO fair_attendees (fair_id, seeker_id) SELECT $1, id FROM seekers WHERE NOT consent_profile_visible
		ORDER BY id LIMIT 1 RETURNING seeker_id`, e.fairID).Scan(&hidden); err != nil {
		t.Fatal(err)
	}

	// A run already holding the fair (another node): 409 at once.
	conn, err := e.pool.Acquire(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(e.ctx, `SELECT pg_advisory_lock($1)`, booking.ScheduleLockKey(e.fairID)); err != nil {
		t.Fatal(err)
	}
	r = e.post(fmtPath("/api/v1/fairs/%d/schedule-runs", e.fairID), officer, map[string]any{})
	mustStatus(t, r, http.StatusConflict, "second run of a fair")
	_, _ = conn.Exec(e.ctx, `SELECT pg_advisory_unlock($1)`, booking.ScheduleLockKey(e.fairID))
	conn.Release()

	// A dry run writes nothing.
	r = e.post(fmtPath("/api/v1/fairs/%d/schedule-runs", e.fairID), officer, map[string]any{"dry_run": true})
	mustStatus(t, r, http.StatusAccepted, "dry run")
	run := e.waitRun(officer, num(r.Body["id"]))
	if run.str("status") != "done" || e.count(`SELECT count(*) FROM bookings WHERE origin = 'schedule'`) != 0 {
		t.Fatalf("dry run: %s", run.Raw)
	}

	// The real run.
	r = e.post(fmtPath("/api/v1/fairs/%d/schedule-runs", e.fairID), officer, map[string]any{})
	mustStatus(t, r, http.StatusAccepted, "run")
	run = e.waitRun(officer, num(r.Body["id"]))
	written := int(num(run.Body["interviews"]))
	rep, _ := run.Body["report"].(map[string]any)
	if run.str("status") != "done" || written == 0 || int(num(field(rep, "report", "interviews"))) != written {
		t.Fatalf("run: %s", run.Raw)
	}
	if num(rep["not_visible"]) != 1 || num(rep["fixed"]) != 1 {
		t.Fatalf("report counts: %s", run.Raw)
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE origin = 'schedule' AND status = 'booked' AND schedule_run_id = $1`, num(r.Body["id"])); n != written {
		t.Fatalf("%d scheduled bookings, report says %d", n, written)
	}
	if n := e.count(`SELECT count(*) FROM employment_log l JOIN bookings b ON b.id = l.booking_id WHERE l.kind = 'interview_scheduled' AND b.origin = 'schedule'`); n != written {
		t.Fatalf("%d log entries for %d interviews", n, written)
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE seeker_id = $1`, hidden); n != 0 {
		t.Fatal("a seeker hidden from employers was scheduled")
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE id = $1 AND status = 'booked' AND origin = 'self'`, num(own.Body["id"])); n != 1 {
		t.Fatal("the existing booking moved")
	}
	// Everyone has an interview but those the report names: with room to
	// spare, only seekers matching no fair employer (partial report).
	unserved, _ := field(rep, "report", "unserved").([]any)
	for _, u := range unserved {
		if u.(map[string]any)["reason"] != "no_choices" {
			t.Fatalf("unserved for lack of room: %s", run.Raw)
		}
	}
	if n := e.count(`SELECT count(DISTINCT seeker_id) FROM bookings WHERE status = 'booked'`); n != 120-len(unserved) || n < 100 {
		t.Fatalf("%d of 120 seekers have an interview, %d unserved: %s", n, len(unserved), run.Raw)
	}
	e.checkSchedule()

	// The per-booth timetable shows them.
	var booth int64
	if err := e.pool.QueryRow(e.ctx, `SELECT booth_id FROM bookings WHERE origin = 'schedule' ORDER BY id LIMIT 1`).Scan(&booth); err != nil {
		t.Fatal(err)
	}
	tt := e.get(fmtPath("/api/v1/booths/%d/timetable", booth), officer)
	mustStatus(t, tt, http.StatusOK, "timetable")
	found := 0
	for _, ln := range items(tt, "lanes") {
		for _, sl := range ln["slots"].([]any) {
			if iv, _ := sl.(map[string]any)["interview"].(map[string]any); iv != nil && iv["origin"] == "schedule" {
				found++
			}
		}
	}
	if found == 0 || found != e.count(`SELECT count(*) FROM bookings WHERE booth_id = $1 AND origin = 'schedule'`, booth) {
		t.Fatalf("timetable shows %d scheduled interviews: %s", found, tt.Raw)
	}

	// Incremental: walk-ins register, one interview is cancelled; the next
	// run moves nothing that exists and schedules the newcomers.
	var keep []int64
	rows, err := e.pool.Query(e.ctx, `SELECT id FROM bookings WHERE status = 'booked' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		keep = append(keep, id)
	}
	rows.Close()
	if _, err := e.pool.Exec(e.ctx, `UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $1`, keep[1]); err != nil {
		t.Fatal(err)
	}
	walkIns := e.register(e.fairID, 120, 10)
	r = e.post(fmtPath("/api/v1/fairs/%d/schedule-runs", e.fairID), admin, map[string]any{})
	mustStatus(t, r, http.StatusAccepted, "re-solve")
	if run = e.waitRun(admin, num(r.Body["id"])); run.str("status") != "done" {
		t.Fatalf("re-solve: %s", run.Raw)
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE id = ANY($1) AND status = 'booked'`, keep); n != len(keep)-1 {
		t.Fatalf("%d of %d existing bookings still booked", n, len(keep)-1)
	}
	noChoice := 0
	unserved, _ = field(run.Body["report"].(map[string]any), "report", "unserved").([]any)
	for _, u := range unserved {
		for _, w := range walkIns {
			if num(u.(map[string]any)["seeker_id"]) == w {
				noChoice++
			}
		}
	}
	if n := e.count(`SELECT count(DISTINCT seeker_id) FROM bookings WHERE seeker_id = ANY($1) AND status = 'booked'`, walkIns); n != len(walkIns)-noChoice || n == 0 {
		t.Fatalf("%d of %d walk-ins scheduled, %d without a match: %s", n, len(walkIns), noChoice, run.Raw)
	}
	e.checkSchedule()
}

// TestScheduleConflictWritesNothing: a booking that lands on a slot the
// run chose (here made by a trigger inside the write, as a racing booking
// would) aborts the whole write; the run fails with a clear conflict.
func TestScheduleConflictWritesNothing(t *testing.T) {
	e := newEnv(t)
	reg := e.register(e.fairID, 0, 60)
	var racer int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM seekers WHERE id <> ALL($1) ORDER BY id LIMIT 1`, reg).Scan(&racer); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `CREATE FUNCTION race() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NOT EXISTS (SELECT 1 FROM bookings WHERE seeker_id = `+itoa(racer)+`) THEN
				INSERT INTO bookings (slot_id, booth_id, lane, seeker_id, during) VALUES (NEW.slot_id, NEW.booth_id, NEW.lane, `+itoa(racer)+`, NEW.during);
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER race BEFORE INSERT ON bookings FOR EACH ROW WHEN (NEW.origin = 'schedule') EXECUTE FUNCTION race();`); err != nil {
		t.Fatal(err)
	}
	var lines []string
	_, err := booking.ScheduleFair(e.ctx, e.pool, e.fairID, booking.ScheduleOptions{Actor: "test",
		Progress: func(phase string, _, _ int) { lines = append(lines, phase) }})
	if apperr.CodeOf(err) != apperr.Conflict || apperr.As(err).Message == "" {
		t.Fatalf("run over a racing booking: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM bookings`); n != 0 {
		t.Fatalf("%d bookings written by a failed run", n)
	}
	if n := e.count(`SELECT count(*) FROM schedule_runs WHERE status = 'failed' AND error->>'code' = 'conflict'`); n != 1 {
		t.Fatal("failed run not recorded")
	}
	if len(lines) == 0 || lines[0] != "load" {
		t.Fatalf("progress phases %v", lines)
	}
	// Without the racer the same run succeeds.
	if _, err := e.pool.Exec(e.ctx, `DROP TRIGGER race ON bookings`); err != nil {
		t.Fatal(err)
	}
	out, err := booking.ScheduleFair(e.ctx, e.pool, e.fairID, booking.ScheduleOptions{Actor: "test"})
	if err != nil || out.Written == 0 || out.Written != e.count(`SELECT count(*) FROM bookings WHERE origin = 'schedule'`) {
		t.Fatalf("run: %+v %v", out, err)
	}
	e.checkSchedule()
}
