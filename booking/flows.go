package booking

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"jobhall/internal/apperr"
)

// Webhook events, versioned by the payload's "version".
const (
	EventBookingCreated     = "booking.created"
	EventBookingRescheduled = "booking.rescheduled"
	EventBookingCancelled   = "booking.cancelled"
	EventInterviewStarted   = "interview.started"
	EventInterviewEnded     = "interview.ended"
	EventBookingNoShow      = "booking.no_show"
	EventOutcomeRecorded    = "outcome.recorded"
	EventRecordingReady     = "recording.ready"
)

// Events lists every webhook event.
var Events = []string{EventBookingCreated, EventBookingRescheduled, EventBookingCancelled, EventInterviewStarted,
	EventInterviewEnded, EventBookingNoShow, EventOutcomeRecorded, EventRecordingReady}

// emitTx queues event for the webhooks subscribed to it (the booth's
// employer's and platform-wide ones) inside tx.
func emitTx(ctx context.Context, tx querier, event string, bookingID, employerID int64, data map[string]any) error {
	body, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (kind, event, webhook_id, booking_id, payload)
		SELECT 'webhook', $1, w.id, $2, $4::jsonb FROM webhooks w
		WHERE w.active AND $1 = ANY (w.events) AND (w.employer_id IS NULL OR w.employer_id = $3)`, event, bookingID, employerID, body)
	return err
}

func logTx(ctx context.Context, tx querier, seekerID int64, kind string, at time.Time, bookingID *int64, data map[string]any) error {
	body, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO employment_log (seeker_id, kind, at, booking_id, data) VALUES ($1, $2, $3, $4, $5)`,
		seekerID, kind, at, bookingID, body)
	return err
}

