package booking

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"jobhall/internal/apperr"
)

// StatRow is one line of a fair's statistics. Definitions (also printed on
// the report):
//   - EmployersPresent: booths whose staff checked in (POST /booths/{id}/arrive);
//     county and sector are the employer's.
//   - Posts: published job posts of the employers present; county is the
//     post's, sector the employer's.
//   - Attendees: registered seekers checked in at the entrance; county is
//     the seeker's (attendees have no sector).
//   - Interviews: booked interviews held (the seeker joined, or an outcome
//     other than no-show was recorded) plus walk-ins called to a lane;
//     county is the seeker's, sector the employer's.
//   - HireIntents: interviews whose outcome is an intention to hire.
type StatRow struct {
	Key              string `json:"key"`
	EmployersPresent int64  `json:"employers_present"`
	Posts            int64  `json:"posts"`
	Attendees        int64  `json:"attendees"`
	Interviews       int64  `json:"interviews"`
	HireIntents      int64  `json:"hire_intents"`
}

// FairStats are a fair's live figures, or the frozen ones of its report.
type FairStats struct {
	FairID     int64     `json:"fair_id"`
	Name       string    `json:"name"`
	Venue      string    `json:"venue"`
	Day        string    `json:"day"`
	TimeZone   string    `json:"time_zone"`
	AsOf       time.Time `json:"as_of"`
	Frozen     bool      `json:"frozen"`
	Booths     int64     `json:"booths"`
	Registered int64     `json:"registered"`
	Bookings   int64     `json:"bookings"` // booked interviews (groups), held or not
	NoShows    int64     `json:"no_shows"`
	Totals     StatRow   `json:"totals"`
	ByCounty   []StatRow `json:"by_county"`
	BySector   []StatRow `json:"by_sector"`
}

// fairStatsSQL tags every counted fact with its county and sector and
// aggregates by county, by sector and overall in one pass, so the three
// views add up by construction.
const fairStatsSQL = `WITH fb AS (SELECT b.id, b.employer_id, b.arrived_at, e.county, e.industry
		FROM booths b JOIN employers e ON e.id = b.employer_id WHERE b.fair_id = $1),
	bk AS (SELECT bk.id, bk.seeker_id, bk.seeker_joined_at, fb.industry, o.outcome
		FROM bookings bk JOIN fb ON fb.id = bk.booth_id LEFT JOIN outcomes o ON o.booking_id = bk.id
		WHERE bk.id = bk.group_id AND bk.status = 'booked'),
	facts AS (
		SELECT 'employer' AS m, county, industry AS sector FROM fb WHERE arrived_at IS NOT NULL
		UNION ALL
		SELECT 'post', j.county, fb.industry FROM fb JOIN job_posts j ON j.employer_id = fb.employer_id AND j.status = 'published'
		WHERE fb.arrived_at IS NOT NULL
		UNION ALL
		SELECT 'attendee', sk.county, NULL FROM fair_attendees a JOIN seekers sk ON sk.id = a.seeker_id
		WHERE a.fair_id = $1 AND a.checked_in_at IS NOT NULL
		UNION ALL
		SELECT m.m, sk.county, bk.industry FROM bk JOIN seekers sk ON sk.id = bk.seeker_id,
			LATERAL (VALUES ('interview'), ('hire')) AS m(m)
		WHERE bk.outcome IS DISTINCT FROM 'no_show' AND (bk.seeker_joined_at IS NOT NULL OR bk.outcome IS NOT NULL)
			AND (m.m = 'interview' OR bk.outcome = 'hire_intent')
		UNION ALL
		SELECT m.m, sk.county, fb.industry FROM queue_entries q JOIN fb ON fb.id = q.booth_id JOIN seekers sk ON sk.id = q.seeker_id,
			LATERAL (VALUES ('interview'), ('hire')) AS m(m)
		WHERE q.called_at IS NOT NULL AND (m.m = 'interview' OR q.outcome = 'hire_intent'))
	SELECT GROUPING(county)::int, GROUPING(sector)::int, coalesce(county, ''), coalesce(sector, ''), sector IS NULL,
		count(*) FILTER (WHERE m = 'employer'), count(*) FILTER (WHERE m = 'post'), count(*) FILTER (WHERE m = 'attendee'),
		count(*) FILTER (WHERE m = 'interview'), count(*) FILTER (WHERE m = 'hire')
	FROM facts GROUP BY GROUPING SETS ((county), (sector), ())`

