package booking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	qrcode "rsc.io/qr"

	"jobhall/internal/apperr"
)

// Employment-log kinds of fair-day operations.
const (
	KindFairRegistered  = "fair_registered"
	KindFairCheckedIn   = "fair_checked_in"
	KindHandedOff       = "handed_off"
	KindWalkInOutcome   = "walkin_outcome"
	KindTrainingCert    = "training_certificate"
	KindFollowUp        = "followup"
	KindConsultBooked   = "consultation_booked"
	KindQueueBoothScan  = "booth_checked_in"
	qrPrefix            = "JH1"
	msgUnknownQR        = "无效的二维码 / unknown QR code: it was not issued by this service"
	msgFairNotRunning   = "招聘会已结束或已取消 / this fair is closed or cancelled"
	msgCheckInHallFirst = "请先在入口签到 / check in at the hall entrance first"
)

// --- QR codes ---

// QRCode returns the check-in code of fair attendee id. It is a keyed MAC
// of the id, so nothing secret is stored and a code cannot be guessed.
func (s *Service) QRCode(attendeeID int64) string {
	id := strconv.FormatInt(attendeeID, 10)
	return qrPrefix + "-" + id + "-" + s.qrMAC(id)
}

func (s *Service) qrMAC(id string) string {
	h := hmac.New(sha256.New, s.qrKey)
	h.Write([]byte("fair-attendee\x00" + id))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// parseQR returns the attendee id of a genuine code.
func (s *Service) parseQR(code string) (int64, error) {
	parts := strings.SplitN(strings.TrimSpace(code), "-", 3) // the MAC may hold "-"
	if len(code) > 100 || len(parts) != 3 || parts[0] != qrPrefix {
		return 0, apperr.New(apperr.NotFound, msgUnknownQR)
	}
	id, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != parts[1] || !hmac.Equal([]byte(parts[2]), []byte(s.qrMAC(parts[1]))) {
		return 0, apperr.New(apperr.NotFound, msgUnknownQR)
	}
	return id, nil
}

// --- employer registration and review ---

func (s *Service) handleEmployerRegistration(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Lanes int16  `json:"lanes"`
		Note  string `json:"note"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Lanes == 0 {
		in.Lanes = 1
	}
	if in.Lanes < 1 || in.Lanes > 20 {
		return apperr.New(apperr.Invalid, "lanes must be 1 to 20")
	}
	if err := textField("note", in.Note, 0, 500); err != nil {
		return err
	}
	ctx := r.Context()
	var id int64
	var hasBooth bool
	err = s.pool.QueryRow(ctx, `WITH f AS (SELECT id FROM fairs WHERE id = $1 AND status = 'published'
			AND day >= ($4::timestamptz AT TIME ZONE time_zone)::date),
		b AS (SELECT EXISTS (SELECT 1 FROM booths WHERE fair_id = $1 AND employer_id = $2) AS has),
		ins AS (INSERT INTO fair_employer_registrations (fair_id, employer_id, lanes, note, created_at)
			SELECT f.id, $2, $3, $5, $4 FROM f, b WHERE NOT b.has RETURNING id)
		SELECT coalesce((SELECT id FROM ins), 0), (SELECT has FROM b)`, fairID, p.ID, in.Lanes, s.now(), in.Note).Scan(&id, &hasBooth)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return apperr.New(apperr.Conflict, "您已报名这个招聘会 / your employer has already registered for this fair")
	case err != nil:
		return internal(err, "register employer for fair")
	case hasBooth:
		return apperr.New(apperr.Conflict, "您在这个招聘会已有展位 / your employer already has a booth at this fair")
	case id == 0:
		return s.fairNotOpen(ctx, fairID)
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "fair_id": fairID, "employer_id": p.ID, "lanes": in.Lanes, "status": "pending"})
}

// fairNotOpen explains why fairID takes no registrations.
func (s *Service) fairNotOpen(ctx context.Context, fairID int64) error {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM fairs WHERE id = $1`, fairID).Scan(&status)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个招聘会 / no fair with id %d", fairID)
	}
	if err != nil {
		return internal(err, "look up fair")
	}
	if status != "published" {
		return apperr.New(apperr.Conflict, msgFairNotRunning)
	}
	return apperr.New(apperr.Conflict, "招聘会已过期 / this fair's day has passed")
}

