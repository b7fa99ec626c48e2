package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"jobhall/booking"
	"jobhall/internal/pgtest"
)

// TestScheduleCommand runs "jobhall schedule -fair N" on a demo fair with
// registered seekers: a dry run writes nothing, the real run books them.
func TestScheduleCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, dbURL := pgtest.New(t, booking.Migrate)
	sum, err := booking.SeedDemo(ctx, pool, 7, booking.DemoFairDay(time.Now()).AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO fair_attendees (fair_id, seeker_id) SELECT $1, id FROM seekers WHERE consent_profile_visible ORDER BY id LIMIT 80`,
		sum.FairID); err != nil {
		t.Fatal(err)
	}
	env := mapEnv(map[string]string{"DATABASE_URL": dbURL, "JOBHALL_DATA_DIR": t.TempDir()})
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM bookings WHERE origin = 'schedule'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	fair := strconv.FormatInt(sum.FairID, 10)
	var out, errs syncBuffer
	if err := run(ctx, []string{"schedule", "-fair", fair, "-dry-run"}, env, &out, &errs); err != nil {
		t.Fatalf("dry run: %v\n%s", err, errs.String())
	}
	if !strings.Contains(out.String(), "rolled back (dry run)") || !strings.Contains(out.String(), "flow") || count() != 0 {
		t.Fatalf("dry run output:\n%s", out.String())
	}
	out = syncBuffer{}
	if err := run(ctx, []string{"schedule", "-fair=" + fair}, env, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	if n := count(); n == 0 || !strings.Contains(out.String(), strconv.Itoa(n)+" new interviews written") {
		t.Fatalf("%d written; output:\n%s", n, out.String())
	}
	for _, bad := range [][]string{{"schedule"}, {"schedule", "-fair", "x"}, {"schedule", "-fair", "999999"}} {
		if err := run(ctx, bad, env, &out, &errs); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