// remindersTx queues the booking's reminder row (see reminders).
func remindersTx(ctx context.Context, tx querier, bookingID int64, start, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO outbox (kind, event, booking_id, payload, due_at)
		SELECT 'reminder', r.ev, $1, jsonb_build_object('booking_id', $1::bigint, 'start', $2::timestamptz), $2::timestamptz - r.ahead
		FROM (`+firstReminderSQL("$2::timestamptz", "$3")+`) r`, bookingID, start, now)
	return err
}

// groupRow is a booking (the first row of its group) with what access
// checks and messages need.
type groupRow struct {
	id, seekerID, boothID, employerID, slotID, fairID int64
	lane                                              int16
	status                                            string
	holdExpires                                       *time.Time
	start, end                                        time.Time
	timeZone, employerName                            string
	kind                                              string
}

// lockGroup reads booking id (a group's first row) FOR UPDATE in tx and
// checks that p may act on it: its seeker, or staff of its booth's employer.
func (s *Service) lockGroup(ctx context.Context, tx pgx.Tx, p principal, id int64) (groupRow, error) {
	var g groupRow
	err := tx.QueryRow(ctx, `SELECT bk.id, bk.seeker_id, bk.booth_id, b.employer_id, bk.slot_id, b.fair_id, bk.lane, bk.status,
			bk.hold_expires_at, lower(bk.during), upper(bk.during), f.time_zone, e.name, bk.kind
		FROM bookings bk JOIN booths b ON b.id = bk.booth_id JOIN fairs f ON f.id = b.fair_id JOIN employers e ON e.id = b.employer_id
		WHERE bk.id = $1 AND bk.group_id = bk.id FOR UPDATE OF bk`, id).
		Scan(&g.id, &g.seekerID, &g.boothID, &g.employerID, &g.slotID, &g.fairID, &g.lane, &g.status, &g.holdExpires, &g.start, &g.end,
			&g.timeZone, &g.employerName, &g.kind)
	if isNoRows(err) {
		return g, apperr.New(apperr.NotFound, "没有这个预约 / no booking with id %d", id)
	}
	if err != nil {
		return g, internal(err, "look up booking")
	}
	switch {
	case p.Role == RoleSeeker && p.ID != g.seekerID:
		return g, apperr.New(apperr.Forbidden, "这不是您的预约 / this booking belongs to another seeker")
	case p.Role == RoleEmployer && p.ID != g.employerID:
		return g, apperr.New(apperr.Forbidden, "这不是您单位的预约 / this booking is at another employer's booth")
	case p.Role != RoleSeeker && p.Role != RoleEmployer:
		return g, forbiddenRoles(p.Role, []string{RoleSeeker, RoleEmployer})
	}
	return g, nil
}

func (s *Service) begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "database unavailable")
	}
	return tx, nil
}

func (g groupRow) json(s *Service) bookingJSON {
	loc := s.zone(g.timeZone)
	return bookingJSON{ID: g.id, SlotID: g.slotID, BoothID: g.boothID, EmployerName: g.employerName, Lane: g.lane,
		Start: g.start.In(loc), End: g.end.In(loc), Status: g.status, Room: RoomForBooking(g.id)}
}

func (g groupRow) data() map[string]any {
	return map[string]any{"booking_id": g.id, "seeker_id": g.seekerID, "booth_id": g.boothID, "lane": g.lane, "slot_id": g.slotID,
		"employer": g.employerName, "start": g.start, "end": g.end, "room": RoomForBooking(g.id)}
}

func (s *Service) handleConfirm(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	g, err := s.lockGroup(ctx, tx, p, id)
	if err != nil {
		return err
	}
	switch {
	case g.status == "booked":
		return apperr.New(apperr.Conflict, "预约已确认 / this booking is already confirmed")
	case g.status != "held" || !now.Before(*g.holdExpires):
		if g.status == "held" {
			if _, err := tx.Exec(ctx, `UPDATE bookings SET status = 'expired' WHERE group_id = $1 AND status = 'held'`, id); err == nil {
				_ = tx.Commit(ctx)
			}
		}
		return apperr.New(apperr.Conflict, MsgHoldExpired)
	case !now.Before(g.start):
		return apperr.New(apperr.Invalid, MsgSlotPast)
	}
	// Atomic: the rows keep their place in the exclusion index throughout.
	if _, err := tx.Exec(ctx, `UPDATE bookings SET status = 'booked', hold_expires_at = NULL, confirmed_at = $2
		WHERE group_id = $1 AND status = 'held'`, id, now); err != nil {
		return internal(err, "confirm booking")
	}
	g.status = "booked"
	if err := logTx(ctx, tx, g.seekerID, KindBookingMade, now, &g.id, g.data()); err != nil {
		return internal(err, "write employment log")
	}
	if err := emitTx(ctx, tx, EventBookingCreated, g.id, g.employerID, g.data()); err != nil {
		return internal(err, "queue webhooks")
	}
	if err := remindersTx(ctx, tx, g.id, g.start, now); err != nil {
		return internal(err, "queue reminders")
	}
	var name string
	if err := tx.QueryRow(ctx, `SELECT name FROM seekers WHERE id = $1`, g.seekerID).Scan(&name); err != nil {
		return internal(err, "look up seeker")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "commit confirmation")
	}
	out := g.json(s)
	if out.JoinURL, err = s.seekerJoinURL(out.Room, g.seekerID, name, g.end); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleReschedule(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
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
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	g, err := s.lockGroup(ctx, tx, p, id)
	if err != nil {
		return err
	}
	switch {
	case g.status != "booked":
		return apperr.New(apperr.Conflict, "只能改期已确认的预约 / only a confirmed booking can be rescheduled (this one is %s)", g.status)
	case g.kind == "panel":
		return apperr.New(apperr.Invalid, "面试组请取消后重新预约 / cancel and book again to move a panel interview")
	case !now.Before(g.start):
		return apperr.New(apperr.Invalid, "面试已开始 / the interview has already started")
	}
	var boothOK bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM slots s JOIN booths b ON b.id = s.booth_id WHERE s.id = $1 AND b.employer_id = $2)`,
		in.SlotID, g.employerID).Scan(&boothOK); err != nil {
		return internal(err, "look up slot")
	}
	if !boothOK {
		return apperr.New(apperr.Invalid, "只能改到同一单位的时段 / the new slot must be at the same employer's booth (or does not exist)")
	}
	// One transaction: the old booking lets go of its place, the new one
	// takes another; if the new one is refused, nothing changes.
	if _, err := tx.Exec(ctx, `UPDATE bookings SET status = 'rescheduled', cancelled_at = $2 WHERE group_id = $1 AND status = 'booked'`, id, now); err != nil {
		return internal(err, "release old booking")
	}
	var job *int64
	_ = tx.QueryRow(ctx, `SELECT job_post_id FROM bookings WHERE id = $1`, id).Scan(&job)
	b, err := s.reserve(ctx, tx, reservation{seekerID: g.seekerID, slotIDs: []int64{in.SlotID}, status: "booked", origin: "self",
		jobPostID: job, logKind: KindBookingRescheduled, replaces: id})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE bookings SET rescheduled_from = $2 WHERE group_id = $1`, b.ID, id); err != nil {
		return internal(err, "link rescheduled booking")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "commit reschedule")
	}
	s.slots.dropBooth(g.boothID)
	s.slots.dropBooth(b.BoothID)
	return writeJSON(w, http.StatusOK, map[string]any{"booking": b, "replaced": id})
}

func (s *Service) handleCancel(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := textField("reason", in.Reason, 0, 200); err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	g, err := s.lockGroup(ctx, tx, p, id)
	if err != nil {
		return err
	}
	if g.status != "booked" && g.status != "held" {
		return apperr.New(apperr.Conflict, "这个预约已经是%s状态 / this booking is already %s", g.status, g.status)
	}
	wasBooked := g.status == "booked"
	if _, err := tx.Exec(ctx, `UPDATE bookings SET status = 'cancelled', cancelled_at = $2 WHERE group_id = $1 AND status IN ('held', 'booked')`, id, now); err != nil {
		return internal(err, "cancel booking")
	}
	d := g.data()
	d["by"], d["reason"] = p.Role, in.Reason
	if err := logTx(ctx, tx, g.seekerID, KindBookingCancelled, now, &g.id, d); err != nil {
		return internal(err, "write employment log")
	}
	if wasBooked {
		if err := emitTx(ctx, tx, EventBookingCancelled, g.id, g.employerID, d); err != nil {
			return internal(err, "queue webhooks")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "commit cancellation")
	}
	s.slots.dropBooth(g.boothID)
	g.status = "cancelled"
	return writeJSON(w, http.StatusOK, g.json(s))
}

// Outcomes an employer records.
var outcomes = map[string]bool{"hire_intent": true, "second_round": true, "not_suitable": true, "no_show": true}

func (s *Service) handleOutcome(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Outcome string `json:"outcome"`
		Note    string `json:"note"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	g, err := s.lockGroup(ctx, tx, p, id)
	if err != nil {
		return err
	}
	if !outcomes[in.Outcome] {
		return apperr.New(apperr.Invalid, `outcome must be "hire_intent", "second_round", "not_suitable" or "no_show"`)
	}
	if err := textField("note", in.Note, 0, 1000); err != nil {
		return err
	}
	if g.status != "booked" {
		return apperr.New(apperr.Conflict, "只能为已确认的预约记录结果 / outcomes are recorded for confirmed bookings only (this one is %s)", g.status)
	}
	if now.Before(g.start) {
		return apperr.New(apperr.Conflict, "面试尚未开始 / the interview has not started yet")
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outcomes (booking_id, outcome, note, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (booking_id) DO UPDATE SET outcome = EXCLUDED.outcome, note = EXCLUDED.note, recorded_by = EXCLUDED.recorded_by,
			recorded_at = EXCLUDED.recorded_at`, id, in.Outcome, in.Note, p.actor(), now); err != nil {
		return internal(err, "record outcome")
	}
	d := g.data()
	d["outcome"] = in.Outcome
	if err := logTx(ctx, tx, g.seekerID, KindOutcomeRecorded, now, &g.id, d); err != nil {
		return internal(err, "write employment log")
	}
	if err := emitTx(ctx, tx, EventOutcomeRecorded, g.id, g.employerID, d); err != nil {
		return internal(err, "queue webhooks")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "commit outcome")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"booking_id": id, "outcome": in.Outcome, "note": in.Note, "recorded_at": now.UTC()})
}

// invitationTTL bounds how long an invitation waits for the seeker.
const invitationTTL = 48 * time.Hour

func (s *Service) handleInvite(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		ApplicationID int64 `json:"application_id"`
		SlotID        int64 `json:"slot_id"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.ApplicationID <= 0 || in.SlotID <= 0 {
		return apperr.New(apperr.Invalid, "application_id and slot_id must be positive integers")
	}
	ctx, now := r.Context(), s.now()
	var seekerID, jobID, employerID int64
	var appStatus string
	err := s.pool.QueryRow(ctx, `SELECT a.seeker_id, a.job_post_id, j.employer_id, a.status FROM applications a JOIN job_posts j ON j.id = a.job_post_id
		WHERE a.id = $1`, in.ApplicationID).Scan(&seekerID, &jobID, &employerID, &appStatus)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个申请 / no application with id %d", in.ApplicationID)
	}
	if err != nil {
		return internal(err, "look up application")
	}
	if employerID != p.ID {
		return apperr.New(apperr.Forbidden, "这不是您单位职位的申请 / this application is for another employer's job")
	}
	if appStatus == "withdrawn" || appStatus == "closed" {
		return apperr.New(apperr.Conflict, "申请已撤回或关闭 / this application was withdrawn or closed")
	}
	var slotEmployer int64
	var start time.Time
	err = s.pool.QueryRow(ctx, `SELECT b.employer_id, lower(s.during) FROM slots s JOIN booths b ON b.id = s.booth_id WHERE s.id = $1`, in.SlotID).
		Scan(&slotEmployer, &start)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个时段 / no slot with id %d", in.SlotID)
	}
	if err != nil {
		return internal(err, "look up slot")
	}
	if slotEmployer != p.ID {
		return apperr.New(apperr.Forbidden, "这个时段属于其他单位的展位 / this slot is at another employer's booth")
	}
	until := now.Add(invitationTTL)
	if start.Before(until) {
		until = start
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	b, err := s.reserve(ctx, tx, reservation{seekerID: seekerID, slotIDs: []int64{in.SlotID}, status: "held", holdUntil: until,
		origin: "invite", jobPostID: &jobID, logKind: KindInvited})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE applications SET status = 'invited' WHERE id = $1`, in.ApplicationID); err != nil {
		return internal(err, "mark application invited")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "commit invitation")
	}
	return writeJSON(w, http.StatusCreated, b)
}
