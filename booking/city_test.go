package booking_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/booking"
	"jobhall/internal/pgtest"
)

// account creates a password account and signs it in over HTTP.
func (e *env) account(role string, employerID int64) (token string, id int64) {
	e.t.Helper()
	login := fmt.Sprintf("%s%d.%d", role, employerID, time.Now().UnixNano()%1e9)
	id, err := e.svc.CreateAccount(e.ctx, login, "测试 "+role, role, "correct horse battery", employerID)
	if err != nil {
		e.t.Fatalf("create %s account: %v", role, err)
	}
	r := e.post("/api/v1/auth/login", "", map[string]any{"login": login, "password": "correct horse battery"})
	mustStatus(e.t, r, http.StatusOK, "login "+role)
	return r.str("token"), id
}

func (e *env) withKey(method, path, token, key string, body any) resp {
	e.t.Helper()
	buf, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, strings.NewReader(string(buf)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Raw: raw, Header: res.Header}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

func TestHoldsExcludeBookingsAndExpire(t *testing.T) {
	e := newEnv(t)
	ss := e.seekerIDs(3)
	a, b, c := e.signIn("seeker", ss[0]), e.signIn("seeker", ss[1]), e.signIn("seeker", ss[2])
	booths, _ := e.booths(1)
	slot := e.slotAt(booths[0], 9, 0)

	h := e.post("/api/v1/holds", a, map[string]any{"slot_id": slot})
	mustStatus(t, h, http.StatusCreated, "hold")
	if h.str("status") != "held" || h.Body["hold_expires_at"] == nil || h.str("join_url") != "" {
		t.Fatalf("hold response %s", h.Raw)
	}
	r := e.book(b, slot)
	mustStatus(t, r, http.StatusConflict, "book a held slot")
	if r.str("message") != booking.MsgSlotTaken {
		t.Fatalf("message %q", r.str("message"))
	}
	// The database refuses a booking overlapping the hold written behind the API's back.
	_, err := e.pool.Exec(e.ctx, `INSERT INTO bookings (slot_id, booth_id, lane, seeker_id, during)
		SELECT id, booth_id, lane, $2, during FROM slots WHERE id = $1`, slot, ss[1])
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23P01" {
		t.Fatalf("direct insert over a hold: %v", err)
	}
	// Confirm is atomic: held -> booked, one log entry.
	cf := e.post(fmtPath("/api/v1/bookings/%d/confirm", num(h.Body["id"])), a, nil)
	mustStatus(t, cf, http.StatusOK, "confirm")
	if cf.str("status") != "booked" || cf.str("join_url") == "" {
		t.Fatalf("confirm %s", cf.Raw)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/bookings/%d/confirm", num(h.Body["id"])), b, nil), http.StatusForbidden, "confirm another's hold")

	// An expired hold in the way is cleared when it refuses the next booking, which is tried again.
	short, err := booking.NewService(booking.Config{Pool: e.pool, Tokens: e.tokens, SessionSecret: []byte(sessionSecret),
		PublicURL: "http://jobhall.test", HoldTTL: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	shortSrv := httptest.NewServer(short.Handler())
	defer shortSrv.Close()
	slot2 := e.slotAt(booths[0], 9, 15)
	req := func(tok string, path string, body string) int {
		rq, _ := http.NewRequestWithContext(e.ctx, "POST", shortSrv.URL+path, strings.NewReader(body))
		rq.Header.Set("Content-Type", "application/json")
		rq.Header.Set("Authorization", "Bearer "+tok)
		res, err := e.client.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if st := req(b, "/api/v1/holds", `{"slot_id":`+itoa(slot2)+`}`); st != http.StatusCreated {
		t.Fatalf("short hold: %d", st)
	}
	time.Sleep(5 * time.Millisecond)
	mustStatus(t, e.book(c, slot2), http.StatusCreated, "book over an expired hold")
	if n := e.count(`SELECT count(*) FROM bookings WHERE seeker_id = $1 AND status = 'expired'`, ss[1]); n != 1 {
		t.Fatalf("%d expired holds, want 1", n)
	}
	// A hold past its time cannot be confirmed; the sweeper expires it.
	if st := req(b, "/api/v1/holds", `{"slot_id":`+itoa(e.slotAt(booths[0], 9, 30))+`}`); st != http.StatusCreated {
		t.Fatalf("short hold: %d", st)
	}
	time.Sleep(5 * time.Millisecond)
	if err := e.svc.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE status = 'held'`); n != 0 {
		t.Fatalf("%d holds left after the sweep", n)
	}
}

func TestPanelAndCaps(t *testing.T) {
	e := newEnv(t)
	var booth int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM booths WHERE fair_id = $1 AND lanes >= 2 ORDER BY id LIMIT 1`, e.fairID).Scan(&booth); err != nil {
		t.Fatal(err)
	}
	ss := e.seekerIDs(22)
	a, b := e.signIn("seeker", ss[0]), e.signIn("seeker", ss[1])
	var l2 int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM slots WHERE booth_id = $1 AND lane = 2 AND during = (SELECT during FROM slots WHERE id = $2)`,
		booth, e.slotAt(booth, 10, 0)).Scan(&l2); err != nil {
		t.Fatal(err)
	}
	p := e.post("/api/v1/bookings", a, map[string]any{"slot_id": e.slotAt(booth, 10, 0), "panel_slot_ids": []int64{l2}})
	mustStatus(t, p, http.StatusCreated, "panel booking")
	if lanes, _ := p.Body["lanes"].([]any); len(lanes) != 2 {
		t.Fatalf("panel %s", p.Raw)
	}
	mustStatus(t, e.book(b, l2), http.StatusConflict, "lane 2 is in the panel")
	mustStatus(t, e.post("/api/v1/bookings", a, map[string]any{"slot_id": e.slotAt(booth, 10, 0), "panel_slot_ids": []int64{e.slotAt(booth, 10, 15)}}),
		http.StatusBadRequest, "panel across times")

	// Daily cap: 3 interviews for lane 1; 20 seekers race for 20 different slots.
	if _, err := e.pool.Exec(e.ctx, `UPDATE booths SET daily_cap = 3 WHERE id = $1`, booth); err != nil {
		t.Fatal(err)
	}
	var slots []int64
	rows, _ := e.pool.Query(e.ctx, `SELECT id FROM slots WHERE booth_id = $1 AND lane = 1 AND lower(during) > (SELECT lower(during) FROM slots WHERE id = $2)
		ORDER BY lower(during) LIMIT 20`, booth, e.slotAt(booth, 10, 0))
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		slots = append(slots, id)
	}
	rows.Close()
	res := make([]resp, 20)
	toks := make([]string, 20)
	for i := range 20 {
		toks[i] = e.signIn("seeker", ss[2+i])
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { res[i] = e.book(toks[i], slots[i]) })
	}
	wg.Wait()
	ok := 0
	for _, r := range res {
		switch {
		case r.Status == http.StatusCreated:
			ok++
		case r.Status != http.StatusConflict || r.str("message") != booking.MsgDailyCap:
			t.Errorf("cap refusal %d %s", r.Status, r.Raw)
		}
	}
	// The panel already holds lane 1 once today: 2 more fit.
	if ok != 2 {
		t.Fatalf("%d bookings under a cap of 3 (1 already taken), want 2", ok)
	}
}

func TestRescheduleIsOneTransaction(t *testing.T) {
	e := newEnv(t)
	ss := e.seekerIDs(2)
	a, b := e.signIn("seeker", ss[0]), e.signIn("seeker", ss[1])
	booths, emps := e.booths(2)
	r := e.book(a, e.slotAt(booths[0], 11, 0))
	mustStatus(t, r, http.StatusCreated, "book")
	id := num(r.Body["id"])
	mustStatus(t, e.book(b, e.slotAt(booths[0], 11, 15)), http.StatusCreated, "other books")
	mustStatus(t, e.post(fmtPath("/api/v1/bookings/%d/reschedule", id), a, map[string]any{"slot_id": e.slotAt(booths[0], 11, 15)}),
		http.StatusConflict, "reschedule onto a taken slot")
	if n := e.count(`SELECT count(*) FROM bookings WHERE id = $1 AND status = 'booked'`, id); n != 1 {
		t.Fatal("a refused reschedule changed the booking")
	}
	mustStatus(t, e.post(fmtPath("/api/v1/bookings/%d/reschedule", id), a, map[string]any{"slot_id": e.slotAt(booths[1], 11, 30)}),
		http.StatusBadRequest, "reschedule to another employer")
	mustStatus(t, e.post(fmtPath("/api/v1/bookings/%d/reschedule", id), e.signIn("employer", emps[1]), map[string]any{"slot_id": e.slotAt(booths[0], 11, 30)}),
		http.StatusForbidden, "another employer reschedules")
	mv := e.post(fmtPath("/api/v1/bookings/%d/reschedule", id), e.signIn("employer", emps[0]), map[string]any{"slot_id": e.slotAt(booths[0], 11, 30)})
	mustStatus(t, mv, http.StatusOK, "employer reschedules")
	newID := num(mv.Body["booking"].(map[string]any)["id"])
	if e.count(`SELECT count(*) FROM bookings WHERE id = $1 AND status = 'rescheduled'`, id) != 1 ||
		e.count(`SELECT count(*) FROM bookings WHERE id = $1 AND status = 'booked' AND rescheduled_from = $2`, newID, id) != 1 ||
		e.count(`SELECT count(*) FROM employment_log WHERE booking_id = $1 AND kind = 'booking_rescheduled'`, newID) != 1 {
		t.Fatal("reschedule did not move the booking in one step")
	}
	cn := e.post(fmtPath("/api/v1/bookings/%d/cancel", newID), a, map[string]any{"reason": "有事"})
	mustStatus(t, cn, http.StatusOK, "cancel")
	mustStatus(t, e.post(fmtPath("/api/v1/bookings/%d/cancel", newID), a, map[string]any{}), http.StatusConflict, "cancel twice")
	mustStatus(t, e.book(b, e.slotAt(booths[0], 11, 30)), http.StatusCreated, "the cancelled slot is free again")
}

func TestSeatsAndQueue(t *testing.T) {
	e := newEnv(t)
	trainer, _ := e.account(booking.RoleTrainer, 0)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	gs := e.post("/api/v1/group-sessions", trainer, map[string]any{"kind": "training", "title": "叉车证培训", "start": start,
		"end": start.Add(2 * time.Hour), "capacity": 5})
	mustStatus(t, gs, http.StatusCreated, "create session")
	mustStatus(t, e.post("/api/v1/group-sessions", trainer, map[string]any{"kind": "training", "title": "x", "start": start,
		"end": start.Add(-time.Hour), "capacity": 5}), http.StatusBadRequest, "reversed range")
	ss := e.seekerIDs(30)
	toks := e.signInAll("seeker", ss)
	res := make([]int, len(ss))
	var wg sync.WaitGroup
	for i := range ss {
		wg.Go(func() {
			res[i] = e.post(fmtPath("/api/v1/group-sessions/%d/seats", num(gs.Body["id"])), toks[i], nil).Status
		})
	}
	wg.Wait()
	if n := len(slices.DeleteFunc(slices.Clone(res), func(s int) bool { return s != http.StatusCreated })); n != 5 {
		t.Fatalf("%d seats taken, want 5: %v", n, res)
	}
	if e.count(`SELECT seats_taken FROM group_sessions WHERE id = $1`, num(gs.Body["id"])) != 5 || e.count(`SELECT count(*) FROM session_seats`) != 5 {
		t.Fatal("seat counter and seats disagree")
	}

	// Walk-in queue: 12 seekers, three lanes calling at once; everyone is called once.
	booths, emps := e.booths(1)
	if _, err := e.pool.Exec(e.ctx, `UPDATE booths SET lanes = 3 WHERE id = $1`, booths[0]); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		mode := "onsite"
		if i%2 == 1 {
			mode = "remote"
		}
		mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue", booths[0]), toks[i], map[string]any{"mode": mode}), http.StatusCreated, "join queue")
	}
	mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue", booths[0]), toks[0], map[string]any{"mode": "onsite"}), http.StatusConflict, "join twice")
	emp := e.signIn("employer", emps[0])
	var mu sync.Mutex
	called := map[int64]int{}
	for lane := 1; lane <= 3; lane++ {
		wg.Go(func() {
			for range 5 {
				r := e.post(fmtPath("/api/v1/booths/%d/queue/next", booths[0]), emp, map[string]any{"lane": lane})
				if r.Status != http.StatusOK {
					t.Errorf("call next: %d %s", r.Status, r.Raw)
					return
				}
				if en, ok := r.Body["entry"].(map[string]any); ok {
					mu.Lock()
					called[num(en["seeker_id"])]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(called) != 12 {
		t.Fatalf("%d seekers called, want 12", len(called))
	}
	for id, n := range called {
		if n != 1 {
			t.Fatalf("seeker %d called %d times", id, n)
		}
	}
}

func TestIdempotencyKeys(t *testing.T) {
	e := newEnv(t)
	ss := e.seekerIDs(1)
	a := e.signIn("seeker", ss[0])
	booths, _ := e.booths(1)
	slot := e.slotAt(booths[0], 14, 0)
	first := e.withKey("POST", "/api/v1/bookings", a, "k-1", map[string]any{"slot_id": slot})
	mustStatus(t, first, http.StatusCreated, "first")
	again := e.withKey("POST", "/api/v1/bookings", a, "k-1", map[string]any{"slot_id": slot})
	if again.Status != first.Status || string(again.Raw) != string(first.Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay %d %s, first %d %s", again.Status, again.Raw, first.Status, first.Raw)
	}
	if n := e.count(`SELECT count(*) FROM bookings`); n != 1 {
		t.Fatalf("%d bookings after a replay", n)
	}
	mustStatus(t, e.withKey("POST", "/api/v1/bookings", a, "k-1", map[string]any{"slot_id": slot + 1}), http.StatusBadRequest, "same key, other body")
	mustStatus(t, e.withKey("POST", "/api/v1/bookings", a, strings.Repeat("x", 201), map[string]any{"slot_id": slot}), http.StatusBadRequest, "long key")
	// Errors replay too: the same refused request under a new key is refused the same way twice.
	c1 := e.withKey("POST", "/api/v1/bookings", a, "k-2", map[string]any{"slot_id": 999999999})
	c2 := e.withKey("POST", "/api/v1/bookings", a, "k-2", map[string]any{"slot_id": 999999999})
	if c1.Status != http.StatusNotFound || string(c1.Raw) != string(c2.Raw) {
		t.Fatalf("error replay %d %s / %s", c1.Status, c1.Raw, c2.Raw)
	}
	// Concurrent duplicates: one runs, the others replay or are told to retry.
	slot2 := e.slotAt(booths[0], 14, 30)
	res := make([]resp, 10)
	var wg sync.WaitGroup
	for i := range res {
		wg.Go(func() { res[i] = e.withKey("POST", "/api/v1/bookings", a, "k-3", map[string]any{"slot_id": slot2}) })
	}
	wg.Wait()
	for _, r := range res {
		if r.Status != http.StatusCreated && r.Status != http.StatusConflict {
			t.Fatalf("concurrent duplicate %d %s", r.Status, r.Raw)
		}
		if r.Status == http.StatusConflict && !strings.Contains(r.str("message"), "in progress") {
			t.Fatalf("concurrent duplicate %s", r.Raw)
		}
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE slot_id = $1`, slot2); n != 1 {
		t.Fatalf("%d bookings from 10 duplicates", n)
	}
}

// TestAuthorizationMatrix calls every route as every role and as nobody:
// a role the route does not list gets 403 with a message, nobody gets 401,
// a listed role gets neither.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	booths, emps := e.booths(1)
	ss := e.seekerIDs(1)
	tokens := map[string]string{
		booking.RoleSeeker:   e.signIn("seeker", ss[0]),
		booking.RoleEmployer: e.signIn("employer", emps[0]),
	}
	tokens[booking.RoleTrainer], _ = e.account(booking.RoleTrainer, 0)
	var officerID int64
	tokens[booking.RoleOfficer], officerID = e.account(booking.RoleOfficer, 0)
	tokens[booking.RoleAdmin], _ = e.account(booking.RoleAdmin, 0)
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO fair_officers (fair_id, account_id) VALUES ($1, $2)`, e.fairID, officerID); err != nil {
		t.Fatal(err)
	}
	bk := e.book(tokens[booking.RoleSeeker], e.slotAt(booths[0], 16, 0))
	mustStatus(t, bk, http.StatusCreated, "booking")
	var job int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM job_posts WHERE employer_id = $1 LIMIT 1`, emps[0]).Scan(&job); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RebuildIndex(e.ctx); err != nil { // the matching routes answer 503 until it is built
		t.Fatal(err)
	}
	recID, err := e.svc.SaveRecording(e.ctx, booking.RecordingFile{Room: booking.RoomForBooking(num(bk.Body["id"])),
		Participant: "seeker-" + itoa(ss[0]), Path: "/nonexistent/matrix.webm", HasVideo: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{"recordings": recID, "fairs": e.fairID, "booths": booths[0], "jobs": job, "employers": emps[0], "seekers": ss[0],
		"bookings": num(bk.Body["id"]), "group-sessions": 1, "queue-entries": 1, "employer-registrations": 1, "alerts": 1, "courses": 1,
		"consultations": 1}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	routes := e.svc.Routes()
	for _, rt := range routes {
		if rt.Path == "/api/v1/booths/{id}/lanes/{lane}/calendar.ics" {
			continue // authorized by the signed token in its URL (TestFlow… checks it)
		}
		parts := strings.Split(strings.TrimPrefix(rt.Path, "/api/v1/"), "/")
		path := param.ReplaceAllStringFunc(rt.Path, func(p string) string {
			if p == "{lane}" {
				return "1"
			}
			return itoa(ids[parts[0]])
		})
		for _, role := range append([]string{""}, booking.Roles...) {
			if rt.Path == "/api/v1/alerts/stream" && slices.Contains(rt.Roles, role) {
				continue // streams until closed (TestAlertRulesFireClearDedupPush reads it)
			}
			var body any
			ctype := ""
			if rt.Method != "GET" && rt.Method != "DELETE" {
				body, ctype = `{"matrix_probe":1}`, "application/json"
			}
			r := e.request(rt.Method, path, tokens[role], ctype, body)
			allowed := len(rt.Roles) == 0 || slices.Contains(rt.Roles, role)
			switch {
			case role == "" && len(rt.Roles) > 0:
				if r.Status != http.StatusUnauthorized {
					t.Errorf("%s %s anonymous: %d %s, want 401", rt.Method, path, r.Status, r.Raw)
				}
			case !allowed:
				if r.Status != http.StatusForbidden || !strings.Contains(r.str("message"), "/ only") {
					t.Errorf("%s %s as %s: %d %s, want 403 with a message", rt.Method, path, role, r.Status, r.Raw)
				}
			default:
				if r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden || r.Status >= 500 {
					t.Errorf("%s %s as %s (allowed): %d %s", rt.Method, path, role, r.Status, r.Raw)
				}
			}
		}
	}
	// Ownership: the right role on someone else's things is refused with 403.
	_, otherEmps := e.booths(2)
	other := e.signIn("employer", otherEmps[1])
	otherSeeker := e.signIn("seeker", e.seekerIDs(2)[1])
	officer2, _ := e.account(booking.RoleOfficer, 0)
	for _, c := range []struct{ method, path, token string }{
		{"GET", fmtPath("/api/v1/booths/%d/schedule", booths[0]), other},
		{"GET", fmtPath("/api/v1/booths/%d/schedule", booths[0]), officer2},
		{"GET", fmtPath("/api/v1/fairs/%d/bookings", e.fairID), officer2},
		{"GET", fmtPath("/api/v1/jobs/%d/applications", job), other},
		{"GET", fmtPath("/api/v1/bookings/%d/calendar.ics", num(bk.Body["id"])), otherSeeker},
		{"POST", fmtPath("/api/v1/bookings/%d/cancel", num(bk.Body["id"])), otherSeeker},
		{"POST", fmtPath("/api/v1/bookings/%d/outcome", num(bk.Body["id"])), other},
		{"GET", fmtPath("/api/v1/seekers/%d/card", ss[0]), other},
		{"POST", fmtPath("/api/v1/booths/%d/arrive", booths[0]), other},
		{"GET", fmtPath("/api/v1/fairs/%d/stats", e.fairID), officer2},
		{"GET", fmtPath("/api/v1/fairs/%d/employer-registrations", e.fairID), officer2},
		{"GET", fmtPath("/api/v1/fairs/%d/report.csv", e.fairID), officer2},
		{"GET", fmtPath("/api/v1/recordings/%d/media", recID), otherSeeker},
		{"GET", fmtPath("/api/v1/recordings/%d/media", recID), other},
		{"GET", fmtPath("/api/v1/recordings/%d/media", recID), officer2},
		{"GET", fmtPath("/api/v1/bookings/%d/recordings", num(bk.Body["id"])), otherSeeker},
		{"GET", fmtPath("/api/v1/bookings/%d/recordings", num(bk.Body["id"])), other},
		{"GET", fmtPath("/api/v1/seekers/%d/recordings", ss[0]), officer2},
		{"GET", fmtPath("/api/v1/seekers/%d/log.csv", ss[0]), officer2},
		{"GET", fmtPath("/api/v1/seekers/%d/log.json", ss[0]), officer2},
		{"GET", fmtPath("/api/v1/jobs/%d/candidates", job), other},
		{"GET", fmtPath("/api/v1/jobs/%d/candidates", job), officer2},
		{"GET", fmtPath("/api/v1/jobs/%d/match?seeker_id=%d", job, ss[0]), other},
		{"GET", fmtPath("/api/v1/jobs/%d/match?seeker_id=%d", job, ss[0]), otherSeeker},
		{"POST", fmtPath("/api/v1/jobs/%d/close", job), other},
		{"POST", fmtPath("/api/v1/fairs/%d/schedule-runs", e.fairID), officer2},
		{"GET", fmtPath("/api/v1/booths/%d/timetable", booths[0]), other},
		{"GET", fmtPath("/api/v1/booths/%d/timetable", booths[0]), officer2},
	} {
		var body any
		ctype := ""
		if c.method == "POST" {
			body, ctype = `{}`, "application/json"
		}
		if r := e.request(c.method, c.path, c.token, ctype, body); r.Status != http.StatusForbidden || r.str("message") == "" {
			t.Errorf("%s %s by a stranger: %d %s, want 403", c.method, c.path, r.Status, r.Raw)
		}
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE status = 'booked'`); n != 1 {
		t.Fatalf("the matrix changed bookings: %d booked", n)
	}
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	e := newEnv(t)
	r := e.get("/api/v1/openapi.json", "")
	mustStatus(t, r, http.StatusOK, "openapi")
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.Raw, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("document: %v %s", err, doc.OpenAPI)
	}
	n := 0
	for _, rt := range e.svc.Routes() {
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s is not documented", rt.Method, rt.Path)
			continue
		}
		n++
		if op["summary"] == "" || op["responses"] == nil {
			t.Errorf("%s %s lacks a summary or responses", rt.Method, rt.Path)
		}
		if rt.Body != "" && doc.Components.Schemas[rt.Body] == nil {
			t.Errorf("%s %s body schema %q missing", rt.Method, rt.Path, rt.Body)
		}
		if strings.Contains(rt.Path, "{") && op["parameters"] == nil {
			t.Errorf("%s %s path parameters undocumented", rt.Method, rt.Path)
		}
	}
	total := 0
	for _, ops := range doc.Paths {
		total += len(ops)
	}
	if total != n {
		t.Fatalf("document has %d operations, the router %d", total, n)
	}
	// Every route is actually served (no 404 from the catch-all).
	for _, rt := range e.svc.Routes() {
		path := regexp.MustCompile(`\{[a-z_]+\}`).ReplaceAllString(rt.Path, "1")
		if r := e.request(rt.Method, path, "", "", nil); r.Status == http.StatusNotFound && strings.Contains(r.str("message"), "no such API route") {
			t.Errorf("%s %s documented but not routed", rt.Method, rt.Path)
		}
	}
}

// receiver is a webhook endpoint that checks signatures.
type receiver struct {
	mu     sync.Mutex
	got    []map[string]any
	secret string
	fail   int // fail this many deliveries first
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts, _ := strconv.ParseInt(r.Header.Get("X-Jobhall-Timestamp"), 10, 64)
	if r.Header.Get("X-Jobhall-Signature") != booking.SignWebhook(rc.secret, ts, body) {
		http.Error(w, "bad signature", 401)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "try later", 503)
		return
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	rc.got = append(rc.got, m)
}

func (rc *receiver) events() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, m := range rc.got {
		out = append(out, m["event"].(string))
	}
	return out
}

func TestFlowApplyInviteConfirmOutcomeWebhooks(t *testing.T) {
	e := newEnv(t)
	booths, emps := e.booths(1)
	emp := e.signIn("employer", emps[0])
	rc := &receiver{secret: "a-webhook-secret-123456", fail: 1}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	mustStatus(t, e.post("/api/v1/webhooks", emp, map[string]any{"url": hook.URL, "events": booking.Events, "secret": rc.secret}),
		http.StatusCreated, "subscribe")
	mustStatus(t, e.post("/api/v1/webhooks", emp, map[string]any{"url": hook.URL, "events": []string{"booking.exploded"}}),
		http.StatusBadRequest, "unknown event")

	job := e.post("/api/v1/jobs", emp, map[string]any{"title": "焊工", "headcount": 3, "salary_min": 5000, "salary_max": 7000, "skills": []string{"电焊"}})
	mustStatus(t, job, http.StatusCreated, "post job")
	mustStatus(t, e.post("/api/v1/jobs", emp, map[string]any{"title": "x", "headcount": 1, "salary_min": 7000, "salary_max": 5000}),
		http.StatusBadRequest, "reversed salary")
	jobID := num(job.Body["id"])
	seekerID := e.seekerIDs(1)[0]
	sk := e.signIn("seeker", seekerID)
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d", jobID), sk), http.StatusOK, "view job")
	app := e.post(fmtPath("/api/v1/jobs/%d/applications", jobID), sk, map[string]any{"note": "有焊工证"})
	mustStatus(t, app, http.StatusCreated, "apply")
	mustStatus(t, e.post(fmtPath("/api/v1/jobs/%d/applications", jobID), sk, map[string]any{}), http.StatusConflict, "apply twice")
	apps := e.get(fmtPath("/api/v1/jobs/%d/applications", jobID), emp)
	mustStatus(t, apps, http.StatusOK, "applicants")
	if len(apps.Body["applications"].([]any)) != 1 {
		t.Fatalf("applicants %s", apps.Raw)
	}
	ranked := e.get(fmtPath("/api/v1/jobs/%d/slots?limit=5", jobID), sk)
	mustStatus(t, ranked, http.StatusOK, "ranked slots")
	if len(ranked.Body["slots"].([]any)) != 5 {
		t.Fatalf("ranked %s", ranked.Raw)
	}
	slot := e.slotAt(booths[0], 15, 0)
	inv := e.post("/api/v1/invitations", emp, map[string]any{"application_id": num(app.Body["id"]), "slot_id": slot})
	mustStatus(t, inv, http.StatusCreated, "invite")
	id := num(inv.Body["id"])
	mustStatus(t, e.post(fmtPath("/api/v1/bookings/%d/confirm", id), sk, nil), http.StatusOK, "seeker confirms")
	ics := e.request("GET", fmtPath("/api/v1/bookings/%d/calendar.ics", id), sk, "", nil)
	if ics.Status != 200 || !strings.Contains(string(ics.Raw), "BEGIN:VEVENT") || !strings.Contains(string(ics.Raw), "\r\nUID:booking-") {
		t.Fatalf("ics %d %s", ics.Status, ics.Raw)
	}
	feeds := e.get(fmtPath("/api/v1/booths/%d/calendar-feeds", booths[0]), emp)
	mustStatus(t, feeds, http.StatusOK, "feeds")
	feedURL := feeds.Body["feeds"].([]any)[0].(map[string]any)["url"].(string)
	feed := e.request("GET", strings.TrimPrefix(feedURL, "http://jobhall.test"), "", "", nil)
	if feed.Status != 200 || !strings.Contains(string(feed.Raw), fmt.Sprintf("UID:booking-%d@jobhall", id)) {
		t.Fatalf("feed %d %s", feed.Status, feed.Raw)
	}
	mustStatus(t, e.request("GET", strings.TrimPrefix(feedURL, "http://jobhall.test")+"x", "", "", nil), http.StatusForbidden, "bad feed token")

	// The interview happens: a clock after the start lets the outcome in.
	later, err := booking.NewService(booking.Config{Pool: e.pool, Tokens: e.tokens, SessionSecret: []byte(sessionSecret), PublicURL: "http://x.test",
		Now: func() time.Time { return e.slotTime(slot).Add(20 * time.Minute) }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	room := booking.RoomForBooking(id)
	for _, k := range []string{booking.KindSeekerJoined, booking.KindInterviewStarted, booking.KindInterviewEnded, booking.KindRecordingSaved} {
		if err := later.RecordRoomEvent(e.ctx, room, k, time.Time{}, map[string]any{"file": "/secret/path.webm"}); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	srv := httptest.NewServer(later.Handler())
	defer srv.Close()
	el := *e
	el.srv = srv
	emp = el.signIn("employer", emps[0]) // a session from the later clock
	rq, _ := http.NewRequestWithContext(e.ctx, "POST", srv.URL+fmtPath("/api/v1/bookings/%d/outcome", id), strings.NewReader(`{"outcome":"hire_intent"}`))
	rq.Header.Set("Content-Type", "application/json")
	rq.Header.Set("Authorization", "Bearer "+emp)
	res, err := e.client.Do(rq)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("outcome: %v %v", err, res.Status)
	}
	res.Body.Close()
	if err := later.Sweep(e.ctx); err != nil { // the seeker joined: no no-show
		t.Fatal(err)
	}
	// Deliver: the first attempt fails (503) and is retried later.
	for range 3 {
		if _, err := e.svc.DeliverDue(e.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pool.Exec(e.ctx, `UPDATE outbox SET due_at = now() - interval '1 second' WHERE delivered_at IS NULL AND kind = 'webhook'`); err != nil {
			t.Fatal(err)
		}
	}
	got := rc.events()
	for _, want := range []string{"booking.created", "interview.started", "interview.ended", "recording.ready", "outcome.recorded"} {
		if !slices.Contains(got, want) {
			t.Errorf("webhook %s not delivered; got %v", want, got)
		}
	}
	if slices.Contains(got, "booking.no_show") {
		t.Error("no-show sent for a seeker who joined")
	}
	for _, m := range rc.got {
		if num(m["version"]) != 1 || strings.Contains(fmt.Sprint(m["data"]), "/secret/") {
			t.Errorf("payload %v", m)
		}
	}
	var kinds []string
	rows, _ := e.pool.Query(e.ctx, `SELECT kind FROM employment_log WHERE seeker_id = $1 ORDER BY id`, seekerID)
	for rows.Next() {
		var k string
		rows.Scan(&k)
		kinds = append(kinds, k)
	}
	rows.Close()
	if want := "application_submitted,invited,booking_made,interview_started,interview_ended,recording_saved,outcome_recorded"; strings.Join(kinds, ",") != want {
		t.Fatalf("log %v, want %s", kinds, want)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE kind = 'reminder' AND booking_id = $1`, id); n < 1 {
		t.Fatalf("%d reminders queued", n)
	}
}

func (e *env) slotTime(id int64) time.Time {
	var t time.Time
	if err := e.pool.QueryRow(e.ctx, `SELECT lower(during) FROM slots WHERE id = $1`, id).Scan(&t); err != nil {
		e.t.Fatal(err)
	}
	return t
}

func TestNoShowMarkedAutomatically(t *testing.T) {
	e := newEnv(t)
	ss := e.seekerIDs(2)
	booths, _ := e.booths(1)
	s1, s2 := e.slotAt(booths[0], 9, 0), e.slotAt(booths[0], 9, 15)
	b1 := e.book(e.signIn("seeker", ss[0]), s1)
	b2 := e.book(e.signIn("seeker", ss[1]), s2)
	mustStatus(t, b1, http.StatusCreated, "b1")
	mustStatus(t, b2, http.StatusCreated, "b2")
	later, err := booking.NewService(booking.Config{Pool: e.pool, Tokens: e.tokens, SessionSecret: []byte(sessionSecret), PublicURL: "http://x.test",
		Now: func() time.Time { return e.slotTime(s2).Add(6 * time.Minute) }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := later.RecordRoomEvent(e.ctx, booking.RoomForBooking(num(b2.Body["id"])), booking.KindSeekerJoined, e.slotTime(s2).Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := later.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if e.count(`SELECT count(*) FROM outcomes WHERE booking_id = $1 AND outcome = 'no_show' AND recorded_by = 'system'`, num(b1.Body["id"])) != 1 ||
		e.count(`SELECT count(*) FROM outcomes WHERE booking_id = $1`, num(b2.Body["id"])) != 0 ||
		e.count(`SELECT count(*) FROM employment_log WHERE kind = 'no_show'`) != 1 {
		t.Fatal("no-show marking wrong")
	}
}

// smsBox captures sign-in codes instead of sending them.
type smsBox struct {
	mu    sync.Mutex
	codes map[string]string
}

func (b *smsBox) SendCode(_ context.Context, phone, code string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.codes[phone] = code
	return nil
}

func TestSignInProfileConsentAudit(t *testing.T) {
	e := newEnv(t)
	box := &smsBox{codes: map[string]string{}}
	svc, err := booking.NewService(booking.Config{Pool: e.pool, Tokens: e.tokens, SessionSecret: []byte(sessionSecret), PublicURL: "http://x.test",
		SMS: box, PasswordIterations: 1000, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	e2 := *e
	e2.srv = srv
	phone := "13912345678"
	mustStatus(t, e2.post("/api/v1/auth/otp", "", map[string]any{"phone": phone}), http.StatusAccepted, "request code")
	mustStatus(t, e2.post("/api/v1/auth/otp", "", map[string]any{"phone": phone}), http.StatusTooManyRequests, "second code within a minute")
	mustStatus(t, e2.post("/api/v1/auth/otp", "", map[string]any{"phone": "12345"}), http.StatusBadRequest, "bad phone")
	wrong := "000000"
	if box.codes[phone] == wrong {
		wrong = "111111"
	}
	mustStatus(t, e2.post("/api/v1/auth/otp/verify", "", map[string]any{"phone": phone, "code": wrong}), http.StatusUnauthorized, "wrong code")
	in := e2.post("/api/v1/auth/otp/verify", "", map[string]any{"phone": phone, "code": box.codes[phone]})
	mustStatus(t, in, http.StatusOK, "verify")
	if in.Body["registered"] != true || in.str("role") != "seeker" {
		t.Fatalf("verify %s", in.Raw)
	}
	mustStatus(t, e2.post("/api/v1/auth/otp/verify", "", map[string]any{"phone": phone, "code": box.codes[phone]}), http.StatusUnauthorized, "code reused")
	sk, skID := in.str("token"), num(in.Body["id"])

	mustStatus(t, e.request("PUT", "/api/v1/me/profile", sk, "application/json", map[string]any{"national_id": "110101199003070000"}),
		http.StatusBadRequest, "bad check digit")
	pr := e.request("PUT", "/api/v1/me/profile", sk, "application/json", map[string]any{"name": "马小花", "national_id": "11010119900307803X",
		"skills": []string{"收银"}, "consent_profile_visible": true})
	mustStatus(t, pr, http.StatusOK, "profile")
	if pr.str("national_id") != "**************803X" || pr.str("name") != "马小花" {
		t.Fatalf("profile %s", pr.Raw)
	}
	var raw []byte
	if err := e.pool.QueryRow(e.ctx, `SELECT national_id_enc FROM seekers WHERE id = $1`, skID).Scan(&raw); err != nil || strings.Contains(string(raw), "1101011990") {
		t.Fatalf("national ID not protected at rest: %v", err)
	}

	_, emps := e.booths(2)
	emp, other := e.signIn("employer", emps[0]), e.signIn("employer", emps[1])
	var job int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM job_posts WHERE employer_id = $1 LIMIT 1`, emps[0]).Scan(&job); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.get(fmtPath("/api/v1/seekers/%d/card", skID), emp), http.StatusForbidden, "card before any view")
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d", job), sk), http.StatusOK, "seeker views job")
	vw := e.get(fmtPath("/api/v1/jobs/%d/viewers", job), emp)
	if len(vw.Body["viewers"].([]any)) != 1 {
		t.Fatalf("viewers %s", vw.Raw)
	}
	card := e.get(fmtPath("/api/v1/seekers/%d/card", skID), emp)
	mustStatus(t, card, http.StatusOK, "card after a consented view")
	if card.str("phone") != "" || card.str("national_id") != "" || card.Body["poverty_registered"] != nil || card.str("name") != "马小花" {
		t.Fatalf("employer card shows too much: %s", card.Raw)
	}
	mustStatus(t, e.get(fmtPath("/api/v1/seekers/%d/card", skID), other), http.StatusForbidden, "another employer")
	e.request("PUT", "/api/v1/me/profile", sk, "application/json", map[string]any{"consent_profile_visible": false})
	mustStatus(t, e.get(fmtPath("/api/v1/seekers/%d/card", skID), emp), http.StatusForbidden, "consent withdrawn")
	audit := e.get("/api/v1/me/audit", sk)
	if es := audit.Body["entries"].([]any); len(es) != 1 || es[0].(map[string]any)["actor"] != "employer:"+itoa(emps[0]) {
		t.Fatalf("audit %s", audit.Raw)
	}
	if _, err := e.pool.Exec(e.ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("audit log is not append-only")
	}

	// Password sign-in for staff; an unverified employer cannot post or take a booth.
	admin, _ := e.account(booking.RoleAdmin, 0)
	mustStatus(t, e.post("/api/v1/auth/login", "", map[string]any{"login": "nobody", "password": "whatever-long"}), http.StatusUnauthorized, "unknown login")
	ne := e.post("/api/v1/employers", admin, map[string]any{"name": "新单位有限公司"})
	mustStatus(t, ne, http.StatusCreated, "new employer")
	staff := e.post("/api/v1/accounts", admin, map[string]any{"login": "hr.new", "name": "HR", "role": "employer", "password": "0123456789ab",
		"employer_id": num(ne.Body["id"])})
	mustStatus(t, staff, http.StatusCreated, "staff account")
	st := e.post("/api/v1/auth/login", "", map[string]any{"login": "hr.new", "password": "0123456789ab"})
	mustStatus(t, st, http.StatusOK, "staff login")
	r := e.post("/api/v1/jobs", st.str("token"), map[string]any{"title": "普工", "headcount": 1})
	mustStatus(t, r, http.StatusForbidden, "unverified employer posts")
	mustStatus(t, e.post(fmtPath("/api/v1/fairs/%d/booths", e.fairID), admin, map[string]any{"employer_id": num(ne.Body["id"])}), http.StatusForbidden, "unverified booth")
	mustStatus(t, e.post(fmtPath("/api/v1/employers/%d/verify", num(ne.Body["id"])), admin, nil), http.StatusOK, "verify")
	mustStatus(t, e.post("/api/v1/jobs", st.str("token"), map[string]any{"title": "普工", "headcount": 1}), http.StatusCreated, "verified employer posts")
}

func TestAvailabilityAndWindows(t *testing.T) {
	e := newEnv(t)
	booths, emps := e.booths(1)
	emp := e.signIn("employer", emps[0])
	sk := e.signIn("seeker", e.seekerIDs(1)[0])
	path := fmtPath("/api/v1/booths/%d/availability", booths[0])
	mustStatus(t, e.request("PUT", path, emp, "application/json", map[string]any{"rules": []any{map[string]any{"starts": "12:00", "ends": "09:00"}}}),
		http.StatusBadRequest, "reversed rule")
	mustStatus(t, e.request("PUT", path, emp, "application/json", map[string]any{"rules": []any{map[string]any{"starts": "10:00", "ends": "10:00"}}}),
		http.StatusBadRequest, "empty rule")
	before := e.count(`SELECT count(*) FROM slots WHERE booth_id = $1 AND open`, booths[0])
	r := e.request("PUT", path, emp, "application/json", map[string]any{"rules": []any{map[string]any{"starts": "09:00", "ends": "10:00", "lane": 1}}})
	mustStatus(t, r, http.StatusOK, "availability")
	if num(r.Body["open_slots"]) != 4 || e.count(`SELECT count(*) FROM slots WHERE booth_id = $1 AND open`, booths[0]) != 4 || before <= 4 {
		t.Fatalf("availability %s (before %d open)", r.Raw, before)
	}
	r = e.book(sk, e.slotAt(booths[0], 11, 0))
	mustStatus(t, r, http.StatusConflict, "booking outside availability")
	if r.str("message") != booking.MsgSlotClosed {
		t.Fatalf("message %q", r.str("message"))
	}
	mustStatus(t, e.book(sk, e.slotAt(booths[0], 9, 45)), http.StatusCreated, "inside availability")
	// Outside the booking window.
	if _, err := e.pool.Exec(e.ctx, `UPDATE fairs SET booking_closes = now() - interval '1 minute', booking_opens = now() - interval '1 hour' WHERE id = $1`, e.fairID); err != nil {
		t.Fatal(err)
	}
	r = e.book(e.signIn("seeker", e.seekerIDs(2)[1]), e.slotAt(booths[0], 9, 30))
	if r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "closed") {
		t.Fatalf("after the window: %d %s", r.Status, r.Raw)
	}
	officer, _ := e.account(booking.RoleOfficer, 0)
	mustStatus(t, e.post("/api/v1/fairs", officer, map[string]any{"name": "x", "day": "2030-01-01", "booking_opens": "2029-12-02T00:00:00Z",
		"booking_closes": "2029-12-01T00:00:00Z"}), http.StatusBadRequest, "reversed booking window")
	f := e.post("/api/v1/fairs", officer, map[string]any{"name": "春风行动", "day": "2030-01-01", "booking_opens": "2029-12-01T00:00:00Z",
		"booking_closes": "2030-01-01T00:00:00Z"})
	mustStatus(t, f, http.StatusCreated, "create fair")
	mustStatus(t, e.get(fmtPath("/api/v1/fairs/%d/bookings", num(f.Body["id"])), officer), http.StatusOK, "officer sees own fair")
	mustStatus(t, e.get(fmtPath("/api/v1/fairs/%d/bookings", e.fairID), officer), http.StatusForbidden, "officer of another fair")
	m := e.get(fmtPath("/api/v1/fairs/%d/free-slots", e.fairID), "")
	mustStatus(t, m, http.StatusOK, "free-slot map")
	if len(m.Body["booths"].([]any)) < 200 {
		t.Fatalf("free-slot map covers %d booths", len(m.Body["booths"].([]any)))
	}
}

func TestGenerateScaleSmall(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t)
	pool, _ := pgtest.New(t, booking.Migrate)
	var out strings.Builder
	o := booking.ScaleOptions{Seed: 3, Profiles: 3000, Employers: 40, JobPosts: 200, Booths: 25, Attendees: 400}
	sum, err := booking.GenerateScale(ctx, pool, o, &out)
	if err != nil {
		t.Fatalf("GenerateScale: %v\n%s", err, out.String())
	}
	if sum.Profiles != 3000 || sum.Booths != 25 || sum.Booked != 400 || sum.Slots < 25*26 || !strings.Contains(out.String(), "seekers: 3000 rows") {
		t.Fatalf("summary %+v\n%s", sum, out.String())
	}
	counts := map[string]int{`SELECT count(*) FROM seekers`: 3000, `SELECT count(*) FROM job_posts`: 200, `SELECT count(*) FROM employers`: 40,
		`SELECT count(*) FROM booths`: 25, `SELECT count(*) FROM bookings WHERE status = 'booked'`: 400,
		`SELECT count(DISTINCT seeker_id) FROM bookings`:                                                           400,
		`SELECT count(*) FROM employers e WHERE NOT EXISTS (SELECT 1 FROM job_posts j WHERE j.employer_id = e.id)`: 0}
	for q, want := range counts {
		if n := countWhere(t, ctx, pool, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
	if n := countWhere(t, ctx, pool, overlapSQL); n != 0 {
		t.Fatalf("%d overlapping bookings", n)
	}
}

// overlapSQL counts pairs of active bookings that overlap on a lane or for a seeker.
const overlapSQL = `SELECT count(*) FROM bookings a JOIN bookings b ON a.id < b.id AND a.during && b.during
	AND a.status IN ('held', 'booked') AND b.status IN ('held', 'booked')
	AND ((a.booth_id = b.booth_id AND a.lane = b.lane) OR (a.seeker_id = b.seeker_id AND a.group_id <> b.group_id))`
