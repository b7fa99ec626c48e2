package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// Names of the exclusion constraints (0002_city_scale.sql).
const (
	constraintBoothLane     = "bookings_no_double_booking"
	constraintSeekerOverlap = "bookings_no_seeker_overlap"
)

// Messages users see when a booking is refused.
const (
	MsgSlotTaken     = "这个时段已被预约 / this slot was just booked by someone else"
	MsgSeekerOverlap = "您在这个时间已有其他面试预约 / you already have another interview booked at this time"
	MsgAlreadyYours  = "您已预约了这个时段 / you have already booked this slot"
	MsgSlotPast      = "这个时段已经开始或结束 / this slot has already started or ended"
	MsgSlotClosed    = "这个时段不在展位的开放时间内 / this slot is outside the booth's availability"
	MsgDailyCap      = "该面试官今天的面试已满 / this interviewer has reached the day's interview limit"
	MsgHoldExpired   = "预留已过期 / this hold or invitation has expired; pick a slot again"
	MsgAccountGone   = "your account no longer exists; please sign in again"
)

// Booking kinds in the employment log.
const (
	KindInvited            = "invited"
	KindBookingRescheduled = "booking_rescheduled"
	KindBookingCancelled   = "booking_cancelled"
	KindOutcomeRecorded    = "outcome_recorded"
	KindNoShow             = "no_show"
	KindApplied            = "application_submitted"
	KindSeatTaken          = "group_session_joined"
	KindQueueJoined        = "queue_joined"
	KindSeekerJoined       = "seeker_joined" // room event: marks attendance, not logged
)

// maxPanel bounds the lanes of one panel interview.
const maxPanel = 5

type bookingJSON struct {
	ID           int64      `json:"id"`
	SlotID       int64      `json:"slot_id"`
	BoothID      int64      `json:"booth_id"`
	EmployerName string     `json:"employer_name"`
	Lane         int16      `json:"lane"`
	Lanes        []int16    `json:"lanes,omitempty"` // panel interviews
	Start        time.Time  `json:"start"`
	End          time.Time  `json:"end"`
	Status       string     `json:"status"`
	HoldExpires  *time.Time `json:"hold_expires_at,omitempty"`
	Room         string     `json:"room"`
	JoinURL      string     `json:"join_url,omitempty"`
}

// slotInfo is a slot with what booking it needs from its booth and fair.
type slotInfo struct {
	id            int64
	boothID       int64
	lane          int16
	start, end    time.Time
	open          bool
	employerID    int64
	employerName  string
	dailyCap      *int16
	timeZone      string
	fairStatus    string
	opens, closes time.Time
	seekerName    *string
}

// reservation is one request to hold or book slots for a seeker.
type reservation struct {
	seekerID  int64
	slotIDs   []int64 // more than one: a panel (one time, several lanes of a booth)
	status    string  // "held" or "booked"
	holdUntil time.Time
	origin    string // "self" or "invite"
	jobPostID *int64
	logKind   string // "" = no log entry
	replaces  int64  // reschedule: the booking group this one replaces
	cleared   bool   // expired holds in the way were cleared after a refusal: no second try
}

// loadSlots reads the slots ids with their booth and fair, and the
// seeker's name. It also returns every other slot of the same booths
// (same shape, for the facts cache: a booth's next booking then needs no
// lookup).
func (s *Service) loadSlots(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, seekerID int64, ids []int64) ([]slotInfo, []slotInfo, error) {
	rows, err := q.Query(ctx, `SELECT s.id, s.booth_id, s.lane, lower(s.during), upper(s.during), s.open, b.employer_id, e.name, b.daily_cap,
			f.time_zone, f.status, f.booking_opens, f.booking_closes, (SELECT name FROM seekers WHERE id = $2)
		FROM slots s JOIN booths b ON b.id = s.booth_id JOIN employers e ON e.id = b.employer_id JOIN fairs f ON f.id = b.fair_id
		WHERE s.booth_id IN (SELECT booth_id FROM slots WHERE id = ANY($1))`, ids, seekerID)
	if err != nil {
		return nil, nil, apperr.Wrap(err, apperr.Unavailable, "database unavailable")
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (slotInfo, error) {
		var sl slotInfo
		err := row.Scan(&sl.id, &sl.boothID, &sl.lane, &sl.start, &sl.end, &sl.open, &sl.employerID, &sl.employerName, &sl.dailyCap,
			&sl.timeZone, &sl.fairStatus, &sl.opens, &sl.closes, &sl.seekerName)
		return sl, err
	})
	if err != nil {
		return nil, nil, internal(err, "look up slots")
	}
	out := make([]slotInfo, 0, len(ids))
	for _, id := range ids {
		i := slices.IndexFunc(found, func(sl slotInfo) bool { return sl.id == id })
		if i < 0 {
			return nil, nil, apperr.New(apperr.NotFound, "没有这个时段 / no slot with id %d", id)
		}
		out = append(out, found[i])
	}
	if out[0].seekerName == nil {
		return nil, nil, apperr.New(apperr.Unauthorized, MsgAccountGone)
	}
	return out, found, nil
}

