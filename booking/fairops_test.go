package booking_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"jobhall/booking"
)

// officerOf creates an officer account running fairID.
func (e *env) officerOf(fairID int64) string {
	e.t.Helper()
	tok, id := e.account(booking.RoleOfficer, 0)
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO fair_officers (fair_id, account_id) VALUES ($1, $2)`, fairID, id); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func TestEmployerRegistrationReviewAndBoothWindow(t *testing.T) {
	e := newEnv(t)
	officer, _ := e.account(booking.RoleOfficer, 0)
	day := testDay.AddDate(0, 0, 1)
	f := e.post("/api/v1/fairs", officer, map[string]any{"name": "秋季招聘会", "day": day.Format(time.DateOnly),
		"booking_opens": time.Now().Add(-time.Hour), "booking_closes": day.Add(24 * time.Hour)})
	mustStatus(t, f, http.StatusCreated, "create fair")
	fair := num(f.Body["id"])
	var emps [3]int64
	for i := range emps {
		r := e.post("/api/v1/employers", officer, map[string]any{"name": fmtPath("新单位%d", i), "industry": "制造业", "county": "城关区"})
		mustStatus(t, r, http.StatusCreated, "create employer")
		emps[i] = num(r.Body["id"])
	}
	toks := [3]string{}
	regs := [3]int64{}
	for i, id := range emps {
		toks[i] = e.signIn("employer", id)
		r := e.post(fmtPath("/api/v1/fairs/%d/employer-registrations", fair), toks[i], map[string]any{"lanes": 2, "note": "需要电源"})
		mustStatus(t, r, http.StatusCreated, "register employer")
		regs[i] = num(r.Body["id"])
	}
	mustStatus(t, e.post(fmtPath("/api/v1/fairs/%d/employer-registrations", fair), toks[0], map[string]any{}), http.StatusConflict, "register twice")
	mustStatus(t, e.post(fmtPath("/api/v1/fairs/%d/employer-registrations", e.fairID), e.signIn("employer", e.firstEmployer()), map[string]any{}),
		http.StatusConflict, "employer with a booth already")
	list := e.get(fmtPath("/api/v1/fairs/%d/employer-registrations?status=pending", fair), officer)
	mustStatus(t, list, http.StatusOK, "list")
	if n := len(list.Body["registrations"].([]any)); n != 3 {
		t.Fatalf("%d pending registrations, want 3", n)
	}
	review := func(reg int64, body map[string]any) resp {
		return e.post(fmtPath("/api/v1/employer-registrations/%d/review", reg), officer, body)
	}
	// Bad input and refusals write nothing.
	mustStatus(t, review(regs[0], map[string]any{"decision": "approve"}), http.StatusBadRequest, "approve without a hall position")
	mustStatus(t, review(regs[0], map[string]any{"decision": "maybe"}), http.StatusBadRequest, "bad decision")
	r := review(regs[0], map[string]any{"decision": "approve", "hall_position": "E馆 01号"})
	if r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "verify") {
		t.Fatalf("approve unverified: %d %s", r.Status, r.Raw)
	}
	for _, id := range emps {
		mustStatus(t, e.post(fmtPath("/api/v1/employers/%d/verify", id), officer, nil), http.StatusOK, "verify")
	}
	r = review(regs[0], map[string]any{"decision": "approve", "hall_position": "E馆 01号", "lanes": 3})
	mustStatus(t, r, http.StatusOK, "approve")
	if r.str("status") != "approved" || num(r.Body["booth_id"]) == 0 || num(r.Body["lanes"]) != 3 {
		t.Fatalf("approval %s", r.Raw)
	}
	r = review(regs[1], map[string]any{"decision": "approve", "hall_position": "E馆 01号"})
	if r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "hall position") {
		t.Fatalf("same hall position: %d %s", r.Status, r.Raw)
	}
	if n := e.count(`SELECT count(*) FROM booths WHERE employer_id = $1`, emps[1]); n != 0 {
		t.Fatalf("refused approval left %d booths", n)
	}
	if st := e.str1(`SELECT status FROM fair_employer_registrations WHERE id = $1`, regs[1]); st != "pending" {
		t.Fatalf("refused approval left status %s", st)
	}
	mustStatus(t, review(regs[1], map[string]any{"decision": "approve", "hall_position": "E馆 02号"}), http.StatusOK, "approve at another position")
	mustStatus(t, review(regs[2], map[string]any{"decision": "reject", "note": "资料不全"}), http.StatusOK, "reject")
	mustStatus(t, review(regs[2], map[string]any{"decision": "approve", "hall_position": "E馆 03号"}), http.StatusConflict, "review twice")
	if n := e.count(`SELECT count(*) FROM booths WHERE fair_id = $1`, fair); n != 2 {
		t.Fatalf("%d booths at the new fair, want 2", n)
	}
	// Another fair's officer cannot review.
	other, _ := e.account(booking.RoleOfficer, 0)
	if r := e.post(fmtPath("/api/v1/employer-registrations/%d/review", regs[2]), other, map[string]any{"decision": "reject"}); r.Status != http.StatusForbidden {
		t.Fatalf("stranger review: %d %s", r.Status, r.Raw)
	}

	// Booking window: closing it refuses bookings, reopening takes them.
	demoOfficer := e.officerOf(e.fairID)
	booths, _ := e.booths(1)
	seeker := e.signIn("seeker", e.seekerIDs(1)[0])
	mustStatus(t, e.request("PUT", fmtPath("/api/v1/fairs/%d/booking-window", e.fairID), demoOfficer, "application/json",
		map[string]any{"opens": time.Now(), "closes": time.Now().Add(-time.Hour)}), http.StatusBadRequest, "reversed window")
	w := e.request("PUT", fmtPath("/api/v1/fairs/%d/booking-window", e.fairID), demoOfficer, "application/json",
		map[string]any{"opens": time.Now().Add(-48 * time.Hour), "closes": time.Now().Add(-time.Hour)})
	mustStatus(t, w, http.StatusOK, "close window")
	if w.Body["booking_open"] != false {
		t.Fatalf("window %s", w.Raw)
	}
	if r := e.book(seeker, e.slotAt(booths[0], 9, 0)); r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "closed") {
		t.Fatalf("booking with the window closed: %d %s", r.Status, r.Raw)
	}
	mustStatus(t, e.request("PUT", fmtPath("/api/v1/fairs/%d/booking-window", e.fairID), demoOfficer, "application/json",
		map[string]any{"opens": time.Now().Add(-time.Hour), "closes": testDay.Add(24 * time.Hour)}), http.StatusOK, "reopen window")
	mustStatus(t, e.book(seeker, e.slotAt(booths[0], 9, 0)), http.StatusCreated, "booking with the window open")
}

func (e *env) firstEmployer() int64 {
	_, emps := e.booths(1)
	return emps[0]
}

func (e *env) str1(sql string, args ...any) string {
	e.t.Helper()
	var s string
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&s); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestQRCheckInOnceOnlyRegisteredThisFair(t *testing.T) {
	e := newEnv(t)
	officer := e.officerOf(e.fairID)
	ss := e.seekerIDs(4)
	toks := e.signInAll("seeker", ss)
	reg := e.post(fmtPath("/api/v1/fairs/%d/registrations", e.fairID), toks[0], nil)
	mustStatus(t, reg, http.StatusCreated, "register")
	code := reg.str("qr_code")
	again := e.post(fmtPath("/api/v1/fairs/%d/registrations", e.fairID), toks[0], nil)
	mustStatus(t, again, http.StatusOK, "register again")
	if again.str("qr_code") != code {
		t.Fatalf("a second registration gave another code: %s vs %s", again.str("qr_code"), code)
	}
	mine := e.get("/api/v1/me/fair-registrations", toks[0])
	if regs := mine.Body["registrations"].([]any); len(regs) != 1 || regs[0].(map[string]any)["qr_code"] != code {
		t.Fatalf("my registrations %s", mine.Raw)
	}
	// The pass as an image for the entrance scanner: the owner's only.
	regID := num(reg.Body["id"])
	img := e.get(fmtPath("/api/v1/me/fair-registrations/%d/qr.png", regID), toks[0])
	mustStatus(t, img, http.StatusOK, "pass image")
	if !bytes.HasPrefix(img.Raw, []byte("\x89PNG")) {
		t.Fatalf("pass image is not a PNG: %.20q", img.Raw)
	}
	mustStatus(t, e.get(fmtPath("/api/v1/me/fair-registrations/%d/qr.png", regID), toks[1]), http.StatusNotFound, "someone else's pass")

	// Another fair (tomorrow's) and a seeker registered only there.
	admin, _ := e.account(booking.RoleAdmin, 0)
	day := testDay.AddDate(0, 0, 1)
	f2 := e.post("/api/v1/fairs", admin, map[string]any{"name": "另一场", "day": day.Format(time.DateOnly),
		"booking_opens": time.Now().Add(-time.Hour), "booking_closes": day.Add(24 * time.Hour)})
	mustStatus(t, f2, http.StatusCreated, "second fair")
	other := e.post(fmtPath("/api/v1/fairs/%d/registrations", num(f2.Body["id"])), toks[1], nil)
	mustStatus(t, other, http.StatusCreated, "register at the other fair")

	checkIn := func(code string) resp {
		return e.post(fmtPath("/api/v1/fairs/%d/checkin", e.fairID), officer, map[string]any{"qr_code": code})
	}
	forged := code[:len(code)-2] + "AA"
	if forged == code {
		forged = code[:len(code)-2] + "BB"
	}
	for name, c := range map[string]string{"garbage": "hello", "forged MAC": forged, "never issued": e.svc.QRCode(987654321)} {
		if r := checkIn(c); r.Status != http.StatusNotFound || !strings.Contains(r.str("message"), "unknown QR code") {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	mustStatus(t, checkIn(""), http.StatusBadRequest, "empty code")
	if r := checkIn(other.str("qr_code")); r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "another fair") {
		t.Fatalf("other fair's code: %d %s", r.Status, r.Raw)
	}
	// Eight scanners at once: exactly one check-in.
	res := make([]int, 8)
	var wg sync.WaitGroup
	for i := range res {
		wg.Go(func() { res[i] = checkIn(code).Status })
	}
	wg.Wait()
	ok := 0
	for _, st := range res {
		switch st {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			t.Fatalf("concurrent check-in status %d", st)
		}
	}
	if ok != 1 {
		t.Fatalf("%d check-ins succeeded, want 1: %v", ok, res)
	}
	if r := checkIn(code); r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "already used") {
		t.Fatalf("reused code: %d %s", r.Status, r.Raw)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE kind = 'fair_checked_in'`); n != 1 {
		t.Fatalf("%d check-in log entries, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM fair_attendees WHERE checked_in_at IS NOT NULL`); n != 1 {
		t.Fatalf("%d attendees checked in, want 1", n)
	}
	// The database refuses a second check-in whatever the application does.
	if _, err := e.pool.Exec(e.ctx, `UPDATE fair_attendees SET checked_in_at = now() WHERE checked_in_at IS NOT NULL`); err == nil {
		t.Fatal("the database let a check-in be redone")
	}
	// Only the fair's officers scan at its entrance.
	stranger, _ := e.account(booking.RoleOfficer, 0)
	if r := e.post(fmtPath("/api/v1/fairs/%d/checkin", e.fairID), stranger, map[string]any{"qr_code": code}); r.Status != http.StatusForbidden {
		t.Fatalf("stranger officer: %d %s", r.Status, r.Raw)
	}

	// Booth scan: only checked-in attendees of this fair join its queue.
	booths, emps := e.booths(2)
	emp := e.signIn("employer", emps[0])
	boothScan := func(code string) resp {
		return e.post(fmtPath("/api/v1/booths/%d/checkin", booths[0]), emp, map[string]any{"qr_code": code})
	}
	r2 := e.post(fmtPath("/api/v1/fairs/%d/registrations", e.fairID), toks[2], nil)
	if r := boothScan(r2.str("qr_code")); r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "entrance") {
		t.Fatalf("booth scan before the entrance: %d %s", r.Status, r.Raw)
	}
	if r := boothScan(other.str("qr_code")); r.Status != http.StatusConflict {
		t.Fatalf("booth scan of another fair's code: %d %s", r.Status, r.Raw)
	}
	mustStatus(t, boothScan(code), http.StatusCreated, "booth scan")
	mustStatus(t, boothScan(code), http.StatusConflict, "booth scan twice")
	if n := e.count(`SELECT count(*) FROM queue_entries WHERE booth_id = $1 AND status = 'waiting'`, booths[0]); n != 1 {
		t.Fatalf("%d waiting after the scans, want 1", n)
	}
}

