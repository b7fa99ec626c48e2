package booking

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ScaleOptions sizes the synthetic city. The defaults (ScaleFull) are ten
// times the demo city: 1.6 million profiles, 300,000 job posts and one fair
// with 2,410 booths and 25,000 attendees (each holding one booking).
type ScaleOptions struct {
	Seed      int64
	Day       time.Time // the fair's day (its date in Asia/Shanghai)
	Profiles  int
	Employers int
	JobPosts  int
	Booths    int
	Attendees int
}

// ScaleFull is the city at ten times the demo's size.
var ScaleFull = ScaleOptions{Seed: 1, Profiles: 1_600_000, Employers: 24_100, JobPosts: 300_000, Booths: 2_410, Attendees: 25_000}

// ScaleSummary reports what GenerateScale loaded.
type ScaleSummary struct {
	FairID                                               int64
	Employers, JobPosts, Profiles, Booths, Slots, Booked int
	FirstSeeker                                          int64 // seekers FirstSeeker.. are the generated ones
}

// scalePhonePrefix keeps generated phones apart from the demo's (no demo
// prefix starts with 4): "14" + nine digits.
const scalePhonePrefix = "14"

// GenerateScale loads synthetic data with COPY in one transaction per
// table, printing progress to progress. It adds to whatever is there.
func GenerateScale(ctx context.Context, pool *pgxpool.Pool, o ScaleOptions, progress io.Writer) (ScaleSummary, error) {
	switch {
	case o.Profiles < o.Attendees, o.Employers < o.Booths, o.JobPosts < o.Employers, o.Booths < 1:
		return ScaleSummary{}, fmt.Errorf("booking: scale: need profiles ≥ attendees, employers ≥ booths ≥ 1, job posts ≥ employers")
	case o.Profiles > 1_000_000_000:
		return ScaleSummary{}, fmt.Errorf("booking: scale: at most 10^9 profiles")
	}
	if o.Day.IsZero() {
		o.Day = DemoFairDay(time.Now())
	}
	r := rand.New(rand.NewPCG(uint64(o.Seed), 0x5ca1e))
	var sum ScaleSummary
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(progress, "[%6.1fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	}
	y, m, d := o.Day.Date()
	at := func(h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, shanghai) }
	day := fmt.Sprintf("%04d-%02d-%02d", y, m, d)

	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO fairs (name, venue, day, time_zone, mode, booking_opens, booking_closes, status)
			VALUES ($1, '兰州国际会展中心', $2::date, $3, 'both', now() - interval '1 day', $4, 'published') RETURNING id`,
			fmt.Sprintf("%d年全市春风行动大型招聘会（规模测试）", y), day, DemoTimeZone, at(0, 0).AddDate(0, 0, 1)).Scan(&sum.FairID)
	})
	if err != nil {
		return sum, fmt.Errorf("booking: scale fair: %w", err)
	}
	say("fair %d on %s", sum.FairID, day)

	// copyN streams n generated rows into table in one transaction.
	copyN := func(table string, cols []string, n int, row func(i int) []any) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			i := 0
			src := pgx.CopyFromFunc(func() ([]any, error) {
				if i == n {
					return nil, nil
				}
				v := row(i)
				i++
				if i%200_000 == 0 {
					say("%s: %d of %d", table, i, n)
				}
				return v, nil
			})
			got, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
			if err != nil {
				return fmt.Errorf("booking: scale copy %s: %w", table, err)
			}
			if int(got) != n {
				return fmt.Errorf("booking: scale copy %s: %d of %d rows", table, got, n)
			}
			say("%s: %d rows", table, n)
			return nil
		})
	}
	ids := func(table string, n int) ([]int64, error) {
		var out []int64
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			out, err = allocIDs(ctx, tx, table, n)
			return err
		})
		return out, err
	}

	empIDs, err := ids("employers", o.Employers)
	if err != nil {
		return sum, err
	}
	empInd := make([]int, o.Employers)
	empCounty := make([]string, o.Employers)
	if err := copyN("employers", []string{"id", "name", "industry", "county", "verified", "verified_at"}, o.Employers, func(i int) []any {
		empInd[i], empCounty[i] = r.IntN(len(industries)), pick(r, counties)
		name := fmt.Sprintf("%s%s%s%s（%d）", pick(r, cityPrefixes), pick(r, brandWords), pick(r, industries[empInd[i]].firmWords), pick(r, firmSuffixes), i+1)
		return []any{empIDs[i], name, industries[empInd[i]].name, empCounty[i], true, start}
	}); err != nil {
		return sum, err
	}
	sum.Employers = o.Employers

	published := time.Now().Add(-72 * time.Hour).Truncate(time.Hour)
	if err := copyN("job_posts", []string{"employer_id", "title", "occupation_code", "skills", "salary_min", "salary_max", "education",
		"experience_years", "county", "headcount", "status", "published_at"}, o.JobPosts, func(i int) []any {
		e := i % o.Employers // every employer has at least one post
		if i >= o.Employers {
			e = int(r.ExpFloat64()*float64(o.Employers)/6) % o.Employers // a few employers post a lot
		}
		j := jobs[pick(r, industries[empInd[e]].jobs)]
		lo := j.salaryLo + 100*r.IntN(11)
		return []any{empIDs[e], j.title, j.code, pickSkills(r, j.skills, 1+r.IntN(3)), lo, lo + 500*(1+r.IntN(6)), pick(r, j.education),
			int16(r.IntN(4)), empCounty[e], 1 + r.IntN(20), "published", published}
	}); err != nil {
		return sum, err
	}
	sum.JobPosts = o.JobPosts

	var base int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM seekers`).Scan(&base); err != nil {
		return sum, err
	}
	if err := copyN("seekers", []string{"name", "phone", "county", "education", "skills", "experience_years", "desired_job", "desired_salary",
		"consent_profile_visible", "consent_recording", "poverty_registered"}, o.Profiles, func(i int) []any {
		name := pickSurname(r) + pick(r, givenChars)
		if r.IntN(100) < 70 {
			name += pick(r, givenChars)
		}
		j := jobs[jobKeys[r.IntN(len(jobKeys))]]
		return []any{name, fmt.Sprintf("%s%09d", scalePhonePrefix, int(base)+i), pick(r, counties), pickEducation(r),
			pickSkills(r, j.skills, 1+r.IntN(3)), int16(r.IntN(16)), j.title, 2500 + 500*r.IntN(12), r.IntN(100) < 85, r.IntN(100) < 70, r.IntN(100) < 12}
	}); err != nil {
		return sum, err
	}
	sum.Profiles = o.Profiles
	if err := pool.QueryRow(ctx, `SELECT min(id) FROM seekers WHERE phone >= $1`, fmt.Sprintf("%s%09d", scalePhonePrefix, base)).Scan(&sum.FirstSeeker); err != nil {
		return sum, err
	}

	boothIDs, err := ids("booths", o.Booths)
	if err != nil {
		return sum, err
	}
	lanes := make([]int16, o.Booths)
	if err := copyN("booths", []string{"id", "fair_id", "employer_id", "hall_position", "lanes"}, o.Booths, func(i int) []any {
		switch x := r.IntN(100); {
		case x < 50:
			lanes[i] = 1
		case x < 85:
			lanes[i] = 2
		default:
			lanes[i] = 3
		}
		return []any{boothIDs[i], sum.FairID, empIDs[i], fmt.Sprintf("%s馆 %03d号展位", "ABCDEFGH"[i%8:i%8+1], i/8+1), lanes[i]}
	}); err != nil {
		return sum, err
	}
	sum.Booths = o.Booths

	var starts []time.Time
	for t := at(9, 0); t.Before(at(12, 0)); t = t.Add(slotLength) {
		starts = append(starts, t)
	}
	for t := at(13, 30); t.Before(at(17, 0)); t = t.Add(slotLength) {
		starts = append(starts, t)
	}
	type slotKey struct {
		booth int
		lane  int16
		start int
	}
	var keys []slotKey
	for b := range o.Booths {
		for l := int16(1); l <= lanes[b]; l++ {
			for s := range starts {
				keys = append(keys, slotKey{b, l, s})
			}
		}
	}
	slotIDs, err := ids("slots", len(keys))
	if err != nil {
		return sum, err
	}
	if err := copyN("slots", []string{"id", "booth_id", "lane", "during"}, len(keys), func(i int) []any {
		k := keys[i]
		return []any{slotIDs[i], boothIDs[k.booth], k.lane, tstzRange(starts[k.start], starts[k.start].Add(slotLength))}
	}); err != nil {
		return sum, err
	}
	sum.Slots = len(keys)

	// Attendees: distinct seekers, each booked into a distinct random slot.
	n := min(o.Attendees, len(keys))
	perm := r.Perm(len(keys))[:n]
	if err := copyN("bookings", []string{"slot_id", "booth_id", "lane", "seeker_id", "during", "status", "confirmed_at"}, n, func(i int) []any {
		k := keys[perm[i]]
		st := starts[k.start]
		return []any{slotIDs[perm[i]], boothIDs[k.booth], k.lane, sum.FirstSeeker + int64(i), tstzRange(st, st.Add(slotLength)), "booked", start}
	}); err != nil {
		return sum, err
	}
	sum.Booked = n
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		return sum, err
	}
	say("done: %+v", sum)
	return sum, nil
}