// checkShape applies the rules on what never changes about the slots:
// a panel is one booth at one time on distinct lanes, in the future.
func checkShape(sls []slotInfo, now time.Time) error {
	first := sls[0]
	lanes := map[int16]bool{}
	for _, sl := range sls {
		if sl.boothID != first.boothID || !sl.start.Equal(first.start) || !sl.end.Equal(first.end) {
			return apperr.New(apperr.Invalid, "面试组的时段必须是同一展位同一时间 / panel slots must be of one booth at one time")
		}
		if lanes[sl.lane] {
			return apperr.New(apperr.Invalid, "面试组的时段必须是不同的面试通道 / panel slots must be of different lanes")
		}
		lanes[sl.lane] = true
	}
	if !now.Before(first.start) {
		return apperr.New(apperr.Invalid, MsgSlotPast)
	}
	return nil
}

// checkSlots applies the rules that give clear messages before the
// database has its say.
func (s *Service) checkSlots(sls []slotInfo, now time.Time) error {
	if err := checkShape(sls, now); err != nil {
		return err
	}
	first := sls[0]
	loc := s.zone(first.timeZone)
	switch {
	case first.fairStatus != "published":
		return apperr.New(apperr.Conflict, "该招聘会不接受预约 / this fair is not taking bookings")
	case now.Before(first.opens):
		return apperr.New(apperr.Conflict, "预约尚未开放 / booking for this fair opens at %s", first.opens.In(loc).Format(time.RFC3339))
	case !now.Before(first.closes):
		return apperr.New(apperr.Conflict, "预约已截止 / booking for this fair closed at %s", first.closes.In(loc).Format(time.RFC3339))
	}
	for _, sl := range sls {
		if !sl.open {
			return apperr.New(apperr.Conflict, MsgSlotClosed).WithDetails(map[string]any{"slot_id": sl.id})
		}
	}
	return nil
}

