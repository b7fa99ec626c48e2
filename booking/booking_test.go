package booking_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"jobhall/booking"
	"jobhall/internal/apperr"
	"jobhall/internal/pgtest"
	"jobhall/internal/roomtoken"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t)
	pool, _ := pgtest.New(t, nil) // empty database
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = booking.Migrate(ctx, pool) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	for range 2 {
		if err := booking.Migrate(ctx, pool); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	var rows, distinct int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != distinct {
		t.Fatalf("schema_migrations has %d rows for %d versions; want each version once", rows, distinct)
	}
	var v1 int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = 1 AND name = '0001_init.sql'`).Scan(&v1); err != nil || v1 != 1 {
		t.Fatalf("version 1 recorded %d times (err %v)", v1, err)
	}
}

func TestSeedDemoCountsDeterminismIdempotence(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t)
	day := booking.DemoFairDay(time.Now())
	var sums [2]booking.SeedSummary
	var names, titles [2]string
	for i := range 2 {
		pool, _ := pgtest.New(t, booking.Migrate)
		start := time.Now()
		sum, err := booking.SeedDemo(ctx, pool, 7, day.AddDate(0, 0, i)) // the date may differ; rows must not
		if err != nil {
			t.Fatalf("SeedDemo: %v", err)
		}
		t.Logf("SeedDemo took %v: %+v", time.Since(start).Round(time.Millisecond), sum)
		if sum.AlreadyLoaded || sum.Employers != 241 || sum.Booths != 241 || sum.JobPosts != 6129 || sum.Seekers != 2500 || sum.Slots == 0 {
			t.Fatalf("summary %+v", sum)
		}
		var emp, booths, posts, seekers, slots int
		err = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM employers), (SELECT count(*) FROM booths WHERE fair_id = $1),
			(SELECT count(*) FROM job_posts), (SELECT count(*) FROM seekers), (SELECT count(*) FROM slots)`, sum.FairID).
			Scan(&emp, &booths, &posts, &seekers, &slots)
		if err != nil {
			t.Fatal(err)
		}
		if emp != 241 || booths != 241 || posts != 6129 || seekers != 2500 || slots != sum.Slots {
			t.Fatalf("database holds %d employers, %d booths, %d posts, %d seekers, %d slots; summary %+v", emp, booths, posts, seekers, slots, sum)
		}
		if n := countWhere(t, ctx, pool, `SELECT count(*) FROM booths WHERE lanes NOT BETWEEN 1 AND 3`); n != 0 {
			t.Fatalf("%d booths with lanes outside 1..3", n)
		}
		if n := countWhere(t, ctx, pool, `SELECT count(*) FROM employers e WHERE NOT EXISTS (SELECT 1 FROM job_posts j WHERE j.employer_id = e.id)`); n != 0 {
			t.Fatalf("%d employers without job posts", n)
		}
		// Every slot lies in the two sessions of the fair day, in the fair's zone.
		if n := countWhere(t, ctx, pool, `SELECT count(*) FROM slots s WHERE NOT (
				((lower(s.during) AT TIME ZONE 'Asia/Shanghai')::time >= '09:00' AND (upper(s.during) AT TIME ZONE 'Asia/Shanghai')::time <= '12:00')
				OR ((lower(s.during) AT TIME ZONE 'Asia/Shanghai')::time >= '13:30' AND (upper(s.during) AT TIME ZONE 'Asia/Shanghai')::time <= '17:00'))
			OR (lower(s.during) AT TIME ZONE 'Asia/Shanghai')::date <> $1::date`, day.AddDate(0, 0, i).Format(time.DateOnly)); n != 0 {
			t.Fatalf("%d slots outside the fair's sessions", n)
		}
		if err := pool.QueryRow(ctx, `SELECT string_agg(name || ':' || phone || ':' || county || ':' || education, ',' ORDER BY id) FROM seekers`).Scan(&names[i]); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `SELECT string_agg(e.name || ':' || j.title, ',' ORDER BY j.id) FROM job_posts j JOIN employers e ON e.id = j.employer_id`).Scan(&titles[i]); err != nil {
			t.Fatal(err)
		}
		again, err := booking.SeedDemo(ctx, pool, 7, day)
		if err != nil {
			t.Fatalf("SeedDemo again: %v", err)
		}
		if !again.AlreadyLoaded {
			t.Fatalf("second SeedDemo did not report AlreadyLoaded")
		}
		again.AlreadyLoaded = false
		if again != sum {
			t.Fatalf("second SeedDemo summary %+v, first %+v", again, sum)
		}
		if n := countWhere(t, ctx, pool, `SELECT count(*) FROM seekers`); n != 2500 {
			t.Fatalf("second SeedDemo changed seekers: %d", n)
		}
		if n := countWhere(t, ctx, pool, `SELECT count(*) FROM fairs`); n != 1 {
			t.Fatalf("second SeedDemo added a fair: %d fairs", n)
		}
		sums[i] = sum
	}
	if names[0] != names[1] {
		t.Fatal("same seed produced different seekers")
	}
	if titles[0] != titles[1] {
		t.Fatal("same seed produced different job posts")
	}
	if sums[0].Slots != sums[1].Slots {
		t.Fatalf("same seed produced %d and %d slots", sums[0].Slots, sums[1].Slots)
	}
	if !strings.ContainsAny(names[0], "王李张刘陈") {
		t.Fatal("seeker names do not look Chinese")
	}
}

