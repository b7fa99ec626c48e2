package booking

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
)

// runsFair checks that p may manage fairID: an administrator, or an
// officer listed for the fair.
func (s *Service) runsFair(ctx context.Context, p principal, fairID int64) error {
	var exists, runs bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fairs WHERE id = $1),
		EXISTS (SELECT 1 FROM fair_officers WHERE fair_id = $1 AND account_id = $2)`, fairID, p.Account).Scan(&exists, &runs); err != nil {
		return internal(err, "check fair officer")
	}
	switch {
	case !exists:
		return apperr.New(apperr.NotFound, "没有这个招聘会 / no fair with id %d", fairID)
	case p.Role == RoleAdmin, p.Role == RoleOfficer && runs:
		return nil
	case p.Role == RoleOfficer:
		return apperr.New(apperr.Forbidden, "您不负责这个招聘会 / you are not an officer of this fair")
	default:
		return forbiddenRoles(p.Role, []string{RoleOfficer, RoleAdmin})
	}
}

// manageBooth checks that p may manage booth id: staff of its employer,
// an officer of its fair, or an administrator.
func (s *Service) manageBooth(r *http.Request, p principal, id int64) (boothInfo, error) {
	b, err := s.booth(r, id)
	if err != nil {
		return b, err
	}
	switch p.Role {
	case RoleEmployer:
		if b.employerID != p.ID {
			return b, apperr.New(apperr.Forbidden, "这不是您单位的展位 / this booth belongs to another employer; you can only manage your own booth")
		}
		return b, nil
	case RoleOfficer, RoleAdmin:
		return b, s.runsFair(r.Context(), p, b.fairID)
	default:
		return b, forbiddenRoles(p.Role, []string{RoleEmployer, RoleOfficer, RoleAdmin})
	}
}

func (s *Service) handleCreateFair(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		Name               string     `json:"name"`
		Venue              string     `json:"venue"`
		Day                string     `json:"day"`
		TimeZone           string     `json:"time_zone"`
		Mode               string     `json:"mode"`
		BookingOpens       time.Time  `json:"booking_opens"`
		BookingCloses      time.Time  `json:"booking_closes"`
		RegistrationOpens  *time.Time `json:"registration_opens"`
		RegistrationCloses *time.Time `json:"registration_closes"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := textField("name", in.Name, 1, 200); err != nil {
		return err
	}
	if err := textField("venue", in.Venue, 0, 200); err != nil {
		return err
	}
	day, err := time.Parse(time.DateOnly, in.Day)
	if err != nil || day.Year() < 2000 || day.Year() > 2200 {
		return apperr.New(apperr.Invalid, "day must be YYYY-MM-DD")
	}
	if in.TimeZone == "" {
		in.TimeZone = DemoTimeZone
	}
	if _, err := time.LoadLocation(in.TimeZone); err != nil || len(in.TimeZone) > 64 {
		return apperr.New(apperr.Invalid, "time_zone must be an IANA zone such as Asia/Shanghai")
	}
	if in.Mode == "" {
		in.Mode = "both"
	}
	if in.Mode != "onsite" && in.Mode != "online" && in.Mode != "both" {
		return apperr.New(apperr.Invalid, `mode must be "onsite", "online" or "both"`)
	}
	if in.BookingOpens.IsZero() || in.BookingCloses.IsZero() || !in.BookingOpens.Before(in.BookingCloses) {
		return apperr.New(apperr.Invalid, "预约时间段无效 / booking_opens and booking_closes are required and booking_opens must be before booking_closes")
	}
	if (in.RegistrationOpens == nil) != (in.RegistrationCloses == nil) ||
		(in.RegistrationOpens != nil && !in.RegistrationOpens.Before(*in.RegistrationCloses)) {
		return apperr.New(apperr.Invalid, "registration_opens and registration_closes go together, opens before closes")
	}
	ctx := r.Context()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO fairs (name, venue, day, time_zone, mode, booking_opens, booking_closes, registration_opens, registration_closes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, strings.TrimSpace(in.Name), in.Venue, in.Day, in.TimeZone, in.Mode,
		in.BookingOpens, in.BookingCloses, in.RegistrationOpens, in.RegistrationCloses).Scan(&id); err != nil {
		return internal(err, "create fair")
	}
	if p.Role == RoleOfficer {
		if _, err := tx.Exec(ctx, `INSERT INTO fair_officers (fair_id, account_id) VALUES ($1, $2)`, id, p.Account); err != nil {
			return internal(err, "add fair officer")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "create fair")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "name": strings.TrimSpace(in.Name), "day": in.Day, "time_zone": in.TimeZone,
		"mode": in.Mode, "booking_opens": in.BookingOpens, "booking_closes": in.BookingCloses, "status": "published"})
}