// SQL of a reservation; $1 slot ids, $2 seeker, $3 status, $4 hold expiry,
// $5 kind, $6 origin, $7 job post, $8 now, $9 log kind, $10 log data,
// $11 employer, $12 cap day start, $13 cap day end, $14 daily cap, $15 webhook event,
// $16 booth. The log entry, webhooks and the reminder row are written by the same
// statement. It inserts nothing when the fair is not taking bookings, a
// lane's daily cap is reached, or the booth's cap is not $14 (the slots'
// facts may come from the cache, so the fair's status and window, and the
// cap the lock statements before it were chosen by, are checked here, once:
// the check is not correlated with the slot rows, so it stays a one-time
// filter instead of a join the generic plan would run over every booth); it returns the
// seeker's name for the join link (a seeker that is gone fails the foreign key).
var reserveSQL = `WITH g AS (SELECT CASE WHEN cardinality($1::bigint[]) > 1 THEN nextval(pg_get_serial_sequence('bookings', 'id')) END AS gid),
ins AS (
	INSERT INTO bookings (id, slot_id, booth_id, lane, seeker_id, during, status, hold_expires_at, kind, origin, job_post_id, group_id, confirmed_at)
	SELECT CASE WHEN s.id = ($1::bigint[])[1] AND g.gid IS NOT NULL THEN g.gid ELSE nextval(pg_get_serial_sequence('bookings', 'id')) END,
		s.id, s.booth_id, s.lane, $2, s.during, $3, $4, $5, $6, $7, g.gid, CASE WHEN $3 = 'booked' THEN $8::timestamptz END
	FROM slots s, g WHERE s.id = ANY($1)
		AND s.booth_id = $16
		AND EXISTS (SELECT 1 FROM booths b JOIN fairs f ON f.id = b.fair_id WHERE b.id = $16 AND b.daily_cap IS NOT DISTINCT FROM $14::int
			AND f.status = 'published' AND f.booking_opens <= $8 AND $8 < f.booking_closes)
		AND ($14::int IS NULL OR NOT EXISTS (SELECT 1 FROM unnest($1::bigint[]) AS x(sid) JOIN slots xs ON xs.id = x.sid
			WHERE (SELECT count(*) FROM bookings c WHERE c.booth_id = xs.booth_id AND c.lane = xs.lane AND c.status IN ('held', 'booked')
				AND lower(c.during) >= $12 AND lower(c.during) < $13) >= $14))
	ORDER BY s.lane
	RETURNING id, group_id, lane, lower(during) AS start
),
lg AS (
	INSERT INTO employment_log (seeker_id, kind, at, booking_id, data)
	SELECT $2, $9, $8, i.id, $10::jsonb || jsonb_build_object('booking_id', i.id, 'room', 'interview-' || i.id)
	FROM ins i WHERE $9::text <> '' AND i.id = i.group_id
),
wh AS (
	INSERT INTO outbox (kind, event, webhook_id, booking_id, payload)
	SELECT 'webhook', $15::text, w.id, i.id, jsonb_build_object('booking_id', i.id, 'seeker_id', $2::bigint) || $10::jsonb
	FROM ins i JOIN webhooks w ON w.active AND $15::text = ANY (w.events) AND (w.employer_id IS NULL OR w.employer_id = $11)
	WHERE $3 = 'booked' AND i.id = i.group_id
),
rm AS (
	INSERT INTO outbox (kind, event, booking_id, payload, due_at)
	SELECT 'reminder', r.ev, i.id, jsonb_build_object('booking_id', i.id, 'start', i.start), i.start - r.ahead
	FROM ins i CROSS JOIN LATERAL (` + firstReminderSQL("i.start", "$8") + `) r
	WHERE $3 = 'booked' AND i.id = i.group_id
)
SELECT id, group_id, lane, (SELECT name FROM seekers WHERE id = $2) FROM ins ORDER BY lane`

// expireSQL clears expired holds in the way of a reservation: inside a
// reschedule's transaction before it, or, for a booking on its own, after
// an exclusion refusal, which is then tried once more if it cleared any
// (most bookings meet no expired hold, and the sweeper clears them every
// second: one statement less per booking).
const expireSQL = `UPDATE bookings SET status = 'expired' WHERE status = 'held' AND hold_expires_at <= $1
	AND during && tstzrange($2, $3) AND ((booth_id = $4 AND lane = ANY($5)) OR seeker_id = $6)`