func countWhere(t *testing.T, ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestDemoFairDay(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 3, 1, 8, 0, 0, 0, sh), "2026-03-01"},
		{time.Date(2026, 3, 1, 15, 59, 0, 0, sh), "2026-03-01"},
		{time.Date(2026, 3, 1, 16, 0, 0, 0, sh), "2026-03-02"},
		{time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC), "2026-03-02"}, // 01:00 on 2 March in Shanghai
		{time.Date(2026, 12, 31, 23, 0, 0, 0, sh), "2027-01-01"},
	}
	for _, c := range cases {
		got := booking.DemoFairDay(c.now)
		if got.Format(time.DateOnly) != c.want || got.Location().String() != "Asia/Shanghai" || got.Hour() != 0 {
			t.Errorf("DemoFairDay(%v) = %v, want midnight of %s in Asia/Shanghai", c.now, got, c.want)
		}
	}
}

func TestRoomNames(t *testing.T) {
	if got := booking.RoomForBooking(42); got != "interview-42" {
		t.Fatalf("RoomForBooking(42) = %q", got)
	}
	if id, ok := booking.BookingForRoom("interview-42"); !ok || id != 42 {
		t.Fatalf("BookingForRoom(interview-42) = %d, %v", id, ok)
	}
	for _, bad := range []string{"", "interview-", "interview-0", "interview--1", "interview-+1", "interview-042", "interview-1x",
		"interview-99999999999999999999", "lobby-1", "INTERVIEW-1"} {
		if id, ok := booking.BookingForRoom(bad); ok {
			t.Errorf("BookingForRoom(%q) = %d, true", bad, id)
		}
	}
}

