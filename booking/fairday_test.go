package booking_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"jobhall/booking"
	"jobhall/booking/fairsim"
)

// TestSimulatedFairDay replays a small fair day in compressed time through
// the API (cmd/loadgen fairday runs it at full size) and checks that the
// frozen report adds up and equals independent SQL counts.
func TestSimulatedFairDay(t *testing.T) {
	e, clock := newEnvAt(t, at(7, 30))
	admin, _ := e.account(booking.RoleAdmin, 0)
	res, err := fairsim.Run(e.ctx, fairsim.Options{
		BaseURL: e.srv.URL, Client: e.client, Pool: e.pool, FairID: e.fairID, Officer: admin, SetClock: clock.Set,
		RoomEvent: func(ctx context.Context, room, kind string, at time.Time) error {
			return e.svc.RecordRoomEvent(ctx, room, kind, at, nil)
		},
		Sweep:    e.svc.Sweep,
		Evaluate: func(ctx context.Context) error { _, _, err := e.svc.EvaluateAlerts(ctx); return err },
		Booths:   24, Seekers: 240, Seed: 1, Workers: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("simulated day: %+v; %d requests in %v; refused %v", res.Counts, res.Requests, res.Elapsed.Round(time.Millisecond), res.Refused)
	if err := fairsim.Check(res); err != nil {
		t.Fatal(err)
	}
	c := res.Counts
	if c.Attendees == 0 || c.BookedHeld == 0 || c.WalkIns == 0 || c.HireIntents == 0 || c.HandOffs == 0 || c.NoShows == 0 {
		t.Fatalf("the day lacks some activity: %+v", c)
	}
	// Independent SQL counts, written apart from the statistics query.
	var st booking.FairStats
	if err := json.Unmarshal(res.Report, &st); err != nil {
		t.Fatal(err)
	}
	f := e.fairID
	want := booking.StatRow{Key: "total",
		EmployersPresent: int64(e.count(`SELECT count(*) FROM booths WHERE fair_id = $1 AND arrived_at IS NOT NULL`, f)),
		Posts: int64(e.count(`SELECT count(*) FROM job_posts WHERE status = 'published'
			AND employer_id IN (SELECT employer_id FROM booths WHERE fair_id = $1 AND arrived_at IS NOT NULL)`, f)),
		Attendees: int64(e.count(`SELECT count(*) FROM fair_attendees WHERE fair_id = $1 AND checked_in_at IS NOT NULL`, f)),
		Interviews: int64(e.count(`SELECT count(*) FROM outcomes o JOIN bookings bk ON bk.id = o.booking_id
			WHERE o.outcome <> 'no_show' AND bk.booth_id IN (SELECT id FROM booths WHERE fair_id = $1)`, f) +
			e.count(`SELECT count(*) FROM queue_entries WHERE called_at IS NOT NULL AND booth_id IN (SELECT id FROM booths WHERE fair_id = $1)`, f)),
		HireIntents: int64(e.count(`SELECT count(*) FROM outcomes o JOIN bookings bk ON bk.id = o.booking_id
			WHERE o.outcome = 'hire_intent' AND bk.booth_id IN (SELECT id FROM booths WHERE fair_id = $1)`, f) +
			e.count(`SELECT count(*) FROM queue_entries WHERE outcome = 'hire_intent' AND booth_id IN (SELECT id FROM booths WHERE fair_id = $1)`, f)),
	}
	if st.Totals != want {
		t.Fatalf("report totals %+v, SQL %+v", st.Totals, want)
	}
	for _, r := range st.ByCounty {
		n := int64(e.count(`SELECT count(*) FROM fair_attendees a JOIN seekers s ON s.id = a.seeker_id
			WHERE a.fair_id = $1 AND a.checked_in_at IS NOT NULL AND s.county = $2`, f, r.Key))
		if r.Attendees != n {
			t.Errorf("county %q: report %d attendees, SQL %d", r.Key, r.Attendees, n)
		}
	}
	for _, r := range st.BySector {
		n := int64(e.count(`SELECT count(*) FROM booths b JOIN employers em ON em.id = b.employer_id
			WHERE b.fair_id = $1 AND b.arrived_at IS NOT NULL AND em.industry = $2`, f, r.Key))
		if r.EmployersPresent != n {
			t.Errorf("sector %q: report %d employers, SQL %d", r.Key, r.EmployersPresent, n)
		}
	}
	// Frozen: later activity does not change the report.
	if _, err := e.pool.Exec(e.ctx, `UPDATE booths SET arrived_at = now() WHERE fair_id = $1`, f); err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.FairStats(e.ctx, f)
	if err != nil || again.Totals != st.Totals || !again.Frozen {
		t.Fatalf("frozen report changed: %+v %v", again.Totals, err)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE fair_reports SET stats = '{}' WHERE fair_id = $1`, f); err == nil {
		t.Fatal("the database let a frozen report be changed")
	}
}