// querier is a transaction or a batch-capable connection.
type querier interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// reserve holds or books rv's slots. Without a transaction it runs as one
// pipelined batch (an implicit transaction: one round trip); a reschedule
// passes its transaction. The exclusion constraints decide races.
func (s *Service) reserve(ctx context.Context, tx pgx.Tx, rv reservation) (bookingJSON, error) {
	now := s.now()
	if len(rv.slotIDs) == 0 || len(rv.slotIDs) > maxPanel {
		return bookingJSON{}, apperr.New(apperr.Invalid, "a booking takes 1 to %d slots", maxPanel)
	}
	var q querier = s.pool
	if tx != nil {
		q = tx
	}
	// The slots' lasting facts from the cache, or one lookup that also
	// checks what can change and fills the cache.
	sls, cached := s.facts.get(rv.slotIDs)
	if cached {
		if err := checkShape(sls, now); err != nil {
			return bookingJSON{}, err
		}
	} else {
		var booth []slotInfo
		var err error
		if sls, booth, err = s.loadSlots(ctx, q, rv.seekerID, rv.slotIDs); err != nil {
			return bookingJSON{}, err
		}
		if err := s.checkSlots(sls, now); err != nil {
			return bookingJSON{}, err
		}
		s.facts.put(booth)
	}
	first := sls[0]
	loc := s.zone(first.timeZone)
	lanes := make([]int16, len(sls))
	for i, sl := range sls {
		lanes[i] = sl.lane
	}
	kind := "one_to_one"
	if len(sls) > 1 {
		kind = "panel"
	}
	var holdUntil *time.Time
	if rv.status == "held" {
		holdUntil = &rv.holdUntil
	}
	data, _ := json.Marshal(map[string]any{"slot_id": first.id, "booth_id": first.boothID, "employer": first.employerName,
		"lane": first.lane, "lanes": lanes, "start": first.start, "end": first.end, "kind": kind})
	if tx == nil && len(sls) == 1 && first.dailyCap == nil && rv.replaces == 0 && !rv.cleared {
		r := &groupReq{slot: first, seekerID: rv.seekerID, status: rv.status, hold: holdUntil, origin: rv.origin,
			jobPost: rv.jobPostID, logKind: rv.logKind, logData: data, event: EventBookingCreated}
		if s.submitGroup(ctx, r) {
			return s.reserved(ctx, rv, first, lanes, holdUntil, r.id, r.seekerName)
		}
		// Not in a group, refused there, or the group failed: on its own.
	}
	var capArg *int
	y, m, d := first.start.In(loc).Date()
	dayStart := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if first.dailyCap != nil {
		c := int(*first.dailyCap)
		capArg = &c
	}
	event := EventBookingCreated
	if rv.replaces != 0 {
		event = EventBookingRescheduled
	}
	args := []any{rv.slotIDs, rv.seekerID, rv.status, holdUntil, kind, rv.origin, rv.jobPostID, now, rv.logKind, data,
		first.employerID, dayStart, dayStart.AddDate(0, 0, 1), capArg, event, first.boothID}

	b := &pgx.Batch{}
	if tx != nil { // a failed statement would end the reschedule's transaction: clear first
		b.Queue(expireSQL, now, first.start, first.end, first.boothID, lanes, rv.seekerID)
	}
	if capArg != nil {
		// Per-lane daily caps are counted under transaction-scoped locks,
		// taken in lane order so that panels cannot deadlock.
		sorted := slices.Sorted(slices.Values(lanes))
		for _, l := range sorted {
			b.Queue(`SELECT pg_advisory_xact_lock($1::bigint)`, capLockKey(first.boothID, l))
		}
	}
	b.Queue(reserveSQL, args...)
	var br pgx.BatchResults
	if tx != nil {
		br = tx.SendBatch(ctx, b)
	} else {
		br = s.pool.SendBatch(ctx, b)
	}
	var ids []int64
	var group int64
	var seekerName *string
	execErr := func() error {
		for range b.Len() - 1 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, g int64
			var lane int16
			if err := rows.Scan(&id, &g, &lane, &seekerName); err != nil {
				rows.Close()
				return err
			}
			ids, group = append(ids, id), g
		}
		rows.Close()
		return rows.Err()
	}()
	if cerr := br.Close(); execErr == nil {
		execErr = cerr
	}
	var pgErr *pgconn.PgError
	if execErr != nil && tx == nil && !rv.cleared && errors.As(execErr, &pgErr) && pgErr.Code == "23P01" {
		tag, err := s.pool.Exec(ctx, expireSQL, now, first.start, first.end, first.boothID, lanes, rv.seekerID)
		if err == nil && tag.RowsAffected() > 0 {
			rv.cleared = true
			return s.reserve(ctx, nil, rv)
		}
	}
	if execErr != nil {
		return bookingJSON{}, s.bookingRefusal(ctx, execErr, rv.seekerID, first)
	}
	if len(ids) == 0 {
		// Refused without an error: the fair (status, window), a lane's
		// daily cap, or a cap that changed since the facts were cached.
		if cached {
			s.facts.forget(rv.slotIDs)
			return s.reserve(ctx, tx, rv) // once more, from the database
		}
		// Read the slots again for the clear message.
		fresh, _, err := s.loadSlots(ctx, q, rv.seekerID, rv.slotIDs)
		if err != nil {
			return bookingJSON{}, err
		}
		if err := s.checkSlots(fresh, now); err != nil {
			return bookingJSON{}, err
		}
		alts, _ := s.alternatives(ctx, first)
		return bookingJSON{}, apperr.New(apperr.Conflict, MsgDailyCap).WithDetails(map[string]any{"alternatives": alts})
	}
	if seekerName == nil {
		return bookingJSON{}, internal(errors.New("no seeker name"), "insert booking")
	}
	if tx == nil { // committed: this node's readers see it at once (a reschedule drops after its commit)
		s.slots.dropBooth(first.boothID)
	}
	return s.reserved(ctx, rv, first, lanes, holdUntil, group, *seekerName)
}