// TestBookingRace: 200 seekers race for one slot over real HTTP; the
// database lets exactly one win.
func TestBookingRace(t *testing.T) {
	e := newEnv(t)
	const n = 200
	seekers := e.seekerIDs(n)
	tokens := e.signInAll("seeker", seekers)
	booths, _ := e.booths(1)
	slot := e.slotAt(booths[0], 10, 0)

	results := make([]resp, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i] = e.book(tokens[i], slot)
		})
	}
	close(start)
	wg.Wait()

	created, conflicts := 0, 0
	for i, r := range results {
		switch r.Status {
		case http.StatusCreated:
			created++
			if num(r.Body["slot_id"]) != slot || r.str("room") == "" || r.str("join_url") == "" {
				t.Errorf("winner response incomplete: %s", r.Raw)
			}
		case http.StatusConflict:
			conflicts++
			if r.str("code") != "conflict" || r.str("message") != booking.MsgSlotTaken {
				t.Errorf("seeker %d: conflict body %s", seekers[i], r.Raw)
				continue
			}
			details, _ := r.Body["details"].(map[string]any)
			alts, _ := details["alternatives"].([]any)
			if len(alts) != 3 {
				t.Errorf("seeker %d: want 3 alternatives, got %s", seekers[i], r.Raw)
			}
			for _, a := range alts {
				m, _ := a.(map[string]any)
				if num(m["id"]) == slot || num(m["id"]) <= 0 || m["start"] == nil || m["end"] == nil {
					t.Errorf("bad alternative %v", a)
				}
			}
		default:
			t.Errorf("seeker %d: unexpected %d %s", seekers[i], r.Status, r.Raw)
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("%d created and %d conflicts, want 1 and %d", created, conflicts, n-1)
	}
	if c := e.count(`SELECT count(*) FROM bookings WHERE slot_id = $1 AND status = 'booked'`, slot); c != 1 {
		t.Fatalf("%d booked rows for the slot, want 1", c)
	}
	if c := e.count(`SELECT count(*) FROM bookings`); c != 1 {
		t.Fatalf("%d booking rows in all, want 1", c)
	}
	if c := e.count(`SELECT count(*) FROM employment_log WHERE kind = 'booking_made'`); c != 1 {
		t.Fatalf("%d booking_made log entries, want 1", c)
	}
	// The winner's slot no longer shows as free; its alternatives do.
	r := e.get(fmtPath("/api/v1/booths/%d/slots?date=%s", booths[0], testDay.Format(time.DateOnly)), "")
	mustStatus(t, r, http.StatusOK, "free slots")
	for _, s := range r.Body["slots"].([]any) {
		if num(s.(map[string]any)["id"]) == slot {
			t.Fatal("booked slot still listed as free")
		}
	}
}