type employerRegJSON struct {
	ID           int64      `json:"id"`
	FairID       int64      `json:"fair_id"`
	EmployerID   int64      `json:"employer_id"`
	EmployerName string     `json:"employer_name"`
	Verified     bool       `json:"verified"`
	Lanes        int16      `json:"lanes"`
	Note         string     `json:"note"`
	Status       string     `json:"status"`
	ReviewNote   string     `json:"review_note"`
	BoothID      *int64     `json:"booth_id"`
	CreatedAt    time.Time  `json:"created_at"`
	ReviewedAt   *time.Time `json:"reviewed_at"`
}

func (s *Service) handleListEmployerRegistrations(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" && status != "pending" && status != "approved" && status != "rejected" {
		return apperr.New(apperr.Invalid, `status must be "pending", "approved" or "rejected"`)
	}
	if err := s.runsFair(r.Context(), p, fairID); err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `SELECT g.id, g.fair_id, g.employer_id, e.name, e.verified, g.lanes, g.note, g.status, g.review_note,
			g.booth_id, g.created_at, g.reviewed_at
		FROM fair_employer_registrations g JOIN employers e ON e.id = g.employer_id
		WHERE g.fair_id = $1 AND ($2 = '' OR g.status = $2) ORDER BY g.id LIMIT 1000`, fairID, status)
	if err != nil {
		return internal(err, "list employer registrations")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[employerRegJSON])
	if err != nil {
		return internal(err, "list employer registrations")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"fair_id": fairID, "registrations": nonNil(list)})
}

// handleReviewEmployer approves (creating the booth at its hall position in
// the same transaction) or rejects a pending registration.
func (s *Service) handleReviewEmployer(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Decision     string `json:"decision"`
		Note         string `json:"note"`
		HallPosition string `json:"hall_position"`
		Lanes        int16  `json:"lanes"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Decision != "approve" && in.Decision != "reject" {
		return apperr.New(apperr.Invalid, `decision must be "approve" or "reject"`)
	}
	if err := textField("note", in.Note, 0, 500); err != nil {
		return err
	}
	in.HallPosition = strings.TrimSpace(in.HallPosition)
	if in.Decision == "approve" {
		if err := textField("hall_position", in.HallPosition, 1, 50); err != nil {
			return apperr.New(apperr.Invalid, "批准时须指定展位位置 / hall_position (1 to 50 characters) is required to approve")
		}
		if in.Lanes != 0 && (in.Lanes < 1 || in.Lanes > 20) {
			return apperr.New(apperr.Invalid, "lanes must be 1 to 20")
		}
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var fairID, employerID int64
	var lanes int16
	var status string
	err = tx.QueryRow(ctx, `SELECT fair_id, employer_id, lanes, status FROM fair_employer_registrations WHERE id = $1 FOR UPDATE`, id).
		Scan(&fairID, &employerID, &lanes, &status)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个报名 / no employer registration with id %d", id)
	}
	if err != nil {
		return internal(err, "look up registration")
	}
	if err := s.runsFair(ctx, p, fairID); err != nil {
		return err
	}
	if status != "pending" {
		return apperr.New(apperr.Conflict, "这个报名已审核 / this registration was already reviewed (%s)", status)
	}
	if in.Lanes != 0 {
		lanes = in.Lanes
	}
	var boothID *int64
	newStatus := "rejected"
	if in.Decision == "approve" {
		newStatus = "approved"
		var b int64
		err := tx.QueryRow(ctx, `INSERT INTO booths (fair_id, employer_id, hall_position, lanes) VALUES ($1, $2, $3, $4) RETURNING id`,
			fairID, employerID, in.HallPosition, lanes).Scan(&b)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.ConstraintName == "booths_hall_position_uniq":
			return apperr.New(apperr.Conflict, "这个展位位置已分配给其他单位 / hall position %q is already assigned at this fair", in.HallPosition)
		case errors.As(err, &pgErr) && pgErr.Code == "23505":
			return apperr.New(apperr.Conflict, "该单位在这个招聘会已有展位 / this employer already has a booth at this fair")
		case errors.As(err, &pgErr) && pgErr.ConstraintName == "employer_verified":
			return apperr.New(apperr.Conflict, "单位尚未通过认证 / verify the employer before approving its registration")
		case err != nil:
			return internal(err, "assign booth")
		}
		boothID = &b
	}
	if _, err := tx.Exec(ctx, `UPDATE fair_employer_registrations SET status = $2, review_note = $3, reviewed_by = $4, reviewed_at = $5,
		booth_id = $6, lanes = $7 WHERE id = $1`, id, newStatus, in.Note, p.actor(), now, boothID, lanes); err != nil {
		return internal(err, "review registration")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "review registration")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": id, "fair_id": fairID, "employer_id": employerID, "status": newStatus,
		"booth_id": boothID, "hall_position": in.HallPosition, "lanes": lanes})
}

// --- booking window and presence ---

func (s *Service) handleBookingWindow(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Opens  time.Time `json:"opens"`
		Closes time.Time `json:"closes"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Opens.IsZero() || in.Closes.IsZero() || !in.Opens.Before(in.Closes) {
		return apperr.New(apperr.Invalid, "预约时间段无效 / opens and closes are required and opens must be before closes")
	}
	if err := s.runsFair(r.Context(), p, fairID); err != nil {
		return err
	}
	var status string
	err = s.pool.QueryRow(r.Context(), `UPDATE fairs SET booking_opens = $2, booking_closes = $3 WHERE id = $1 RETURNING status`,
		fairID, in.Opens, in.Closes).Scan(&status)
	if err != nil {
		return internal(err, "set booking window")
	}
	now := s.now()
	return writeJSON(w, http.StatusOK, map[string]any{"fair_id": fairID, "booking_opens": in.Opens, "booking_closes": in.Closes,
		"booking_open": status == "published" && !now.Before(in.Opens) && now.Before(in.Closes)})
}