func TestHandOffGoesFirstAndWalkInOutcome(t *testing.T) {
	e := newEnv(t)
	booths, emps := e.booths(3)
	ss := e.seekerIDs(5)
	toks := e.signInAll("seeker", ss)
	// Seekers 1..4 queue at booth B; seeker 0 at booth A.
	for i := 1; i < 5; i++ {
		mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue", booths[1]), toks[i], map[string]any{"mode": "onsite"}), http.StatusCreated, "queue at B")
	}
	mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue", booths[0]), toks[0], map[string]any{"mode": "remote"}), http.StatusCreated, "queue at A")
	a, b := e.signIn("employer", emps[0]), e.signIn("employer", emps[1])
	called := e.post(fmtPath("/api/v1/booths/%d/queue/next", booths[0]), a, map[string]any{"lane": 1})
	mustStatus(t, called, http.StatusOK, "call at A")
	entry := num(called.Body["entry"].(map[string]any)["id"])
	// Bad input and strangers change nothing.
	mustStatus(t, e.post(fmtPath("/api/v1/queue-entries/%d/handoff", entry), a, map[string]any{"to_booth_id": booths[0]}), http.StatusBadRequest, "to itself")
	mustStatus(t, e.post(fmtPath("/api/v1/queue-entries/%d/handoff", entry), a, map[string]any{"to_booth_id": 0}), http.StatusBadRequest, "no booth")
	mustStatus(t, e.post(fmtPath("/api/v1/queue-entries/%d/handoff", entry), b, map[string]any{"to_booth_id": booths[2]}), http.StatusForbidden, "not A's host")
	mustStatus(t, e.post(fmtPath("/api/v1/queue-entries/%d/outcome", entry), a, map[string]any{"outcome": "hired!"}), http.StatusBadRequest, "bad outcome")
	mustStatus(t, e.post(fmtPath("/api/v1/queue-entries/%d/outcome", entry), a, map[string]any{"outcome": "second_round", "note": "转给兄弟单位"}), http.StatusOK, "walk-in outcome")
	h := e.post(fmtPath("/api/v1/queue-entries/%d/handoff", entry), a, map[string]any{"to_booth_id": booths[1], "note": "更合适的岗位"})
	mustStatus(t, h, http.StatusCreated, "hand off")
	if num(h.Body["position"]) != 1 {
		t.Fatalf("handed-off position %s", h.Raw)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/queue-entries/%d/handoff", entry), a, map[string]any{"to_booth_id": booths[2]}), http.StatusConflict, "hand off twice")
	q := e.get(fmtPath("/api/v1/booths/%d/queue", booths[1]), b)
	if w := q.Body["waiting"].([]any); len(w) != 5 || num(w[0].(map[string]any)["seeker_id"]) != ss[0] {
		t.Fatalf("queue at B does not start with the handed-off seeker: %s", q.Raw)
	}
	next := e.post(fmtPath("/api/v1/booths/%d/queue/next", booths[1]), b, map[string]any{"lane": 1})
	if got := num(next.Body["entry"].(map[string]any)["seeker_id"]); got != ss[0] {
		t.Fatalf("B called seeker %d first, want the handed-off %d", got, ss[0])
	}
	next = e.post(fmtPath("/api/v1/booths/%d/queue/next", booths[1]), b, map[string]any{"lane": 1})
	if got := num(next.Body["entry"].(map[string]any)["seeker_id"]); got != ss[1] {
		t.Fatalf("then seeker %d, want %d (the first walk-in)", got, ss[1])
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE kind = 'handed_off' AND seeker_id = $1`, ss[0]); n != 1 {
		t.Fatalf("%d hand-off log entries", n)
	}
	// An outcome before the call is refused.
	var waiting int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM queue_entries WHERE booth_id = $1 AND status = 'waiting' ORDER BY id LIMIT 1`, booths[1]).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/queue-entries/%d/outcome", waiting), b, map[string]any{"outcome": "hire_intent"}), http.StatusConflict, "outcome before the call")
}