func TestSeekerCannotOverlap(t *testing.T) {
	e := newEnv(t)
	seekers := e.seekerIDs(2)
	a, b := e.signIn("seeker", seekers[0]), e.signIn("seeker", seekers[1])
	booths, _ := e.booths(2)
	s1, s2 := e.slotAt(booths[0], 9, 0), e.slotAt(booths[1], 9, 0)

	mustStatus(t, e.book(a, s1), http.StatusCreated, "first booking")
	r := e.book(a, s2)
	mustStatus(t, r, http.StatusConflict, "overlapping booking at another booth")
	if r.str("message") != booking.MsgSeekerOverlap {
		t.Fatalf("overlap message %q", r.str("message"))
	}
	r = e.book(a, s1)
	mustStatus(t, r, http.StatusConflict, "same slot again")
	if r.str("message") != booking.MsgAlreadyYours {
		t.Fatalf("rebooking message %q", r.str("message"))
	}
	mustStatus(t, e.book(b, s2), http.StatusCreated, "another seeker at the other booth")
	mustStatus(t, e.book(a, e.slotAt(booths[1], 9, 15)), http.StatusCreated, "the next slot")
	if c := e.count(`SELECT count(*) FROM bookings WHERE seeker_id = $1 AND status = 'booked'`, seekers[0]); c != 2 {
		t.Fatalf("seeker holds %d bookings, want 2", c)
	}
	// The database itself refuses an overlap written behind the API's back.
	_, err := e.pool.Exec(e.ctx, `INSERT INTO bookings (slot_id, booth_id, lane, seeker_id, during)
		SELECT id, booth_id, lane, $2, during FROM slots WHERE id = $1`, s2, seekers[0])
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23P01" {
		t.Fatalf("direct overlapping insert: %v, want exclusion violation", err)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	e := newEnv(t)
	seekers := e.seekerIDs(1)
	seeker := e.signIn("seeker", seekers[0])
	booths, employers := e.booths(2)
	employer := e.signIn("employer", employers[0])
	slot := e.slotAt(booths[0], 9, 30)
	var past int64
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO slots (booth_id, lane, during)
		VALUES ($1, 1, tstzrange(now() - interval '2 hours', now() - interval '105 minutes')) RETURNING id`, booths[0]).Scan(&past); err != nil {
		t.Fatal(err)
	}
	roomTok, err := e.tokens.Issue(roomtoken.Grant{Room: "interview-1", Identity: "seeker-1", Role: roomtoken.RoleSeeker, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	valid := `{"slot_id":` + itoa(slot) + `}`
	cases := []struct {
		name, method, path, token, ctype, body string
		status                                 int
		msg                                    string // substring of the message
	}{
		{"unknown slot", "POST", "/api/v1/bookings", seeker, "application/json", `{"slot_id":999999999}`, 404, "no slot"},
		{"past slot", "POST", "/api/v1/bookings", seeker, "application/json", `{"slot_id":` + itoa(past) + `}`, 400, booking.MsgSlotPast},
		{"invalid JSON", "POST", "/api/v1/bookings", seeker, "application/json", `{"slot_id":`, 400, "not valid JSON"},
		{"unknown field", "POST", "/api/v1/bookings", seeker, "application/json", `{"slot_id":1,"seeker_id":2}`, 400, "unknown field"},
		{"wrong type", "POST", "/api/v1/bookings", seeker, "application/json", `{"slot_id":"1"}`, 400, "wrong type"},
		{"two objects", "POST", "/api/v1/bookings", seeker, "application/json", valid + `{}`, 400, "exactly one"},
		{"empty body", "POST", "/api/v1/bookings", seeker, "application/json", ``, 400, "empty"},
		{"zero id", "POST", "/api/v1/bookings", seeker, "application/json", `{"slot_id":0}`, 400, "positive"},
		{"negative id", "POST", "/api/v1/bookings", seeker, "application/json", `{"slot_id":-5}`, 400, "positive"},
		{"wrong content type", "POST", "/api/v1/bookings", seeker, "text/plain", valid, 400, "application/json"},
		{"no content type", "POST", "/api/v1/bookings", seeker, "", valid, 400, "application/json"},
		{"oversized body", "POST", "/api/v1/bookings", seeker, "application/json", `{"slot_id":1,"x":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "bytes"},
		{"missing session", "POST", "/api/v1/bookings", "", "application/json", valid, 401, "sign in"},
		{"garbage session", "POST", "/api/v1/bookings", "not-a-token", "application/json", valid, 401, "invalid session"},
		{"room token as session", "POST", "/api/v1/bookings", roomTok, "application/json", valid, 401, "invalid session"},
		{"employer books", "POST", "/api/v1/bookings", employer, "application/json", valid, 403, "job seekers"},
		{"other booth's schedule", "GET", "/api/v1/booths/" + itoa(booths[1]) + "/schedule", employer, "", "", 403, "another employer"},
		{"seeker reads schedule", "GET", "/api/v1/booths/" + itoa(booths[0]) + "/schedule", seeker, "", "", 403, "employers"},
		{"schedule without session", "GET", "/api/v1/booths/" + itoa(booths[0]) + "/schedule", "", "", "", 401, "sign in"},
		{"employer reads seeker log", "GET", "/api/v1/me/log", employer, "", "", 403, "job seekers"},
		{"bookings without session", "GET", "/api/v1/me/bookings", "", "", "", 401, "sign in"},
		{"bad booth id", "GET", "/api/v1/booths/abc/slots", "", "", "", 400, "positive"},
		{"zero booth id", "GET", "/api/v1/booths/0/slots", "", "", "", 400, "positive"},
		{"unknown booth", "GET", "/api/v1/booths/999999999/slots", "", "", "", 404, "no booth"},
		{"bad date", "GET", "/api/v1/booths/" + itoa(booths[0]) + "/slots?date=tomorrow", "", "", "", 400, "YYYY-MM-DD"},
		{"limit too big", "GET", "/api/v1/fairs/" + itoa(e.fairID) + "/booths?limit=1000", "", "", "", 400, "limit"},
		{"unknown fair", "GET", "/api/v1/fairs/999999999/booths", "", "", "", 404, "no fair"},
		{"session for unknown seeker", "POST", "/api/v1/session/demo", "", "application/json", `{"role":"seeker","id":999999999}`, 404, "no seeker"},
		{"bad role", "POST", "/api/v1/session/demo", "", "application/json", `{"role":"admin","id":1}`, 400, "role"},
		{"unknown route", "GET", "/api/v1/nope", "", "", "", 404, "no such"},
	}
	before := e.count(`SELECT (SELECT count(*) FROM bookings) + (SELECT count(*) FROM employment_log)`)
	for _, c := range cases {
		r := e.request(c.method, c.path, c.token, c.ctype, c.body)
		if r.Status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.Status, c.status, r.Raw)
			continue
		}
		if r.str("code") == "" || !strings.Contains(r.str("message"), c.msg) {
			t.Errorf("%s: body %s, want a code and a message containing %q", c.name, r.Raw, c.msg)
		}
	}
	if after := e.count(`SELECT (SELECT count(*) FROM bookings) + (SELECT count(*) FROM employment_log)`); after != before {
		t.Fatalf("bad requests wrote %d rows", after-before)
	}
}