// reserved is the answer for a reservation the database took.
func (s *Service) reserved(ctx context.Context, rv reservation, first slotInfo, lanes []int16, holdUntil *time.Time,
	group int64, seekerName string) (bookingJSON, error) {
	loc := s.zone(first.timeZone)
	s.log.DebugContext(ctx, "booking: reserved", "booking", group, "slots", rv.slotIDs, "seeker", rv.seekerID, "status", rv.status)
	out := bookingJSON{ID: group, SlotID: first.id, BoothID: first.boothID, EmployerName: first.employerName, Lane: first.lane,
		Start: first.start.In(loc), End: first.end.In(loc), Status: rv.status, HoldExpires: holdUntil, Room: RoomForBooking(group)}
	if len(lanes) > 1 {
		out.Lanes = lanes
	}
	if rv.status == "booked" {
		var err error
		if out.JoinURL, err = s.seekerJoinURL(out.Room, rv.seekerID, seekerName, first.end); err != nil {
			return bookingJSON{}, err
		}
	}
	return out, nil
}

func capLockKey(boothID int64, lane int16) int64 { return 0x6361_70<<40 | boothID<<8 | int64(lane) }

func (s *Service) seekerJoinURL(room string, seekerID int64, name string, end time.Time) (string, error) {
	return s.joinURL(roomtoken.Grant{Room: room, Identity: fmt.Sprintf("seeker-%d", seekerID), Name: name,
		Role: roomtoken.RoleSeeker, Expires: end.Add(joinGrace), Lobby: true})
}

type newBookingIn struct {
	SlotID       int64   `json:"slot_id"`
	PanelSlotIDs []int64 `json:"panel_slot_ids"` // more lanes of the same booth and time
	JobPostID    int64   `json:"job_post_id"`
}

func (in newBookingIn) slots() ([]int64, *int64, error) {
	if in.SlotID <= 0 {
		return nil, nil, apperr.New(apperr.Invalid, "slot_id must be a positive integer")
	}
	if len(in.PanelSlotIDs) > maxPanel-1 {
		return nil, nil, apperr.New(apperr.Invalid, "a panel has at most %d lanes", maxPanel)
	}
	ids := append([]int64{in.SlotID}, in.PanelSlotIDs...)
	for _, id := range in.PanelSlotIDs {
		if id <= 0 {
			return nil, nil, apperr.New(apperr.Invalid, "panel_slot_ids must be positive integers")
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
		return nil, nil, apperr.New(apperr.Invalid, "slot ids must be distinct")
	}
	var job *int64
	if in.JobPostID < 0 {
		return nil, nil, apperr.New(apperr.Invalid, "job_post_id must be a positive integer")
	}
	if in.JobPostID > 0 {
		job = &in.JobPostID
	}
	return ids, job, nil
}

func (s *Service) handleCreateBooking(w http.ResponseWriter, r *http.Request) error {
	return s.createReservation(w, r, "booked")
}

func (s *Service) handleCreateHold(w http.ResponseWriter, r *http.Request) error {
	return s.createReservation(w, r, "held")
}

func (s *Service) createReservation(w http.ResponseWriter, r *http.Request, status string) error {
	p, err := s.require(r, RoleSeeker)
	if err != nil {
		return err
	}
	var in newBookingIn
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ids, job, err := in.slots()
	if err != nil {
		return err
	}
	if job != nil {
		if err := s.checkJobExists(r.Context(), *job); err != nil {
			return err
		}
	}
	rv := reservation{seekerID: p.ID, slotIDs: ids, status: status, origin: "self", jobPostID: job, logKind: KindBookingMade}
	if status == "held" {
		rv.holdUntil, rv.logKind = s.now().Add(s.holdTTL), ""
	}
	b, err := s.reserve(r.Context(), nil, rv)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, b)
}

