package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// Names of the exclusion constraints in 0001_init.sql.
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
)

type bookingJSON struct {
	ID           int64     `json:"id"`
	SlotID       int64     `json:"slot_id"`
	BoothID      int64     `json:"booth_id"`
	EmployerName string    `json:"employer_name"`
	Lane         int16     `json:"lane"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Status       string    `json:"status"`
	Room         string    `json:"room"`
	JoinURL      string    `json:"join_url,omitempty"`
}

// slotInfo is a slot with what booking it needs from its booth and fair.
type slotInfo struct {
	boothID       int64
	lane          int16
	start, end    time.Time
	employerName  string
	timeZone      string
	fairStatus    string
	opens, closes time.Time
}

func (s *Service) handleCreateBooking(w http.ResponseWriter, r *http.Request) error {
	p, err := s.require(r, RoleSeeker)
	if err != nil {
		return err
	}
	var in struct {
		SlotID int64 `json:"slot_id"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.SlotID <= 0 {
		return apperr.New(apperr.Invalid, "slot_id must be a positive integer")
	}
	b, err := s.book(r.Context(), p.ID, in.SlotID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, b)
}

// book books slotID for seekerID. The exclusion constraints decide races;
// the checks before the insert only give clearer messages.
func (s *Service) book(ctx context.Context, seekerID, slotID int64) (bookingJSON, error) {
	now := s.now()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return bookingJSON{}, apperr.Wrap(err, apperr.Unavailable, "database unavailable")
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit

	var sl slotInfo
	err = tx.QueryRow(ctx, `SELECT s.booth_id, s.lane, lower(s.during), upper(s.during), e.name, f.time_zone, f.status,
			f.booking_opens, f.booking_closes
		FROM slots s JOIN booths b ON b.id = s.booth_id JOIN employers e ON e.id = b.employer_id JOIN fairs f ON f.id = b.fair_id
		WHERE s.id = $1`, slotID).
		Scan(&sl.boothID, &sl.lane, &sl.start, &sl.end, &sl.employerName, &sl.timeZone, &sl.fairStatus, &sl.opens, &sl.closes)
	if isNoRows(err) {
		return bookingJSON{}, apperr.New(apperr.NotFound, "没有这个时段 / no slot with id %d", slotID)
	}
	if err != nil {
		return bookingJSON{}, internal(err, "look up slot")
	}
	loc := s.zone(sl.timeZone)
	switch {
	case !now.Before(sl.start):
		return bookingJSON{}, apperr.New(apperr.Invalid, MsgSlotPast)
	case sl.fairStatus != "published":
		return bookingJSON{}, apperr.New(apperr.Conflict, "该招聘会不接受预约 / this fair is not taking bookings")
	case now.Before(sl.opens):
		return bookingJSON{}, apperr.New(apperr.Conflict, "预约尚未开放 / booking for this fair opens at %s", sl.opens.In(loc).Format(time.RFC3339))
	case !now.Before(sl.closes):
		return bookingJSON{}, apperr.New(apperr.Conflict, "预约已截止 / booking for this fair closed at %s", sl.closes.In(loc).Format(time.RFC3339))
	}

	var seekerName string
	if err := tx.QueryRow(ctx, `SELECT name FROM seekers WHERE id = $1`, seekerID).Scan(&seekerName); err != nil {
		if isNoRows(err) {
			return bookingJSON{}, apperr.New(apperr.Unauthorized, "your account no longer exists; please sign in again")
		}
		return bookingJSON{}, internal(err, "look up seeker")
	}

	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO bookings (slot_id, booth_id, lane, seeker_id, during)
		SELECT id, booth_id, lane, $2, during FROM slots WHERE id = $1 RETURNING id`, slotID, seekerID).Scan(&id)
	if err != nil {
		_ = tx.Rollback(ctx) // the follow-up queries run outside the failed transaction
		return bookingJSON{}, s.bookingRefusal(ctx, err, seekerID, slotID, sl)
	}
	room := RoomForBooking(id)
	data, _ := json.Marshal(map[string]any{
		"slot_id": slotID, "booth_id": sl.boothID, "employer": sl.employerName, "lane": sl.lane,
		"start": sl.start, "end": sl.end, "room": room,
	})
	if _, err := tx.Exec(ctx, `INSERT INTO employment_log (seeker_id, kind, at, booking_id, data) VALUES ($1, $2, $3, $4, $5)`,
		seekerID, KindBookingMade, now, id, data); err != nil {
		return bookingJSON{}, internal(err, "write employment log")
	}
	if err := tx.Commit(ctx); err != nil {
		return bookingJSON{}, internal(err, "commit booking")
	}
	s.log.InfoContext(ctx, "booking: booked", "booking", id, "slot", slotID, "seeker", seekerID)

	out := bookingJSON{ID: id, SlotID: slotID, BoothID: sl.boothID, EmployerName: sl.employerName, Lane: sl.lane,
		Start: sl.start.In(loc), End: sl.end.In(loc), Status: "booked", Room: room}
	out.JoinURL, err = s.joinURL(roomtoken.Grant{Room: room, Identity: fmt.Sprintf("seeker-%d", seekerID), Name: seekerName,
		Role: roomtoken.RoleSeeker, Expires: sl.end.Add(joinGrace)})
	if err != nil {
		return bookingJSON{}, err
	}
	return out, nil
}

// bookingRefusal turns a failed insert into the error the user should see.
func (s *Service) bookingRefusal(ctx context.Context, err error, seekerID, slotID int64, sl slotInfo) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23P01" { // exclusion_violation
		return internal(err, "insert booking")
	}
	switch pgErr.ConstraintName {
	case constraintSeekerOverlap:
		var other int64
		_ = s.pool.QueryRow(ctx, `SELECT bk.id FROM bookings bk JOIN slots s ON s.id = $2
			WHERE bk.seeker_id = $1 AND bk.status = 'booked' AND bk.during && s.during LIMIT 1`, seekerID, slotID).Scan(&other)
		if other != 0 {
			return apperr.New(apperr.Conflict, MsgSeekerOverlap).WithDetails(map[string]any{"booking_id": other})
		}
		return apperr.New(apperr.Conflict, MsgSeekerOverlap)
	case constraintBoothLane:
		var holder, other int64
		_ = s.pool.QueryRow(ctx, `SELECT bk.seeker_id, bk.id FROM bookings bk
			WHERE bk.booth_id = $1 AND bk.lane = $2 AND bk.status = 'booked' AND bk.during && tstzrange($3, $4) LIMIT 1`,
			sl.boothID, sl.lane, sl.start, sl.end).Scan(&holder, &other)
		if holder == seekerID {
			return apperr.New(apperr.Conflict, MsgAlreadyYours).WithDetails(map[string]any{"booking_id": other})
		}
		alts, aerr := s.alternatives(ctx, slotID, sl)
		if aerr != nil {
			s.log.WarnContext(ctx, "booking: alternatives", "slot", slotID, "err", aerr)
			alts = []slotJSON{}
		}
		return apperr.Wrap(err, apperr.Conflict, MsgSlotTaken).WithDetails(map[string]any{"alternatives": alts})
	default:
		return internal(err, "insert booking")
	}
}

// alternatives returns up to 3 free future slots of the same booth,
// nearest in time to the one that was taken.
func (s *Service) alternatives(ctx context.Context, slotID int64, sl slotInfo) ([]slotJSON, error) {
	rows, err := s.pool.Query(ctx, `SELECT s.id, s.lane, lower(s.during), upper(s.during) FROM slots s
		WHERE s.booth_id = $1 AND s.id <> $2 AND lower(s.during) > $3
			AND NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.booth_id = s.booth_id AND bk.lane = s.lane
				AND bk.status = 'booked' AND bk.during && s.during)
		ORDER BY abs(extract(epoch FROM lower(s.during) - $4::timestamptz)), lower(s.during), s.lane
		LIMIT 3`, sl.boothID, slotID, s.now(), sl.start)
	if err != nil {
		return nil, err
	}
	alts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[slotJSON])
	if err != nil {
		return nil, err
	}
	if alts == nil {
		alts = []slotJSON{}
	}
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
		WHERE bk.seeker_id = $1 ORDER BY lower(bk.during), bk.id LIMIT 500`, p.ID)
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
				Role: roomtoken.RoleSeeker, Expires: b.End.Add(joinGrace)})
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
	p, err := s.require(r, RoleEmployer)
	if err != nil {
		return err
	}
	b, err := s.booth(r, boothID)
	if err != nil {
		return err
	}
	if b.employerID != p.ID {
		return apperr.New(apperr.Forbidden, "这不是您单位的展位 / this booth belongs to another employer; you can only see your own booth's schedule")
	}
	if date == "" {
		date = b.fairDay.Format(time.DateOnly)
	}
	rows, err := s.pool.Query(r.Context(), `SELECT bk.id, bk.slot_id, bk.lane, lower(bk.during), upper(bk.during), bk.seeker_id, sk.name
		FROM bookings bk JOIN seekers sk ON sk.id = bk.seeker_id
		WHERE bk.booth_id = $1 AND bk.status = 'booked' AND (lower(bk.during) AT TIME ZONE $2)::date = $3::date
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