func itoa(n int64) string { return strconvFormat(n) }

func TestJoinURLTokens(t *testing.T) {
	e := newEnv(t)
	seekers := e.seekerIDs(1)
	seeker := e.signIn("seeker", seekers[0])
	booths, employers := e.booths(1)
	employer := e.signIn("employer", employers[0])
	r := e.book(seeker, e.slotAt(booths[0], 14, 0))
	mustStatus(t, r, http.StatusCreated, "booking")
	id := num(r.Body["id"])
	room := booking.RoomForBooking(id)
	if r.str("room") != room {
		t.Fatalf("room %q, want %q", r.str("room"), room)
	}
	var seekerName, employerName string
	if err := e.pool.QueryRow(e.ctx, `SELECT name FROM seekers WHERE id = $1`, seekers[0]).Scan(&seekerName); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(e.ctx, `SELECT name FROM employers WHERE id = $1`, employers[0]).Scan(&employerName); err != nil {
		t.Fatal(err)
	}
	if r.str("employer_name") != employerName || num(r.Body["booth_id"]) != booths[0] {
		t.Fatalf("booking response %s", r.Raw)
	}
	end, err := time.Parse(time.RFC3339, r.str("end"))
	if err != nil {
		t.Fatalf("end %q: %v", r.str("end"), err)
	}
	check := func(joinURL, identity, role, name string) {
		t.Helper()
		u, err := url.Parse(joinURL)
		if err != nil || !strings.HasPrefix(joinURL, "http://jobhall.test/room?token=") {
			t.Fatalf("join_url %q", joinURL)
		}
		g, err := e.tokens.Verify(u.Query().Get("token"), room)
		if err != nil {
			t.Fatalf("verify %s token: %v", role, err)
		}
		if g.Room != room || g.Identity != identity || g.Role != role || g.Name != name || !g.Expires.Equal(end.Add(30*time.Minute)) {
			t.Fatalf("grant %+v, want room %s identity %s role %s name %s expiring %v", g, room, identity, role, name, end.Add(30*time.Minute))
		}
		// A seeker waits in the lobby until the interviewer admits them.
		if g.Lobby != (role == roomtoken.RoleSeeker) {
			t.Fatalf("%s token lobby = %v", role, g.Lobby)
		}
		if _, err := e.tokens.Verify(u.Query().Get("token"), "interview-999999"); apperr.CodeOf(err) != apperr.Forbidden {
			t.Fatalf("token accepted for another room: %v", err)
		}
		// A room token is never a session.
		mustStatus(t, e.get("/api/v1/session", u.Query().Get("token")), http.StatusUnauthorized, "room token as session")
	}
	check(r.str("join_url"), "seeker-"+itoa(seekers[0]), roomtoken.RoleSeeker, seekerName)

	mine := e.get("/api/v1/me/bookings", seeker)
	mustStatus(t, mine, http.StatusOK, "my bookings")
	list := mine.Body["bookings"].([]any)
	if len(list) != 1 {
		t.Fatalf("my bookings %s", mine.Raw)
	}
	check(list[0].(map[string]any)["join_url"].(string), "seeker-"+itoa(seekers[0]), roomtoken.RoleSeeker, seekerName)

	sched := e.get("/api/v1/booths/"+itoa(booths[0])+"/schedule?date="+testDay.Format(time.DateOnly), employer)
	mustStatus(t, sched, http.StatusOK, "schedule")
	entries := sched.Body["bookings"].([]any)
	if len(entries) != 1 {
		t.Fatalf("schedule %s", sched.Raw)
	}
	en := entries[0].(map[string]any)
	if en["seeker_name"] != seekerName || num(en["id"]) != id {
		t.Fatalf("schedule entry %v", en)
	}
	check(en["join_url"].(string), "interviewer-"+itoa(booths[0])+"-"+itoa(num(en["lane"])), roomtoken.RoleInterviewer, employerName)

	// Another seeker sees none of it.
	other := e.signIn("seeker", e.seekerIDs(2)[1])
	if got := e.get("/api/v1/me/bookings", other); len(got.Body["bookings"].([]any)) != 0 {
		t.Fatalf("another seeker sees bookings: %s", got.Raw)
	}
}