func (s *Service) handleCreateBooth(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		EmployerID   int64  `json:"employer_id"`
		HallPosition string `json:"hall_position"`
		Lanes        int16  `json:"lanes"`
		DailyCap     *int16 `json:"daily_cap"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.EmployerID <= 0 {
		return apperr.New(apperr.Invalid, "employer_id must be a positive integer")
	}
	if in.Lanes == 0 {
		in.Lanes = 1
	}
	if in.Lanes < 1 || in.Lanes > 20 {
		return apperr.New(apperr.Invalid, "lanes must be 1 to 20")
	}
	if in.DailyCap != nil && (*in.DailyCap < 1 || *in.DailyCap > 200) {
		return apperr.New(apperr.Invalid, "daily_cap must be 1 to 200")
	}
	if err := textField("hall_position", in.HallPosition, 0, 50); err != nil {
		return err
	}
	if err := s.runsFair(r.Context(), p, fairID); err != nil {
		return err
	}
	var id int64
	err = s.pool.QueryRow(r.Context(), `INSERT INTO booths (fair_id, employer_id, hall_position, lanes, daily_cap) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		fairID, in.EmployerID, in.HallPosition, in.Lanes, in.DailyCap).Scan(&id)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return apperr.New(apperr.Conflict, "该单位在这个招聘会已有展位 / this employer already has a booth at this fair")
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return apperr.New(apperr.NotFound, "没有这个单位 / no employer with id %d", in.EmployerID)
	case err != nil:
		return verifiedRefusal(err, "create booth")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "fair_id": fairID, "employer_id": in.EmployerID,
		"hall_position": in.HallPosition, "lanes": in.Lanes, "daily_cap": in.DailyCap})
}

