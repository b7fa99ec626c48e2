package booking_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"jobhall/booking"
)

func at(hh, mm int) time.Time {
	return time.Date(testDay.Year(), testDay.Month(), testDay.Day(), hh, mm, 0, 0, testDay.Location())
}

// evaluate runs the rules and returns the open alerts of rule by subject.
func (e *env) evaluate(rule string) map[string]booking.Alert {
	e.t.Helper()
	if _, _, err := e.svc.EvaluateAlerts(e.ctx); err != nil {
		e.t.Fatalf("evaluate: %v", err)
	}
	rows, err := e.pool.Query(e.ctx, `SELECT subject, id, value, raised_at FROM alerts WHERE rule = $1 AND cleared_at IS NULL`, rule)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]booking.Alert{}
	for rows.Next() {
		var a booking.Alert
		if err := rows.Scan(&a.Subject, &a.ID, &a.Value, &a.RaisedAt); err != nil {
			e.t.Fatal(err)
		}
		out[a.Subject] = a
	}
	return out
}

func TestAlertRulesFireClearDedupPush(t *testing.T) {
	e, clock := newEnvAt(t, at(8, 0))
	officer := e.officerOf(e.fairID)
	events, unsubscribe := e.svc.SubscribeAlerts(4096)
	defer unsubscribe()
	booths, emps := e.booths(4)
	ss := e.seekerIDs(8)
	toks := e.signInAll("seeker", ss)
	// Six bookings due between 09:15 and 09:45 for the no-show rule.
	var bookingIDs []int64
	for i, hm := range [][2]int{{9, 15}, {9, 30}, {9, 45}} {
		for j := range 2 {
			r := e.book(toks[i*2+j], e.slotAt(booths[2+j], hm[0], hm[1]))
			mustStatus(t, r, http.StatusCreated, "book")
			bookingIDs = append(bookingIDs, num(r.Body["id"]))
		}
	}

	// Thresholds: out of range or unknown is refused and changes nothing.
	put := func(body map[string]any) resp {
		return e.request("PUT", "/api/v1/alert-rules", officer, "application/json", body)
	}
	for _, bad := range []map[string]any{{"rule": "queue_wait", "threshold": 0}, {"rule": "queue_wait", "threshold": 241},
		{"rule": "no_show_rate", "threshold": 101}, {"rule": "nope", "threshold": 5}, {"rule": "queue_wait"}} {
		if r := put(bad); r.Status != http.StatusBadRequest {
			t.Errorf("PUT %v: %d %s", bad, r.Status, r.Raw)
		}
	}
	if n := e.count(`SELECT count(*) FROM alert_rules WHERE updated_by <> 'system'`); n != 0 {
		t.Fatalf("refused thresholds changed %d rules", n)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE alert_rules SET threshold = 1000 WHERE rule = 'booth_idle'`); err == nil {
		t.Fatal("the database accepted an idle threshold of 1000 minutes")
	}
	rules := e.get("/api/v1/alert-rules", officer)
	mustStatus(t, rules, http.StatusOK, "rules")
	if n := len(rules.Body["rules"].([]any)); n != 6 {
		t.Fatalf("%d rules", n)
	}

	// Queue wait (20 minutes): fires, stays one alert, clears when served.
	clock.Set(at(10, 0))
	mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue", booths[0]), toks[6], map[string]any{"mode": "onsite"}), http.StatusCreated, "queue")
	clock.Set(at(10, 10))
	if got := e.evaluate(booking.RuleQueueWait); len(got) != 0 {
		t.Fatalf("queue alert after 10 minutes: %v", got)
	}
	clock.Set(at(10, 25))
	got := e.evaluate(booking.RuleQueueWait)
	subj := fmtPath("booth:%d", booths[0])
	if a, ok := got[subj]; !ok || len(got) != 1 || a.Value < 24 || a.Value > 26 {
		t.Fatalf("queue alert after 25 minutes: %v", got)
	}
	first := got[subj].ID
	clock.Set(at(10, 30))
	if got := e.evaluate(booking.RuleQueueWait); got[subj].ID != first || got[subj].Value < 29 {
		t.Fatalf("not deduplicated: %v (first %d)", got, first)
	}
	if n := e.count(`SELECT count(*) FROM alerts WHERE rule = 'queue_wait'`); n != 1 {
		t.Fatalf("%d queue alerts stored, want 1", n)
	}
	ack := e.post(fmtPath("/api/v1/alerts/%d/ack", first), officer, nil)
	mustStatus(t, ack, http.StatusOK, "ack")
	mustStatus(t, e.post(fmtPath("/api/v1/alerts/%d/ack", first), officer, nil), http.StatusConflict, "ack twice")
	mustStatus(t, e.post("/api/v1/alerts/999999/ack", officer, nil), http.StatusNotFound, "ack unknown")
	emp0 := e.signIn("employer", emps[0])
	mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue/next", booths[0]), emp0, map[string]any{"lane": 1}), http.StatusOK, "call")
	if got := e.evaluate(booking.RuleQueueWait); len(got) != 0 {
		t.Fatalf("queue alert not cleared: %v", got)
	}

	// Booth idle (30 minutes): a present booth with no activity.
	emp1 := e.signIn("employer", emps[1])
	mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/arrive", booths[1]), emp1, nil), http.StatusOK, "arrive")
	clock.Set(at(10, 50))
	idle := fmtPath("booth:%d", booths[1])
	if got := e.evaluate(booking.RuleBoothIdle); len(got) != 0 {
		t.Fatalf("idle alert after 20 minutes: %v", got)
	}
	clock.Set(at(11, 25))
	if got := e.evaluate(booking.RuleBoothIdle); len(got) != 1 || got[idle].ID == 0 {
		t.Fatalf("idle alert after 55 minutes: %v", got)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue", booths[1]), toks[7], map[string]any{"mode": "remote"}), http.StatusCreated, "queue")
	mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue/next", booths[1]), emp1, map[string]any{"lane": 1}), http.StatusOK, "call")
	if got := e.evaluate(booking.RuleBoothIdle); len(got) != 0 {
		t.Fatalf("idle alert not cleared by a call: %v", got)
	}

	// No-show rate (30%) over the interviews due in the last hour.
	clock.Set(at(9, 35))
	fairSubj := fmtPath("fair:%d", e.fairID)
	if got := e.evaluate(booking.RuleNoShowRate); len(got) != 0 {
		t.Fatalf("no-show alert on 4 interviews (under the sample): %v", got)
	}
	clock.Set(at(10, 0))
	if got := e.evaluate(booking.RuleNoShowRate); got[fairSubj].Value != 100 {
		t.Fatalf("no-show alert with nobody joined: %v", got)
	}
	for _, id := range bookingIDs[:5] {
		if err := e.svc.RecordRoomEvent(e.ctx, booking.RoomForBooking(id), booking.KindSeekerJoined, at(9, 16), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.evaluate(booking.RuleNoShowRate); len(got) != 0 {
		t.Fatalf("no-show alert at 1 in 6: %v", got)
	}

	// Booking fill (30%) in the day before a fair: tomorrow's fair with 10 open slots.
	var fair2, booth2 int64
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO fairs (name, day, booking_opens, booking_closes) VALUES ('明日招聘会', $1::date, now() - interval '1 day', $2)
		RETURNING id`, testDay.AddDate(0, 0, 1).Format(time.DateOnly), testDay.AddDate(0, 0, 2)).Scan(&fair2); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO booths (fair_id, employer_id, hall_position) VALUES ($1, $2, 'Z1') RETURNING id`, fair2, emps[3]).Scan(&booth2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO slots (booth_id, lane, during) SELECT $1, 1, tstzrange($2::timestamptz + g * interval '15 minutes', $2::timestamptz + (g + 1) * interval '15 minutes')
		FROM generate_series(0, 9) g`, booth2, testDay.AddDate(0, 0, 1).Add(9*time.Hour)); err != nil {
		t.Fatal(err)
	}
	fillSubj := fmtPath("fair:%d", fair2)
	if got := e.evaluate(booking.RuleBookingFill); got[fillSubj].ID == 0 || got[fillSubj].Value != 0 {
		t.Fatalf("fill alert with nothing booked: %v", got)
	}
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO bookings (slot_id, booth_id, lane, seeker_id, during, status)
		SELECT s.id, s.booth_id, s.lane, sk.id, s.during, 'booked' FROM (SELECT *, row_number() OVER (ORDER BY id) AS n FROM slots WHERE booth_id = $1) s
		JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM seekers ORDER BY id LIMIT 4) sk ON sk.n = s.n`, booth2); err != nil {
		t.Fatal(err)
	}
	if got := e.evaluate(booking.RuleBookingFill); len(got) != 0 {
		t.Fatalf("fill alert at 40%%: %v", got)
	}

	// Job posts: a report fires (threshold 1); raising the threshold clears.
	var job int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM job_posts WHERE employer_id = $1 ORDER BY id LIMIT 1`, emps[0]).Scan(&job); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/jobs/%d/reports", job), toks[0], map[string]any{"reason": ""}), http.StatusBadRequest, "report without a reason")
	mustStatus(t, e.post(fmtPath("/api/v1/jobs/%d/reports", job), toks[0], map[string]any{"reason": "要求先交押金"}), http.StatusCreated, "report")
	mustStatus(t, e.post(fmtPath("/api/v1/jobs/%d/reports", job), toks[0], map[string]any{"reason": "again"}), http.StatusConflict, "report twice")
	jobSubj := fmtPath("job:%d", job)
	if got := e.evaluate(booking.RuleJobPostFlagged); len(got) != 1 || got[jobSubj].Value != 1 {
		t.Fatalf("reported post: %v", got)
	}
	mustStatus(t, put(map[string]any{"rule": "job_post_flagged", "threshold": 2}), http.StatusOK, "raise threshold")
	if got := e.evaluate(booking.RuleJobPostFlagged); len(got) != 0 {
		t.Fatalf("reported post under the raised threshold: %v", got)
	}
	// An unverified employer's published posts fire whatever the reports.
	posts := e.count(`SELECT count(*) FROM job_posts WHERE employer_id = $1 AND status = 'published'`, emps[1])
	if _, err := e.pool.Exec(e.ctx, `UPDATE employers SET verified = false WHERE id = $1`, emps[1]); err != nil {
		t.Fatal(err)
	}
	if got := e.evaluate(booking.RuleJobPostFlagged); len(got) != posts {
		t.Fatalf("%d alerts for an unverified employer's %d posts", len(got), posts)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE employers SET verified = true WHERE id = $1`, emps[1]); err != nil {
		t.Fatal(err)
	}
	if got := e.evaluate(booking.RuleJobPostFlagged); len(got) != 0 {
		t.Fatalf("alerts after verifying: %d", len(got))
	}

	// Poverty-alleviation contact (N days): everyone registered fires at 1
	// day on a clock two days ahead; a follow-up call clears one.
	poor := e.count(`SELECT count(*) FROM seekers WHERE poverty_registered`)
	if got := e.evaluate(booking.RulePovertyNoContact); len(got) != 0 {
		t.Fatalf("poverty alerts at 30 days: %d", len(got))
	}
	mustStatus(t, put(map[string]any{"rule": "poverty_no_contact", "threshold": 1}), http.StatusOK, "1 day")
	if got := e.evaluate(booking.RulePovertyNoContact); len(got) != poor || poor == 0 {
		t.Fatalf("%d poverty alerts, want %d", len(got), poor)
	}
	var poorID int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM seekers WHERE poverty_registered ORDER BY id LIMIT 1`).Scan(&poorID); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/seekers/%d/followups", poorID), officer, map[string]any{"channel": "phone", "status": "seeking"}), http.StatusCreated, "follow-up")
	if got := e.evaluate(booking.RulePovertyNoContact); len(got) != poor-1 {
		t.Fatalf("%d poverty alerts after a follow-up, want %d", len(got), poor-1)
	}
	mustStatus(t, put(map[string]any{"rule": "poverty_no_contact", "enabled": false}), http.StatusOK, "switch off")
	if got := e.evaluate(booking.RulePovertyNoContact); len(got) != 0 {
		t.Fatalf("switched-off rule left %d alerts open", len(got))
	}

	// Every change was pushed once: raised and cleared pairs, one ack.
	counts := map[string]int{}
	for done := false; !done; {
		select {
		case ev := <-events:
			counts[ev.Type+":"+ev.Alert.Rule]++
		default:
			done = true
		}
	}
	// (Every evaluation runs every rule: the no-show window also fired while
	// the clock passed 10:10–11:00 for the queue and idle checks.)
	for _, rule := range []string{"queue_wait", "booth_idle", "no_show_rate", "booking_fill", "job_post_flagged"} {
		if counts["raised:"+rule] == 0 || counts["raised:"+rule] != counts["cleared:"+rule] {
			t.Errorf("%s pushed %d raised, %d cleared", rule, counts["raised:"+rule], counts["cleared:"+rule])
		}
	}
	if counts["raised:queue_wait"] != 1 || counts["raised:booth_idle"] != 1 || counts["raised:booking_fill"] != 1 {
		t.Errorf("pushed %v", counts)
	}
	if counts["acked:queue_wait"] != 1 || counts["raised:poverty_no_contact"] != poor || counts["cleared:poverty_no_contact"] != poor {
		t.Errorf("pushed %v", counts)
	}
	list := e.get("/api/v1/alerts?state=all&rule=queue_wait", officer)
	if a := list.Body["alerts"].([]any); len(a) != 1 || a[0].(map[string]any)["acked_by"] == nil || a[0].(map[string]any)["cleared_at"] == nil {
		t.Fatalf("stored queue alert %s", list.Raw)
	}

	// Prometheus figures of the running fair.
	figs, err := e.svc.MonitorFigures(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range figs {
		if f.Labels["fair"] == itoa(e.fairID) {
			seen[f.Name] = true
			if f.Name == "fair_booths_present" && f.Value != 1 {
				t.Errorf("booths present %v", f.Value)
			}
		}
	}
	if !seen["fair_queue_waiting"] || !seen["fair_no_show_rate_percent"] || !seen["fair_attendees_checked_in"] {
		t.Errorf("figures %v", figs)
	}
}

func TestAlertStream(t *testing.T) {
	e, clock := newEnvAt(t, at(10, 0))
	officer := e.officerOf(e.fairID)
	booths, _ := e.booths(1)
	seeker := e.signIn("seeker", e.seekerIDs(1)[0])
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+officer)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	sc.Scan() // retry:
	mustStatus(t, e.post(fmtPath("/api/v1/booths/%d/queue", booths[0]), seeker, map[string]any{"mode": "onsite"}), http.StatusCreated, "queue")
	clock.Set(at(11, 0))
	if _, _, err := e.svc.EvaluateAlerts(e.ctx); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"queue_wait"`) {
			break
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), "event: raised") {
		t.Fatalf("stream lines %q", lines)
	}
	e.svc.CloseStreams() // as at shutdown: the stream ends
	for sc.Scan() {
	}
}