func TestRecordRoomEventAndAppendOnlyLog(t *testing.T) {
	e := newEnv(t)
	seekers := e.seekerIDs(2)
	seeker := e.signIn("seeker", seekers[0])
	booths, _ := e.booths(1)
	r := e.book(seeker, e.slotAt(booths[0], 15, 0))
	mustStatus(t, r, http.StatusCreated, "booking")
	room := r.str("room")
	at := time.Now().Add(time.Minute).Truncate(time.Second) // after booking_made
	for i, kind := range []string{"interview_started", "interview_ended", "recording_saved"} {
		if err := e.svc.RecordRoomEvent(e.ctx, room, kind, at.Add(time.Duration(i)*time.Minute), map[string]any{"n": i}); err != nil {
			t.Fatalf("RecordRoomEvent %s: %v", kind, err)
		}
	}
	if err := e.svc.RecordRoomEvent(e.ctx, room, "interview_paused", at, nil); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("bad kind: %v, want invalid", err)
	}
	for _, bad := range []string{"interview-999999999", "lobby", ""} {
		if err := e.svc.RecordRoomEvent(e.ctx, bad, "interview_started", at, nil); apperr.CodeOf(err) != apperr.NotFound {
			t.Fatalf("room %q: %v, want not found", bad, err)
		}
	}

	log := e.get("/api/v1/me/log", seeker)
	mustStatus(t, log, http.StatusOK, "log")
	entries := log.Body["entries"].([]any)
	var kinds []string
	for _, x := range entries {
		m := x.(map[string]any)
		kinds = append(kinds, m["kind"].(string))
		if num(m["booking_id"]) != num(r.Body["id"]) || m["data"] == nil {
			t.Fatalf("log entry %v", m)
		}
	}
	if strings.Join(kinds, ",") != "recording_saved,interview_ended,interview_started,booking_made" {
		t.Fatalf("log kinds newest first = %v", kinds)
	}
	if other := e.get("/api/v1/me/log", e.signIn("seeker", seekers[1])); len(other.Body["entries"].([]any)) != 0 {
		t.Fatalf("another seeker sees log entries: %s", other.Raw)
	}

	for _, sql := range []string{`UPDATE employment_log SET kind = 'tampered'`, `DELETE FROM employment_log`, `TRUNCATE employment_log`} {
		_, err := e.pool.Exec(e.ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Message, "append-only") {
			t.Fatalf("%s: %v, want refusal", sql, err)
		}
	}
	if c := e.count(`SELECT count(*) FROM employment_log WHERE seeker_id = $1`, seekers[0]); c != 4 {
		t.Fatalf("%d log entries, want 4", c)
	}
	// The log and the outbox name bookings without foreign keys: bookings
	// are never deleted (migration 0008).
	for _, sql := range []string{`DELETE FROM bookings`, `TRUNCATE bookings CASCADE`} {
		_, err := e.pool.Exec(e.ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Message, "never deleted") {
			t.Fatalf("%s: %v, want refusal", sql, err)
		}
	}
}