func (s *Service) handleFairBookings(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	if err := s.runsFair(r.Context(), p, fairID); err != nil {
		return err
	}
	type row struct {
		ID       int64     `json:"id"`
		BoothID  int64     `json:"booth_id"`
		Lane     int16     `json:"lane"`
		SeekerID int64     `json:"seeker_id"`
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
		Status   string    `json:"status"`
		Kind     string    `json:"kind"`
	}
	// Keyset pagination: pass the last id as "after".
	rows, err := s.pool.Query(r.Context(), `SELECT bk.id, bk.booth_id, bk.lane, bk.seeker_id, lower(bk.during), upper(bk.during), bk.status, bk.kind
		FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE b.fair_id = $1 AND bk.id > $2 ORDER BY bk.id LIMIT $3`, fairID, after, limit)
	if err != nil {
		return internal(err, "list fair bookings")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return internal(err, "list fair bookings")
	}
	out := map[string]any{"fair_id": fairID, "bookings": nonNil(list), "limit": limit}
	if len(list) == limit {
		out["next_after"] = list[len(list)-1].ID
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleFreeSlotMap returns, for every booth of a fair, how many lanes are
// free at each slot start of the day: one aggregate query.
func (s *Service) handleFreeSlotMap(w http.ResponseWriter, r *http.Request) error {
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var tz string
	if err := s.pool.QueryRow(ctx, `SELECT time_zone FROM fairs WHERE id = $1`, fairID).Scan(&tz); err != nil {
		if isNoRows(err) {
			return apperr.New(apperr.NotFound, "没有这个招聘会 / no fair with id %d", fairID)
		}
		return internal(err, "look up fair")
	}
	rows, err := s.pool.Query(ctx, `WITH fb AS (SELECT id FROM booths WHERE fair_id = $1),
		taken AS (SELECT bk.slot_id FROM bookings bk WHERE bk.booth_id IN (SELECT id FROM fb) AND bk.status IN ('held', 'booked'))
		SELECT s.booth_id, lower(s.during), count(*)
		FROM slots s WHERE s.booth_id IN (SELECT id FROM fb) AND s.open AND lower(s.during) > $2
			AND s.id NOT IN (SELECT slot_id FROM taken)
		GROUP BY s.booth_id, lower(s.during) ORDER BY s.booth_id, lower(s.during)`, fairID, s.now())
	if err != nil {
		return internal(err, "free-slot map")
	}
	defer rows.Close()
	type boothFree struct {
		BoothID int64   `json:"booth_id"`
		Free    int64   `json:"free"`
		Starts  []int   `json:"starts"` // indexes into the top-level starts
		Lanes   []int64 `json:"lanes"`  // free lanes at each of those starts
	}
	loc := s.zone(tz)
	startIdx := map[int64]int{}
	var starts []time.Time
	var booths []boothFree
	for rows.Next() {
		var booth, n int64
		var st time.Time
		if err := rows.Scan(&booth, &st, &n); err != nil {
			return internal(err, "free-slot map")
		}
		if len(booths) == 0 || booths[len(booths)-1].BoothID != booth {
			booths = append(booths, boothFree{BoothID: booth})
		}
		k := st.Unix()
		i, ok := startIdx[k]
		if !ok {
			i = len(starts)
			startIdx[k] = i
			starts = append(starts, st.In(loc))
		}
		b := &booths[len(booths)-1]
		b.Free += n
		b.Starts, b.Lanes = append(b.Starts, i), append(b.Lanes, n)
	}
	if err := rows.Err(); err != nil {
		return internal(err, "free-slot map")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"fair_id": fairID, "time_zone": tz, "starts": nonNil(starts), "booths": nonNil(booths)})
}

type ruleIn struct {
	Lane        *int16 `json:"lane"`
	Weekday     *int16 `json:"weekday"`
	Starts      string `json:"starts"`
	Ends        string `json:"ends"`
	SlotMinutes int16  `json:"slot_minutes"`
}

type overrideIn struct {
	Lane   *int16 `json:"lane"`
	Day    string `json:"day"`
	Closed bool   `json:"closed"`
	Starts string `json:"starts"`
	Ends   string `json:"ends"`
}

func parseClock(name, v string) (time.Duration, error) {
	t, err := time.Parse("15:04", v)
	if err != nil {
		return 0, apperr.New(apperr.Invalid, "%s must be HH:MM", name)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// handlePutAvailability replaces a booth's rules and overrides and
// regenerates the fair day's slots in one transaction: slots inside the
// availability open (created if new), the others close. Booked slots stay
// booked; a closed slot only refuses new bookings.
func (s *Service) handlePutAvailability(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Rules     []ruleIn     `json:"rules"`
		Overrides []overrideIn `json:"overrides"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.Rules) > 50 || len(in.Overrides) > 100 {
		return apperr.New(apperr.Invalid, "at most 50 rules and 100 overrides")
	}
	b, err := s.manageBooth(r, p, boothID)
	if err != nil {
		return err
	}
	loc := s.zone(b.timeZone)
	day := b.fairDay
	dayStr := day.Format(time.DateOnly)
	midnight := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	type window struct {
		from, to time.Duration
		step     time.Duration
	}
	perLane := map[int16][]window{}
	overridden := map[int16]bool{}
	laneOK := func(l *int16) error {
		if l != nil && (*l < 1 || *l > b.lanes) {
			return apperr.New(apperr.Invalid, "lane must be 1 to %d for this booth", b.lanes)
		}
		return nil
	}
	lanesOf := func(l *int16) []int16 {
		if l != nil {
			return []int16{*l}
		}
		var all []int16
		for i := int16(1); i <= b.lanes; i++ {
			all = append(all, i)
		}
		return all
	}
	step := 15 * time.Minute
	for _, ru := range in.Rules {
		from, err := parseClock("starts", ru.Starts)
		if err != nil {
			return err
		}
		to, err := parseClock("ends", ru.Ends)
		if err != nil {
			return err
		}
		if from >= to {
			return apperr.New(apperr.Invalid, "时间段颠倒或为空 / each rule's starts must be before its ends")
		}
		if ru.SlotMinutes == 0 {
			ru.SlotMinutes = 15
		}
		if ru.SlotMinutes < 5 || ru.SlotMinutes > 240 {
			return apperr.New(apperr.Invalid, "slot_minutes must be 5 to 240")
		}
		if ru.Weekday != nil && (*ru.Weekday < 0 || *ru.Weekday > 6) {
			return apperr.New(apperr.Invalid, "weekday must be 0 (Sunday) to 6")
		}
		if err := laneOK(ru.Lane); err != nil {
			return err
		}
		if ru.Weekday != nil && time.Weekday(*ru.Weekday) != day.Weekday() {
			continue
		}
		for _, l := range lanesOf(ru.Lane) {
			perLane[l] = append(perLane[l], window{from, to, time.Duration(ru.SlotMinutes) * time.Minute})
		}
		step = time.Duration(ru.SlotMinutes) * time.Minute
	}
	for _, o := range in.Overrides {
		d, err := time.Parse(time.DateOnly, o.Day)
		if err != nil {
			return apperr.New(apperr.Invalid, "override day must be YYYY-MM-DD")
		}
		if err := laneOK(o.Lane); err != nil {
			return err
		}
		var from, to time.Duration
		if !o.Closed {
			if from, err = parseClock("starts", o.Starts); err != nil {
				return err
			}
			if to, err = parseClock("ends", o.Ends); err != nil {
				return err
			}
			if from >= to {
				return apperr.New(apperr.Invalid, "时间段颠倒或为空 / each override's starts must be before its ends")
			}
		}
		if d.Format(time.DateOnly) != dayStr {
			continue
		}
		for _, l := range lanesOf(o.Lane) {
			if !overridden[l] {
				overridden[l], perLane[l] = true, nil
			}
			if !o.Closed {
				perLane[l] = append(perLane[l], window{from, to, step})
			}
		}
	}
	var lanes []int16
	var froms, tos []time.Time
	for l, ws := range perLane {
		for _, wdw := range ws {
			for t := wdw.from; t+wdw.step <= wdw.to; t += wdw.step {
				lanes, froms, tos = append(lanes, l), append(froms, midnight.Add(t)), append(tos, midnight.Add(t+wdw.step))
			}
		}
	}
	if len(lanes) > 20*200 {
		return apperr.New(apperr.Invalid, "availability makes too many slots (%d)", len(lanes))
	}
	ctx := r.Context()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, `DELETE FROM availability_rules WHERE booth_id = $1`, boothID); err != nil {
		return internal(err, "replace rules")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM availability_overrides WHERE booth_id = $1`, boothID); err != nil {
		return internal(err, "replace overrides")
	}
	for _, ru := range in.Rules {
		mins := ru.SlotMinutes
		if mins == 0 {
			mins = 15
		}
		if _, err := tx.Exec(ctx, `INSERT INTO availability_rules (booth_id, lane, weekday, starts, ends, slot_minutes) VALUES ($1, $2, $3, $4, $5, $6)`,
			boothID, ru.Lane, ru.Weekday, ru.Starts, ru.Ends, mins); err != nil {
			return internal(err, "store rule")
		}
	}
	for _, o := range in.Overrides {
		var st, en *string
		if !o.Closed {
			st, en = &o.Starts, &o.Ends
		}
		if _, err := tx.Exec(ctx, `INSERT INTO availability_overrides (booth_id, lane, day, closed, starts, ends) VALUES ($1, $2, $3, $4, $5, $6)`,
			boothID, o.Lane, o.Day, o.Closed, st, en); err != nil {
			return internal(err, "store override")
		}
	}
	var opened, closed int64
	if err := tx.QueryRow(ctx, `WITH d AS (SELECT * FROM unnest($2::smallint[], $3::timestamptz[], $4::timestamptz[]) AS d(lane, a, b)),
		up AS (INSERT INTO slots (booth_id, lane, during) SELECT $1, lane, tstzrange(a, b) FROM d
			ON CONFLICT (booth_id, lane, during) DO UPDATE SET open = true RETURNING id),
		cl AS (UPDATE slots SET open = false WHERE booth_id = $1 AND open AND (lower(during) AT TIME ZONE $5)::date = $6::date
			AND id NOT IN (SELECT id FROM up) RETURNING id)
		SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM cl)`, boothID, lanes, froms, tos, b.timeZone, dayStr).Scan(&opened, &closed); err != nil {
		return internal(err, "regenerate slots")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "commit availability")
	}
	s.slots.dropBooth(boothID)
	return writeJSON(w, http.StatusOK, map[string]any{"booth_id": boothID, "day": dayStr, "open_slots": opened, "closed_slots": closed})
}

// handleJobSlots ranks free slots at the job's employer's booths: soonest
// first, and among equal times the least busy lane; a signed-in seeker's
// own bookings are avoided.
func (s *Service) handleJobSlots(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 10, 1, 50)
	if err != nil {
		return err
	}
	var seeker int64
	if p, err := s.sessionFrom(r); err == nil && p.Role == RoleSeeker {
		seeker = p.ID
	}
	ctx := r.Context()
	var emp int64
	if err := s.pool.QueryRow(ctx, `SELECT employer_id FROM job_posts WHERE id = $1`, id).Scan(&emp); err != nil {
		if isNoRows(err) {
			return apperr.New(apperr.NotFound, "没有这个职位 / no job post with id %d", id)
		}
		return internal(err, "look up job")
	}
	type ranked struct {
		ID      int64     `json:"id"`
		BoothID int64     `json:"booth_id"`
		Lane    int16     `json:"lane"`
		Start   time.Time `json:"start"`
		End     time.Time `json:"end"`
		Load    int64     `json:"lane_bookings"`
		TZ      string    `json:"-"`
	}
	rows, err := s.pool.Query(ctx, `WITH bo AS (SELECT b.id, f.time_zone FROM booths b JOIN fairs f ON f.id = b.fair_id
			WHERE b.employer_id = $1 AND f.status = 'published' AND f.booking_closes > $2),
		load AS (SELECT bk.booth_id, bk.lane, count(*) AS n FROM bookings bk WHERE bk.booth_id IN (SELECT id FROM bo)
			AND bk.status IN ('held', 'booked') GROUP BY 1, 2)
		SELECT s.id, s.booth_id, s.lane, lower(s.during), upper(s.during), coalesce(l.n, 0), bo.time_zone
		FROM slots s JOIN bo ON bo.id = s.booth_id LEFT JOIN load l ON l.booth_id = s.booth_id AND l.lane = s.lane
		WHERE s.open AND lower(s.during) > $2
			AND NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.booth_id = s.booth_id AND bk.lane = s.lane
				AND bk.status IN ('held', 'booked') AND bk.during && s.during)
			AND NOT EXISTS (SELECT 1 FROM bookings bk WHERE $3 <> 0 AND bk.seeker_id = $3 AND bk.status IN ('held', 'booked') AND bk.during && s.during)
		ORDER BY lower(s.during), coalesce(l.n, 0), s.lane LIMIT $4`, emp, s.now(), seeker, limit)
	if err != nil {
		return internal(err, "rank slots")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ranked])
	if err != nil {
		return internal(err, "rank slots")
	}
	for i := range list {
		loc := s.zone(list[i].TZ)
		list[i].Start, list[i].End = list[i].Start.In(loc), list[i].End.In(loc)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"job_post_id": id, "slots": nonNil(list)})
}