func (s *Service) checkJobExists(ctx context.Context, id int64) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM job_posts WHERE id = $1)`, id).Scan(&ok); err != nil {
		return internal(err, "look up job")
	}
	if !ok {
		return apperr.New(apperr.NotFound, "没有这个职位 / no job post with id %d", id)
	}
	return nil
}

// bookingRefusal turns a failed insert into the error the user should see.
func (s *Service) bookingRefusal(ctx context.Context, err error, seekerID int64, sl slotInfo) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return internal(err, "insert booking")
	}
	switch {
	case pgErr.Code == "23514" && pgErr.ConstraintName == "slot_open":
		return apperr.New(apperr.Conflict, MsgSlotClosed)
	case pgErr.Code == "23503" && pgErr.ConstraintName == "bookings_seeker_id_fkey":
		return apperr.New(apperr.Unauthorized, MsgAccountGone)
	case pgErr.Code != "23P01": // exclusion_violation
		return internal(err, "insert booking")
	}
	switch pgErr.ConstraintName {
	case constraintSeekerOverlap:
		var other int64
		_ = s.pool.QueryRow(ctx, `SELECT bk.group_id FROM bookings bk
			WHERE bk.seeker_id = $1 AND bk.status IN ('held', 'booked') AND bk.during && tstzrange($2, $3) LIMIT 1`, seekerID, sl.start, sl.end).Scan(&other)
		if other != 0 {
			return apperr.New(apperr.Conflict, MsgSeekerOverlap).WithDetails(map[string]any{"booking_id": other})
		}
		return apperr.New(apperr.Conflict, MsgSeekerOverlap)
	case constraintBoothLane:
		var holder, other int64
		_ = s.pool.QueryRow(ctx, `SELECT bk.seeker_id, bk.group_id FROM bookings bk
			WHERE bk.booth_id = $1 AND bk.lane = $2 AND bk.status IN ('held', 'booked') AND bk.during && tstzrange($3, $4) LIMIT 1`,
			sl.boothID, sl.lane, sl.start, sl.end).Scan(&holder, &other)
		if holder == seekerID {
			return apperr.New(apperr.Conflict, MsgAlreadyYours).WithDetails(map[string]any{"booking_id": other})
		}
		alts, aerr := s.alternatives(ctx, sl)
		if aerr != nil {
			s.log.WarnContext(ctx, "booking: alternatives", "slot", sl.id, "err", aerr)
			alts = []slotJSON{}
		}
		return apperr.Wrap(err, apperr.Conflict, MsgSlotTaken).WithDetails(map[string]any{"alternatives": alts})
	default:
		return internal(err, "insert booking")
	}
}

// alternatives returns up to 3 free open future slots of the same booth,
// nearest in time to the one that was refused.
func (s *Service) alternatives(ctx context.Context, sl slotInfo) ([]slotJSON, error) {
	rows, err := s.pool.Query(ctx, `SELECT s.id, s.lane, lower(s.during), upper(s.during) FROM slots s
		WHERE s.booth_id = $1 AND s.id <> $2 AND s.open AND lower(s.during) > $3
			AND NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.booth_id = s.booth_id AND bk.lane = s.lane
				AND bk.status IN ('held', 'booked') AND bk.during && s.during)
		ORDER BY abs(extract(epoch FROM lower(s.during) - $4::timestamptz)), lower(s.during), s.lane
		LIMIT 3`, sl.boothID, sl.id, s.now(), sl.start)
	if err != nil {
		return []slotJSON{}, err
	}
	alts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[slotJSON])
	if err != nil {
		return []slotJSON{}, err
	}
	alts = nonNil(alts)
	s.localSlots(alts, sl.timeZone)
	return alts, nil
}

func (s *Service) handleMyBookings(w http.ResponseWriter, r *http.Request) error {
	p, err := s.require(r, RoleSeeker)
	if err != nil {
		return err
	}
	ctx := r.Context()
	name, err := s.nameOf(r, p)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, `SELECT bk.id, bk.slot_id, bk.booth_id, e.name, bk.lane, lower(bk.during), upper(bk.during),
			bk.status, f.time_zone
		FROM bookings bk JOIN booths b ON b.id = bk.booth_id JOIN employers e ON e.id = b.employer_id JOIN fairs f ON f.id = b.fair_id
		WHERE bk.seeker_id = $1 AND bk.id = bk.group_id ORDER BY lower(bk.during), bk.id LIMIT 500`, p.ID)
	if err != nil {
		return internal(err, "list bookings")
	}
	defer rows.Close()
	out := []bookingJSON{}
	now := s.now()
	for rows.Next() {
		var b bookingJSON
		var tz string
		if err := rows.Scan(&b.ID, &b.SlotID, &b.BoothID, &b.EmployerName, &b.Lane, &b.Start, &b.End, &b.Status, &tz); err != nil {
			return internal(err, "list bookings")
		}
		loc := s.zone(tz)
		b.Start, b.End, b.Room = b.Start.In(loc), b.End.In(loc), RoomForBooking(b.ID)
		if b.Status == "booked" && now.Before(b.End.Add(joinGrace)) {
			b.JoinURL, err = s.joinURL(roomtoken.Grant{Room: b.Room, Identity: fmt.Sprintf("seeker-%d", p.ID), Name: name,
				Role: roomtoken.RoleSeeker, Expires: b.End.Add(joinGrace), Lobby: true})
			if err != nil {
				return err
			}
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return internal(err, "list bookings")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"bookings": out})
}

type scheduleEntry struct {
	ID         int64     `json:"id"`
	SlotID     int64     `json:"slot_id"`
	Lane       int16     `json:"lane"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	SeekerID   int64     `json:"seeker_id"`
	SeekerName string    `json:"seeker_name"`
	Room       string    `json:"room"`
	JoinURL    string    `json:"join_url,omitempty"`
}