// handleBoothArrive marks a booth staffed (employers present; the idle rule watches it).
func (s *Service) handleBoothArrive(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.manageBooth(r, p, boothID); err != nil {
		return err
	}
	var at time.Time
	if err := s.pool.QueryRow(r.Context(), `UPDATE booths SET arrived_at = coalesce(arrived_at, $2) WHERE id = $1 RETURNING arrived_at`,
		boothID, s.now()).Scan(&at); err != nil {
		return internal(err, "mark booth present")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"booth_id": boothID, "arrived_at": at.UTC()})
}

// --- seeker registration and check-in ---

func (s *Service) handleSeekerRegistration(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var status string
	var day time.Time
	var regOpens, regCloses *time.Time
	var today time.Time
	err = tx.QueryRow(ctx, `SELECT status, day, registration_opens, registration_closes, ($2::timestamptz AT TIME ZONE time_zone)::date
		FROM fairs WHERE id = $1`, fairID, now).Scan(&status, &day, &regOpens, &regCloses, &today)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个招聘会 / no fair with id %d", fairID)
	}
	if err != nil {
		return internal(err, "look up fair")
	}
	switch {
	case status != "published":
		return apperr.New(apperr.Conflict, msgFairNotRunning)
	case day.Before(today):
		return apperr.New(apperr.Conflict, "招聘会已过期 / this fair's day has passed")
	case regOpens != nil && now.Before(*regOpens):
		return apperr.New(apperr.Conflict, "报名尚未开始 / registration opens at %s", regOpens.UTC().Format(time.RFC3339))
	case regCloses != nil && !now.Before(*regCloses):
		return apperr.New(apperr.Conflict, "报名已截止 / registration closed at %s", regCloses.UTC().Format(time.RFC3339))
	}
	var id int64
	var at time.Time
	var created bool
	err = tx.QueryRow(ctx, `WITH ins AS (INSERT INTO fair_attendees (fair_id, seeker_id, registered_at) VALUES ($1, $2, $3)
			ON CONFLICT (fair_id, seeker_id) DO NOTHING RETURNING id, registered_at)
		SELECT id, registered_at, true FROM ins
		UNION ALL SELECT id, registered_at, false FROM fair_attendees WHERE fair_id = $1 AND seeker_id = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
		fairID, p.ID, now).Scan(&id, &at, &created)
	if err != nil {
		return internal(err, "register for fair")
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		if err := logTx(ctx, tx, p.ID, KindFairRegistered, now, nil, map[string]any{"fair_id": fairID, "attendee_id": id}); err != nil {
			return internal(err, "write employment log")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "register for fair")
	}
	return writeJSON(w, code, map[string]any{"id": id, "fair_id": fairID, "registered_at": at.UTC(), "qr_code": s.QRCode(id)})
}

func (s *Service) handleMyFairRegistrations(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	type reg struct {
		ID          int64      `json:"id"`
		FairID      int64      `json:"fair_id"`
		FairName    string     `json:"fair_name"`
		Day         string     `json:"day"`
		Registered  time.Time  `json:"registered_at"`
		CheckedInAt *time.Time `json:"checked_in_at"`
		QR          string     `json:"qr_code"`
	}
	rows, err := s.pool.Query(r.Context(), `SELECT a.id, a.fair_id, f.name, f.day::text, a.registered_at, a.checked_in_at, ''
		FROM fair_attendees a JOIN fairs f ON f.id = a.fair_id WHERE a.seeker_id = $1 ORDER BY f.day DESC, a.id DESC LIMIT 100`, p.ID)
	if err != nil {
		return internal(err, "list registrations")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[reg])
	if err != nil {
		return internal(err, "list registrations")
	}
	for i := range list {
		list[i].QR = s.QRCode(list[i].ID)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"registrations": nonNil(list)})
}

// handleMyPassImage draws the seeker's entrance pass as a QR code, for the
// scanner at the hall entrance (the code alone is in the JSON list).
func (s *Service) handleMyPassImage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.require(r, RoleSeeker)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var mine bool
	if err := s.pool.QueryRow(r.Context(), `SELECT EXISTS (SELECT 1 FROM fair_attendees WHERE id = $1 AND seeker_id = $2)`, id, p.ID).Scan(&mine); err != nil {
		return internal(err, "look up registration")
	}
	if !mine {
		return apperr.New(apperr.NotFound, "没有这个报名 / no registration %d of yours", id)
	}
	code, err := qrcode.Encode(s.QRCode(id), qrcode.M)
	if err != nil {
		return internal(err, "draw the pass")
	}
	code.Scale = 8
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, err = w.Write(code.PNG())
	return err
}

// attendee is a registration read for check-in.
type attendee struct {
	id, fairID, seekerID int64
	name                 string
	checkedIn            *time.Time
	fairStatus           string
}

// lockAttendee reads the attendee behind a QR code in tx, locked.
func (s *Service) lockAttendee(ctx context.Context, tx pgx.Tx, code string, forUpdate bool) (attendee, error) {
	var a attendee
	id, err := s.parseQR(code)
	if err != nil {
		return a, err
	}
	lock := "FOR SHARE OF a"
	if forUpdate {
		lock = "FOR UPDATE OF a"
	}
	err = tx.QueryRow(ctx, `SELECT a.id, a.fair_id, a.seeker_id, sk.name, a.checked_in_at, f.status
		FROM fair_attendees a JOIN seekers sk ON sk.id = a.seeker_id JOIN fairs f ON f.id = a.fair_id WHERE a.id = $1 `+lock, id).
		Scan(&a.id, &a.fairID, &a.seekerID, &a.name, &a.checkedIn, &a.fairStatus)
	if isNoRows(err) {
		return a, apperr.New(apperr.NotFound, msgUnknownQR)
	}
	if err != nil {
		return a, internal(err, "look up QR code")
	}
	return a, nil
}

func otherFair(a attendee) error {
	return apperr.New(apperr.Conflict, "此二维码属于另一场招聘会 / this QR code is for another fair (fair %d)", a.fairID).
		WithDetails(map[string]any{"fair_id": a.fairID})
}

// handleHallCheckIn checks a registered seeker in at the entrance: once,
// and only at the fair the code was issued for.
func (s *Service) handleHallCheckIn(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		QR string `json:"qr_code"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.QR == "" {
		return apperr.New(apperr.Invalid, "qr_code is required")
	}
	ctx, now := r.Context(), s.now()
	if err := s.runsFair(ctx, p, fairID); err != nil {
		return err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	a, err := s.lockAttendee(ctx, tx, in.QR, true)
	if err != nil {
		return err
	}
	switch {
	case a.fairID != fairID:
		return otherFair(a)
	case a.checkedIn != nil:
		return apperr.New(apperr.Conflict, "此二维码已签到 / this QR code was already used to check in at %s", a.checkedIn.UTC().Format(time.RFC3339)).
			WithDetails(map[string]any{"checked_in_at": a.checkedIn.UTC()})
	case a.fairStatus != "published":
		return apperr.New(apperr.Conflict, msgFairNotRunning)
	}
	if _, err := tx.Exec(ctx, `UPDATE fair_attendees SET checked_in_at = $2, checked_in_by = $3 WHERE id = $1`, a.id, now, p.actor()); err != nil {
		return internal(err, "check in")
	}
	if err := logTx(ctx, tx, a.seekerID, KindFairCheckedIn, now, nil, map[string]any{"fair_id": fairID, "attendee_id": a.id}); err != nil {
		return internal(err, "write employment log")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "check in")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"attendee_id": a.id, "fair_id": fairID, "seeker_id": a.seekerID, "name": a.name,
		"checked_in_at": now.UTC()})
}