func TestReadEndpoints(t *testing.T) {
	e := newEnv(t)
	people := e.get("/api/v1/demo/people", "")
	mustStatus(t, people, http.StatusOK, "demo people")
	ss, es := people.Body["seekers"].([]any), people.Body["employers"].([]any)
	if len(ss) != 20 || len(es) != 20 {
		t.Fatalf("demo people: %d seekers, %d employers", len(ss), len(es))
	}
	emp := es[0].(map[string]any)
	if num(emp["booth_id"]) <= 0 || emp["name"] == "" {
		t.Fatalf("demo employer %v", emp)
	}

	// Cookie session round trip.
	r := e.post("/api/v1/session/demo", "", map[string]any{"role": "employer", "id": num(emp["id"])})
	mustStatus(t, r, http.StatusOK, "employer sign-in")
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == booking.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", cookie)
	}
	req, _ := http.NewRequestWithContext(e.ctx, http.MethodGet, e.srv.URL+"/api/v1/session", nil)
	req.AddCookie(cookie)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("session by cookie: %d", res.StatusCode)
	}
	who := e.get("/api/v1/session", r.str("token"))
	mustStatus(t, who, http.StatusOK, "who am I")
	if who.str("role") != "employer" || num(who.Body["id"]) != num(emp["id"]) || who.str("name") != emp["name"] {
		t.Fatalf("who am I: %s", who.Raw)
	}
	mustStatus(t, e.get("/api/v1/session", ""), http.StatusUnauthorized, "no session")

	fair := e.get("/api/v1/fairs/current", "")
	mustStatus(t, fair, http.StatusOK, "current fair")
	if num(fair.Body["id"]) != e.fairID || num(fair.Body["booths"]) != 241 || fair.str("day") != testDay.Format(time.DateOnly) ||
		fair.str("time_zone") != "Asia/Shanghai" || fair.Body["booking_open"] != true {
		t.Fatalf("current fair %s", fair.Raw)
	}

	page := e.get(fmtPath("/api/v1/fairs/%d/booths?limit=100&offset=200", e.fairID), "")
	mustStatus(t, page, http.StatusOK, "booths page")
	if num(page.Body["total"]) != 241 || len(page.Body["booths"].([]any)) != 41 {
		t.Fatalf("booths page: total %v, %d items", page.Body["total"], len(page.Body["booths"].([]any)))
	}
	b0 := page.Body["booths"].([]any)[0].(map[string]any)
	if b0["employer_name"] == "" || num(b0["lanes"]) < 1 || num(b0["job_posts"]) < 1 || b0["hall_position"] == "" {
		t.Fatalf("booth %v", b0)
	}
	name := b0["employer_name"].(string)
	search := e.get(fmtPath("/api/v1/fairs/%d/booths?q=%s", e.fairID, url.QueryEscape(name)), "")
	mustStatus(t, search, http.StatusOK, "booth search")
	if num(search.Body["total"]) < 1 || search.Body["booths"].([]any)[0].(map[string]any)["employer_name"] != name {
		t.Fatalf("search for %q: %s", name, search.Raw)
	}
	if none := e.get(fmtPath("/api/v1/fairs/%d/booths?q=%%25_", e.fairID), ""); num(none.Body["total"]) != 0 {
		t.Fatalf("wildcards were not escaped: %s", none.Raw)
	}

	booths, _ := e.booths(1)
	slots := e.get(fmtPath("/api/v1/booths/%d/slots", booths[0]), "")
	mustStatus(t, slots, http.StatusOK, "slots")
	list := slots.Body["slots"].([]any)
	var lanes int
	if err := e.pool.QueryRow(e.ctx, `SELECT lanes FROM booths WHERE id = $1`, booths[0]).Scan(&lanes); err != nil {
		t.Fatal(err)
	}
	if len(list) != 26*lanes {
		t.Fatalf("%d free slots, want %d", len(list), 26*lanes)
	}
	first := list[0].(map[string]any)
	if st, err := time.Parse(time.RFC3339, first["start"].(string)); err != nil || st.Hour() != 9 || !strings.HasSuffix(first["start"].(string), "+08:00") {
		t.Fatalf("first slot %v (%v)", first, err)
	}
	other := e.get(fmtPath("/api/v1/booths/%d/slots?date=%s", booths[0], testDay.AddDate(0, 0, 1).Format(time.DateOnly)), "")
	if len(other.Body["slots"].([]any)) != 0 {
		t.Fatalf("slots on another day: %s", other.Raw)
	}
}