// fairStats computes fairID's live figures with q (a transaction when
// closing, so the frozen report is the state at that moment).
func (s *Service) fairStats(ctx context.Context, q querier, fairID int64, now time.Time) (FairStats, error) {
	st := FairStats{FairID: fairID, AsOf: now.UTC(), ByCounty: []StatRow{}, BySector: []StatRow{}}
	err := q.QueryRow(ctx, `SELECT f.name, f.venue, f.day::text, f.time_zone, (SELECT count(*) FROM booths WHERE fair_id = f.id),
			(SELECT count(*) FROM fair_attendees WHERE fair_id = f.id),
			(SELECT count(*) FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE b.fair_id = f.id AND bk.id = bk.group_id AND bk.status = 'booked'),
			(SELECT count(*) FROM bookings bk JOIN booths b ON b.id = bk.booth_id JOIN outcomes o ON o.booking_id = bk.id
				WHERE b.fair_id = f.id AND bk.id = bk.group_id AND bk.status = 'booked' AND o.outcome = 'no_show')
		FROM fairs f WHERE f.id = $1`, fairID).Scan(&st.Name, &st.Venue, &st.Day, &st.TimeZone, &st.Booths, &st.Registered, &st.Bookings, &st.NoShows)
	if isNoRows(err) {
		return st, apperr.New(apperr.NotFound, "没有这个招聘会 / no fair with id %d", fairID)
	}
	if err != nil {
		return st, internal(err, "fair statistics")
	}
	rows, err := q.Query(ctx, fairStatsSQL, fairID)
	if err != nil {
		return st, internal(err, "fair statistics")
	}
	defer rows.Close()
	for rows.Next() {
		var gc, gs int
		var county, sector string
		var noSector bool
		var row StatRow
		if err := rows.Scan(&gc, &gs, &county, &sector, &noSector, &row.EmployersPresent, &row.Posts, &row.Attendees, &row.Interviews, &row.HireIntents); err != nil {
			return st, internal(err, "fair statistics")
		}
		switch {
		case gc == 1 && gs == 1:
			row.Key = "total"
			st.Totals = row
		case gc == 0:
			row.Key = county
			st.ByCounty = append(st.ByCounty, row)
		case !noSector: // the attendees' NULL-sector group is not a sector
			row.Key = sector
			st.BySector = append(st.BySector, row)
		}
	}
	if err := rows.Err(); err != nil {
		return st, internal(err, "fair statistics")
	}
	byKey := func(xs []StatRow) {
		sort.Slice(xs, func(i, j int) bool { return xs[i].Key < xs[j].Key })
	}
	byKey(st.ByCounty)
	byKey(st.BySector)
	if st.Totals.Key == "" {
		st.Totals.Key = "total"
	}
	return st, nil
}

// FairStats returns fairID's figures: the frozen report once the fair has
// closed, else live ones.
func (s *Service) FairStats(ctx context.Context, fairID int64) (FairStats, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT stats FROM fair_reports WHERE fair_id = $1`, fairID).Scan(&raw)
	if err == nil {
		var st FairStats
		if err := json.Unmarshal(raw, &st); err != nil {
			return st, internal(err, "read frozen report")
		}
		return st, nil
	}
	if !isNoRows(err) {
		return FairStats{}, internal(err, "read frozen report")
	}
	return s.fairStats(ctx, s.pool, fairID, s.now())
}

func (s *Service) handleFairStats(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.runsFair(r.Context(), p, fairID); err != nil {
		return err
	}
	st, err := s.FairStats(r.Context(), fairID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// frozenReport returns the report frozen at close.
func (s *Service) frozenReport(r *http.Request) (FairStats, error) {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return FairStats{}, err
	}
	if err := s.runsFair(r.Context(), p, fairID); err != nil {
		return FairStats{}, err
	}
	st, err := s.FairStats(r.Context(), fairID)
	if err != nil {
		return st, err
	}
	if !st.Frozen {
		return st, apperr.New(apperr.Conflict, "招聘会结束后才生成报告 / the report is frozen when the fair closes; live figures are at /api/v1/fairs/%d/stats", fairID)
	}
	return st, nil
}