// handleBoothCheckIn scans a checked-in seeker's code at a booth and puts
// them in its walk-in queue.
func (s *Service) handleBoothCheckIn(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		QR string `json:"qr_code"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.QR == "" {
		return apperr.New(apperr.Invalid, "qr_code is required")
	}
	b, err := s.manageBooth(r, p, boothID)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	a, err := s.lockAttendee(ctx, tx, in.QR, false)
	if err != nil {
		return err
	}
	switch {
	case a.fairID != b.fairID:
		return otherFair(a)
	case a.fairStatus != "published":
		return apperr.New(apperr.Conflict, msgFairNotRunning)
	case a.checkedIn == nil:
		return apperr.New(apperr.Conflict, msgCheckInHallFirst)
	}
	var id, pos int64
	err = tx.QueryRow(ctx, `WITH q AS (INSERT INTO queue_entries (booth_id, seeker_id, mode, enqueued_at) VALUES ($1, $2, 'onsite', $3) RETURNING id)
		SELECT q.id, 1 + (SELECT count(*) FROM queue_entries e WHERE e.booth_id = $1 AND e.status = 'waiting') FROM q`, boothID, a.seekerID, now).Scan(&id, &pos)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return apperr.New(apperr.Conflict, "该求职者已在本展位排队 / this seeker is already waiting in this booth's queue")
	}
	if err != nil {
		return internal(err, "join queue")
	}
	if err := logTx(ctx, tx, a.seekerID, KindQueueBoothScan, now, nil, map[string]any{"booth_id": boothID, "queue_entry": id, "fair_id": b.fairID}); err != nil {
		return internal(err, "write employment log")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "join queue")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "booth_id": boothID, "seeker_id": a.seekerID, "name": a.name,
		"mode": "onsite", "position": pos, "status": "waiting"})
}

// --- hand-off and walk-in outcomes ---

type queueRow struct {
	id, boothID, seekerID, employerID, fairID int64
	mode, status                              string
	calledAt                                  *time.Time
}

func (s *Service) lockQueueEntry(ctx context.Context, tx pgx.Tx, p principal, id int64) (queueRow, error) {
	var q queueRow
	err := tx.QueryRow(ctx, `SELECT q.id, q.booth_id, q.seeker_id, b.employer_id, b.fair_id, q.mode, q.status, q.called_at
		FROM queue_entries q JOIN booths b ON b.id = q.booth_id WHERE q.id = $1 FOR UPDATE OF q`, id).
		Scan(&q.id, &q.boothID, &q.seekerID, &q.employerID, &q.fairID, &q.mode, &q.status, &q.calledAt)
	if isNoRows(err) {
		return q, apperr.New(apperr.NotFound, "没有这个排队记录 / no queue entry with id %d", id)
	}
	if err != nil {
		return q, internal(err, "look up queue entry")
	}
	if q.employerID != p.ID {
		return q, apperr.New(apperr.Forbidden, "这不是您展位的排队记录 / this queue entry is at another employer's booth")
	}
	return q, nil
}

// handleHandOff passes a seeker from this booth to another booth of the
// same fair, where handed-off seekers are called before walk-ins.
func (s *Service) handleHandOff(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		ToBoothID int64  `json:"to_booth_id"`
		Note      string `json:"note"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.ToBoothID <= 0 {
		return apperr.New(apperr.Invalid, "to_booth_id must be a positive integer")
	}
	if err := textField("note", in.Note, 0, 200); err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	q, err := s.lockQueueEntry(ctx, tx, p, id)
	if err != nil {
		return err
	}
	if q.status != "waiting" && q.status != "called" {
		return apperr.New(apperr.Conflict, "这个排队记录已结束 / this queue entry is already %s", q.status)
	}
	if in.ToBoothID == q.boothID {
		return apperr.New(apperr.Invalid, "不能转给本展位 / hand the seeker off to another booth")
	}
	var toFair int64
	var toName string
	err = tx.QueryRow(ctx, `SELECT b.fair_id, e.name FROM booths b JOIN employers e ON e.id = b.employer_id WHERE b.id = $1`, in.ToBoothID).Scan(&toFair, &toName)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "no booth with id %d", in.ToBoothID)
	}
	if err != nil {
		return internal(err, "look up booth")
	}
	if toFair != q.fairID {
		return apperr.New(apperr.Invalid, "只能转给同一招聘会的展位 / the other booth must be at the same fair")
	}
	var newID int64
	err = tx.QueryRow(ctx, `INSERT INTO queue_entries (booth_id, seeker_id, mode, enqueued_at, handed_off_from) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (booth_id, seeker_id) WHERE status = 'waiting' DO UPDATE SET handed_off_from = EXCLUDED.handed_off_from
		RETURNING id`, in.ToBoothID, q.seekerID, q.mode, now, q.id).Scan(&newID)
	if err != nil {
		return internal(err, "hand off")
	}
	if _, err := tx.Exec(ctx, `UPDATE queue_entries SET status = 'handed_off' WHERE id = $1`, q.id); err != nil {
		return internal(err, "hand off")
	}
	var pos int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM queue_entries WHERE booth_id = $1 AND status = 'waiting' AND handed_off_from IS NOT NULL AND id <= $2`,
		in.ToBoothID, newID).Scan(&pos); err != nil {
		return internal(err, "hand off")
	}
	if err := logTx(ctx, tx, q.seekerID, KindHandedOff, now, nil, map[string]any{"from_booth_id": q.boothID, "to_booth_id": in.ToBoothID,
		"to_employer": toName, "queue_entry": newID, "note": in.Note}); err != nil {
		return internal(err, "write employment log")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "hand off")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": newID, "booth_id": in.ToBoothID, "seeker_id": q.seekerID, "handed_off_from": q.id,
		"position": pos, "status": "waiting"})
}

var walkInOutcomes = map[string]bool{"hire_intent": true, "second_round": true, "not_suitable": true}

func (s *Service) handleWalkInOutcome(w http.ResponseWriter, r *http.Request) error {
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
	if !walkInOutcomes[in.Outcome] {
		return apperr.New(apperr.Invalid, `outcome must be "hire_intent", "second_round" or "not_suitable"`)
	}
	if err := textField("note", in.Note, 0, 1000); err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	q, err := s.lockQueueEntry(ctx, tx, p, id)
	if err != nil {
		return err
	}
	if q.calledAt == nil {
		return apperr.New(apperr.Conflict, "尚未叫号面试 / the seeker has not been called to an interview yet")
	}
	if _, err := tx.Exec(ctx, `UPDATE queue_entries SET outcome = $2, outcome_at = $3 WHERE id = $1`, id, in.Outcome, now); err != nil {
		return internal(err, "record outcome")
	}
	if err := logTx(ctx, tx, q.seekerID, KindWalkInOutcome, now, nil, map[string]any{"booth_id": q.boothID, "queue_entry": id,
		"outcome": in.Outcome, "note": in.Note}); err != nil {
		return internal(err, "write employment log")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "record outcome")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"queue_entry": id, "outcome": in.Outcome, "recorded_at": now.UTC()})
}

// --- closing ---

// handleCloseFair closes a fair and freezes its report in one transaction.
func (s *Service) handleCloseFair(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	if err := s.runsFair(ctx, p, fairID); err != nil {
		return err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM fairs WHERE id = $1 FOR UPDATE`, fairID).Scan(&status); err != nil {
		return internal(err, "lock fair")
	}
	if status != "published" {
		return apperr.New(apperr.Conflict, "招聘会已是%s状态 / this fair is already %s", status, status)
	}
	if _, err := tx.Exec(ctx, `UPDATE fairs SET status = 'closed', booking_closes = least(booking_closes, greatest($2, booking_opens + interval '1 second'))
		WHERE id = $1`, fairID, now); err != nil {
		return internal(err, "close fair")
	}
	st, err := s.fairStats(ctx, tx, fairID, now)
	if err != nil {
		return err
	}
	st.Frozen = true
	if _, err := tx.Exec(ctx, `INSERT INTO fair_reports (fair_id, stats, closed_by, closed_at) VALUES ($1, $2, $3, $4)`, fairID, st, p.actor(), now); err != nil {
		return internal(err, "freeze report")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "close fair")
	}
	return writeJSON(w, http.StatusOK, st)
}