func (s *Service) handleBoothSchedule(w http.ResponseWriter, r *http.Request) error {
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	date, err := queryDate(r)
	if err != nil {
		return err
	}
	p, err := s.require(r)
	if err != nil {
		return err
	}
	b, err := s.manageBooth(r, p, boothID)
	if err != nil {
		return err
	}
	if date == "" {
		date = b.fairDay.Format(time.DateOnly)
	}
	rows, err := s.pool.Query(r.Context(), `SELECT bk.id, bk.slot_id, bk.lane, lower(bk.during), upper(bk.during), bk.seeker_id, sk.name
		FROM bookings bk JOIN seekers sk ON sk.id = bk.seeker_id
		WHERE bk.booth_id = $1 AND bk.status = 'booked' AND lower(bk.during) >= ($3::date::timestamp AT TIME ZONE $2)
			AND lower(bk.during) < (($3::date + 1)::timestamp AT TIME ZONE $2)
		ORDER BY lower(bk.during), bk.lane LIMIT 2000`, boothID, b.timeZone, date)
	if err != nil {
		return internal(err, "list schedule")
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scheduleEntry, error) {
		var e scheduleEntry
		err := row.Scan(&e.ID, &e.SlotID, &e.Lane, &e.Start, &e.End, &e.SeekerID, &e.SeekerName)
		return e, err
	})
	if err != nil {
		return internal(err, "list schedule")
	}
	if entries == nil {
		entries = []scheduleEntry{}
	}
	loc := s.zone(b.timeZone)
	now := s.now()
	for i := range entries {
		e := &entries[i]
		e.Start, e.End, e.Room = e.Start.In(loc), e.End.In(loc), RoomForBooking(e.ID)
		if now.Before(e.End.Add(joinGrace)) {
			e.JoinURL, err = s.joinURL(roomtoken.Grant{Room: e.Room, Identity: fmt.Sprintf("interviewer-%d-%d", boothID, e.Lane),
				Name: b.employerName, Role: roomtoken.RoleInterviewer, Expires: e.End.Add(joinGrace)})
			if err != nil {
				return err
			}
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"booth_id": boothID, "employer_name": b.employerName, "date": date,
		"time_zone": b.timeZone, "bookings": entries})
}

type logEntry struct {
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	At        time.Time       `json:"at"`
	BookingID *int64          `json:"booking_id"`
	Data      json.RawMessage `json:"data"`
}

func (s *Service) handleMyLog(w http.ResponseWriter, r *http.Request) error {
	p, err := s.require(r, RoleSeeker)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50, 1, 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 1_000_000)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `SELECT id, kind, at, booking_id, data FROM employment_log
		WHERE seeker_id = $1 ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3`, p.ID, limit, offset)
	if err != nil {
		return internal(err, "read employment log")
	}
	entries, err := pgx.CollectRows(rows, pgx.RowToStructByPos[logEntry])
	if err != nil {
		return internal(err, "read employment log")
	}
	if entries == nil {
		entries = []logEntry{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "limit": limit, "offset": offset})
}