// A service with Demo off hides the demo endpoints.
func TestDemoOff(t *testing.T) {
	e := newEnv(t)
	svc, err := booking.NewService(booking.Config{Pool: e.pool, Tokens: e.tokens, SessionSecret: []byte(sessionSecret), PublicURL: "http://x.test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/demo/people", "/api/v1/session/demo"} {
		method := http.MethodGet
		if strings.HasSuffix(path, "session/demo") {
			method = http.MethodPost
		}
		req := httptestRequest(method, path, `{"role":"seeker","id":1}`)
		rec := newRecorder()
		svc.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Fatalf("%s with Demo off: %d", path, rec.Code)
		}
	}
	if _, err := booking.NewService(booking.Config{Pool: e.pool, Tokens: e.tokens, SessionSecret: []byte("short"), PublicURL: "http://x.test"}); err == nil {
		t.Fatal("short session secret accepted")
	}
}

func TestSessionTokens(t *testing.T) {
	e := newEnv(t)
	seeker := e.signIn("seeker", e.seekerIDs(1)[0])
	mustStatus(t, e.get("/api/v1/session", seeker), http.StatusOK, "fresh session")

	// A room token signed with the session secret itself is still no session
	// (wrong audience), and a session token is no room token.
	same, err := roomtoken.NewIssuer([]byte(sessionSecret))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := same.Issue(roomtoken.Grant{Room: "interview-1", Identity: "seeker-1", Role: roomtoken.RoleSeeker, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.get("/api/v1/session", rt), http.StatusUnauthorized, "room token as session")
	if _, err := same.Verify(seeker, ""); err == nil {
		t.Fatal("session token accepted as a room token")
	}

	// 13 hours later the 12-hour session has expired.
	later, err := booking.NewService(booking.Config{Pool: e.pool, Tokens: e.tokens, SessionSecret: []byte(sessionSecret),
		PublicURL: "http://x.test", Now: func() time.Time { return time.Now().Add(13 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	req := httptestRequest(http.MethodGet, "/api/v1/session", "")
	req.Header.Set("Authorization", "Bearer "+seeker)
	later.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "expired") {
		t.Fatalf("expired session: %d %s", rec.Code, rec.Body)
	}
	mustStatus(t, e.request(http.MethodGet, "/api/v1/session", "", "", nil), http.StatusUnauthorized, "no session")
	r := e.request(http.MethodGet, "/api/v1/me/bookings", "", "", nil)
	mustStatus(t, r, http.StatusUnauthorized, "no session")
}

func TestSeedDemoRollsAPastFairForward(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t)
	pool, _ := pgtest.New(t, booking.Migrate)
	day := booking.DemoFairDay(time.Now())
	first, err := booking.SeedDemo(ctx, pool, 11, day)
	if err != nil {
		t.Fatal(err)
	}
	next := day.AddDate(0, 0, 1)
	for range 2 { // the second call finds the rolled fair current
		rolled, err := booking.SeedDemo(ctx, pool, 11, next)
		if err != nil {
			t.Fatal(err)
		}
		if !rolled.AlreadyLoaded || rolled.FairID == first.FairID {
			t.Fatalf("rolled %+v from %+v", rolled, first)
		}
	}
	if n := countWhere(t, ctx, pool, `SELECT count(*) FROM fairs`); n != 2 {
		t.Fatalf("%d fairs, want 2", n)
	}
	var booths, slots, offDay int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM booths b JOIN demo_seeds d ON d.fair_id = b.fair_id WHERE d.seed = 11),
		(SELECT count(*) FROM slots s JOIN booths b ON b.id = s.booth_id JOIN demo_seeds d ON d.fair_id = b.fair_id WHERE d.seed = 11),
		(SELECT count(*) FROM slots s JOIN booths b ON b.id = s.booth_id JOIN demo_seeds d ON d.fair_id = b.fair_id
			WHERE d.seed = 11 AND (lower(s.during) AT TIME ZONE 'Asia/Shanghai')::date <> $1::date)`, next.Format(time.DateOnly)).
		Scan(&booths, &slots, &offDay); err != nil {
		t.Fatal(err)
	}
	if booths != first.Booths || slots != first.Slots || offDay != 0 {
		t.Fatalf("rolled fair has %d booths, %d slots (%d off its day); first had %+v", booths, slots, offDay, first)
	}
}
