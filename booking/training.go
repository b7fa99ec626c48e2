package booking

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// Training courses, their broadcast sessions and attendance; one-to-one
// consultations.

// Room events for broadcast and consultation rooms.
const (
	KindParticipantJoined = "participant_joined"
	KindParticipantLeft   = "participant_left"
)

// attendedShare: present for at least 80% of a session counts as attended
// (session_attendance's CHECK holds the same rule).
const attendedShare = 0.8

// RoomForSession names the broadcast room of a training session.
func RoomForSession(sessionID int64) string { return "course-" + strconv.FormatInt(sessionID, 10) }

// SessionForRoom is the inverse of RoomForSession.
func SessionForRoom(room string) (int64, bool) { return roomNumber(room, "course-") }

// RoomForConsultation names the private room of a consultation.
func RoomForConsultation(id int64) string { return "consult-" + strconv.FormatInt(id, 10) }

// ConsultationForRoom is the inverse of RoomForConsultation.
func ConsultationForRoom(room string) (int64, bool) { return roomNumber(room, "consult-") }

func roomNumber(room, prefix string) (int64, bool) {
	num, ok := strings.CutPrefix(room, prefix)
	if !ok || num == "" || len(num) > 19 || num[0] == '0' || strings.Trim(num, "0123456789") != "" {
		return 0, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	return id, err == nil && id > 0
}

func seekerOfIdentity(identity string) (int64, bool) { return roomNumber(identity, "seeker-") }

// RecordingAllowed reports whether a room may be recorded: interviews are
// (the seeker agreed when booking), a consultation only with the seeker's
// explicit consent, nothing else. cmd/jobhall asks before recording.
func (s *Service) RecordingAllowed(ctx context.Context, room string) (bool, error) {
	if _, ok := BookingForRoom(room); ok {
		return true, nil
	}
	id, ok := ConsultationForRoom(room)
	if !ok {
		return false, nil
	}
	var consent bool
	err := s.pool.QueryRow(ctx, `SELECT recording_consent FROM consultations WHERE id = $1 AND seeker_id IS NOT NULL`, id).Scan(&consent)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, internal(err, "look up consultation")
	}
	return consent, nil
}

// recordSessionEvent keeps a seeker's presence in a broadcast room.
func (s *Service) recordSessionEvent(ctx context.Context, sessionID int64, kind string, at time.Time, data map[string]any) error {
	ident, _ := data["identity"].(string)
	seekerID, ok := seekerOfIdentity(ident)
	if !ok {
		return nil // trainers and officers: not attendance
	}
	var err error
	switch kind {
	case KindParticipantJoined:
		_, err = s.pool.Exec(ctx, `INSERT INTO session_presence (session_id, seeker_id, joined_at) VALUES ($1, $2, $3)
			ON CONFLICT (session_id, seeker_id) WHERE left_at IS NULL DO NOTHING`, sessionID, seekerID, at)
	case KindParticipantLeft:
		_, err = s.pool.Exec(ctx, `UPDATE session_presence SET left_at = greatest($3, joined_at) WHERE session_id = $1 AND seeker_id = $2 AND left_at IS NULL`,
			sessionID, seekerID, at)
	default:
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return apperr.New(apperr.NotFound, "no session or seeker behind room %q", RoomForSession(sessionID))
	}
	if err != nil {
		return internal(err, "record presence")
	}
	return nil
}

// recordConsultationEvent refuses a recording nobody consented to.
func (s *Service) recordConsultationEvent(ctx context.Context, id int64, kind string, at time.Time, data map[string]any) error {
	if kind != KindRecordingSaved {
		return nil // consultations are private: no log of who came and went
	}
	var seekerID *int64
	var consent bool
	err := s.pool.QueryRow(ctx, `SELECT seeker_id, recording_consent FROM consultations WHERE id = $1`, id).Scan(&seekerID, &consent)
	if isNoRows(err) || (err == nil && seekerID == nil) {
		return apperr.New(apperr.NotFound, "no booked consultation behind room %q", RoomForConsultation(id))
	}
	if err != nil {
		return internal(err, "look up consultation")
	}
	if !consent {
		return apperr.New(apperr.Forbidden, "咨询未经同意不得录制 / this consultation must not be recorded: the seeker did not consent")
	}
	d := map[string]any{"consultation_id": id}
	for _, k := range []string{"participant", "file", "bytes", "duration_seconds"} {
		if v, ok := data[k]; ok {
			d[k] = v
		}
	}
	if err := logTx(ctx, s.pool, *seekerID, KindRecordingSaved, at, nil, d); err != nil {
		return internal(err, "write employment log")
	}
	return nil
}

// --- courses ---

var courseKinds = map[string]bool{"skills": true, "entrepreneurship": true, "labour_rights": true}

func (s *Service) handleCreateCourse(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		Kind        string `json:"kind"`
		Title       string `json:"title"`
		Description string `json:"description"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if !courseKinds[in.Kind] {
		return apperr.New(apperr.Invalid, `kind must be "skills", "entrepreneurship" or "labour_rights"`)
	}
	if err := textField("title", in.Title, 1, 200); err != nil {
		return err
	}
	if err := textField("description", in.Description, 0, 2000); err != nil {
		return err
	}
	var id int64
	if err := s.pool.QueryRow(r.Context(), `INSERT INTO courses (kind, title, description, host_id) VALUES ($1, $2, $3, nullif($4, 0)) RETURNING id`,
		in.Kind, strings.TrimSpace(in.Title), in.Description, p.Account).Scan(&id); err != nil {
		return internal(err, "create course")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "kind": in.Kind, "title": strings.TrimSpace(in.Title), "description": in.Description})
}

func (s *Service) handleListCourses(w http.ResponseWriter, r *http.Request) error {
	kind := r.URL.Query().Get("kind")
	if kind != "" && !courseKinds[kind] {
		return apperr.New(apperr.Invalid, `kind must be "skills", "entrepreneurship" or "labour_rights"`)
	}
	type session struct {
		ID         int64     `json:"id"`
		Start      time.Time `json:"start"`
		End        time.Time `json:"end"`
		Capacity   int32     `json:"capacity"`
		SeatsTaken int32     `json:"seats_taken"`
	}
	type course struct {
		ID          int64     `json:"id"`
		Kind        string    `json:"kind"`
		Title       string    `json:"title"`
		Description string    `json:"description"`
		Sessions    []session `json:"sessions"`
	}
	rows, err := s.pool.Query(r.Context(), `SELECT c.id, c.kind, c.title, c.description, g.id, lower(g.during), upper(g.during), g.capacity, g.seats_taken
		FROM (SELECT * FROM courses WHERE $1 = '' OR kind = $1 ORDER BY id DESC LIMIT 100) c
		LEFT JOIN group_sessions g ON g.course_id = c.id AND upper(g.during) > $2
		ORDER BY c.id DESC, lower(g.during)`, kind, s.now())
	if err != nil {
		return internal(err, "list courses")
	}
	defer rows.Close()
	var list []course
	for rows.Next() {
		var c course
		var sid *int64
		var st, en *time.Time
		var cp, taken *int32
		if err := rows.Scan(&c.ID, &c.Kind, &c.Title, &c.Description, &sid, &st, &en, &cp, &taken); err != nil {
			return internal(err, "list courses")
		}
		if len(list) == 0 || list[len(list)-1].ID != c.ID {
			c.Sessions = []session{}
			list = append(list, c)
		}
		if sid != nil {
			last := &list[len(list)-1]
			last.Sessions = append(last.Sessions, session{*sid, *st, *en, *cp, *taken})
		}
	}
	if err := rows.Err(); err != nil {
		return internal(err, "list courses")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"courses": nonNil(list)})
}

func (s *Service) handleCreateCourseSession(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	courseID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
		Capacity int32     `json:"capacity"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	switch {
	case in.Start.IsZero() || in.End.IsZero() || !in.Start.Before(in.End):
		return apperr.New(apperr.Invalid, "时间段颠倒或为空 / start and end are required and start must be before end")
	case !in.Start.After(s.now()):
		return apperr.New(apperr.Invalid, "start must be in the future")
	case in.Capacity < 1 || in.Capacity > 10000:
		return apperr.New(apperr.Invalid, "capacity must be 1 to 10000")
	}
	ctx := r.Context()
	var title string
	var host *int64
	err = s.pool.QueryRow(ctx, `SELECT title, host_id FROM courses WHERE id = $1`, courseID).Scan(&title, &host)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个课程 / no course with id %d", courseID)
	}
	if err != nil {
		return internal(err, "look up course")
	}
	if p.Role == RoleTrainer && (host == nil || *host != p.Account) {
		return apperr.New(apperr.Forbidden, "这不是您的课程 / only the course's trainer (or an officer) can add sessions")
	}
	var id int64
	if err := s.pool.QueryRow(ctx, `INSERT INTO group_sessions (kind, title, host_id, during, capacity, course_id)
		VALUES ('training', $1, nullif($2, 0), tstzrange($3, $4), $5, $6) RETURNING id`, title, p.Account, in.Start, in.End, in.Capacity, courseID).Scan(&id); err != nil {
		return internal(err, "create session")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "course_id": courseID, "title": title, "start": in.Start, "end": in.End,
		"capacity": in.Capacity, "room": RoomForSession(id)})
}

// sessionInfo is what joining and attendance need about a group session.
type sessionInfo struct {
	id         int64
	kind       string
	title      string
	host       *int64
	start, end time.Time
	taken      *time.Time
}

func (s *Service) groupSession(ctx context.Context, id int64) (sessionInfo, error) {
	g := sessionInfo{id: id}
	err := s.pool.QueryRow(ctx, `SELECT kind, title, host_id, lower(during), upper(during), attendance_taken_at FROM group_sessions WHERE id = $1`, id).
		Scan(&g.kind, &g.title, &g.host, &g.start, &g.end, &g.taken)
	if isNoRows(err) {
		return g, apperr.New(apperr.NotFound, "没有这个课程或活动 / no group session with id %d", id)
	}
	if err != nil {
		return g, internal(err, "look up session")
	}
	return g, nil
}

// mayTeach: the session's host, officers and administrators.
func (g sessionInfo) mayTeach(p principal) error {
	if p.Role == RoleTrainer && (g.host == nil || *g.host != p.Account) {
		return apperr.New(apperr.Forbidden, "这不是您的课程 / only the session's trainer (or an officer) can do this")
	}
	return nil
}

// handleSessionJoin returns the join link of a session's broadcast room:
// seekers with a seat watch, the trainer presents.
func (s *Service) handleSessionJoin(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	g, err := s.groupSession(ctx, id)
	if err != nil {
		return err
	}
	if !s.now().Before(g.end.Add(joinGrace)) {
		return apperr.New(apperr.Conflict, "课程已结束 / this session has ended")
	}
	grant := roomtoken.Grant{Room: RoomForSession(id), Expires: g.end.Add(joinGrace)}
	switch p.Role {
	case RoleSeeker:
		var name string
		err := s.pool.QueryRow(ctx, `SELECT sk.name FROM session_seats ss JOIN seekers sk ON sk.id = ss.seeker_id WHERE ss.session_id = $1 AND ss.seeker_id = $2`,
			id, p.ID).Scan(&name)
		if isNoRows(err) {
			return apperr.New(apperr.Forbidden, "请先报名 / take a seat in this session before joining")
		}
		if err != nil {
			return internal(err, "look up seat")
		}
		grant.Identity, grant.Name, grant.Role = fmt.Sprintf("seeker-%d", p.ID), name, roomtoken.RoleViewer
	default:
		if err := g.mayTeach(p); err != nil {
			return err
		}
		name, err := s.nameOf(r, p)
		if err != nil {
			return err
		}
		grant.Identity, grant.Name, grant.Role = fmt.Sprintf("account-%d", p.Account), name, roomtoken.RoleTrainer
		if p.Role != RoleTrainer {
			grant.Role = roomtoken.RoleOfficer
		}
	}
	link, err := s.joinURL(grant)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"session_id": id, "room": grant.Room, "role": grant.Role, "join_url": link,
		"start": g.start, "end": g.end})
}

type attendanceJSON struct {
	SeekerID       int64  `json:"seeker_id"`
	Name           string `json:"name"`
	PresentSeconds int32  `json:"present_seconds"`
	SessionSeconds int32  `json:"session_seconds"`
	Attended       bool   `json:"attended"`
}

// attendanceSQL: each seat holder's presence, the union of their join–leave
// intervals clipped to the session (an open interval counts until $2).
const attendanceSQL = `WITH g AS (SELECT id, lower(during) AS a, upper(during) AS b FROM group_sessions WHERE id = $1),
	pr AS (SELECT p.seeker_id, range_agg(tstzrange(greatest(p.joined_at, g.a), least(coalesce(p.left_at, $2), g.b))) AS mr
		FROM session_presence p, g WHERE p.session_id = g.id AND p.joined_at < g.b AND coalesce(p.left_at, $2) > g.a
			AND greatest(p.joined_at, g.a) < least(coalesce(p.left_at, $2), g.b)
		GROUP BY p.seeker_id)
	SELECT ss.seeker_id, sk.name,
		coalesce((SELECT sum(extract(epoch FROM upper(x) - lower(x))) FROM unnest(pr.mr) AS x), 0)::int,
		extract(epoch FROM g.b - g.a)::int
	FROM g JOIN session_seats ss ON ss.session_id = g.id JOIN seekers sk ON sk.id = ss.seeker_id
	LEFT JOIN pr ON pr.seeker_id = ss.seeker_id ORDER BY ss.seeker_id`

func (s *Service) computeAttendance(ctx context.Context, q querier, id int64, until time.Time) ([]attendanceJSON, error) {
	rows, err := q.Query(ctx, attendanceSQL, id, until)
	if err != nil {
		return nil, internal(err, "compute attendance")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (attendanceJSON, error) {
		var a attendanceJSON
		err := row.Scan(&a.SeekerID, &a.Name, &a.PresentSeconds, &a.SessionSeconds)
		a.PresentSeconds = min(a.PresentSeconds, a.SessionSeconds)
		a.Attended = a.SessionSeconds > 0 && float64(a.PresentSeconds) >= attendedShare*float64(a.SessionSeconds)
		return a, err
	})
	if err != nil {
		return nil, internal(err, "compute attendance")
	}
	return list, nil
}

// TakeAttendance records the final attendance of an ended session and a
// certificate of attendance in the employment log of everyone present for
// at least 80% of it. Taking it twice changes nothing.
func (s *Service) TakeAttendance(ctx context.Context, sessionID int64) ([]attendanceJSON, error) {
	now := s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var end time.Time
	var title, kind string
	var taken *time.Time
	err = tx.QueryRow(ctx, `SELECT upper(during), title, kind, attendance_taken_at FROM group_sessions WHERE id = $1 FOR UPDATE`, sessionID).
		Scan(&end, &title, &kind, &taken)
	if isNoRows(err) {
		return nil, apperr.New(apperr.NotFound, "没有这个课程或活动 / no group session with id %d", sessionID)
	}
	if err != nil {
		return nil, internal(err, "look up session")
	}
	if now.Before(end) {
		return nil, apperr.New(apperr.Conflict, "课程尚未结束 / attendance is taken after the session ends (%s)", end.UTC().Format(time.RFC3339))
	}
	if taken == nil {
		list, err := s.computeAttendance(ctx, tx, sessionID, end)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			if _, err := tx.Exec(ctx, `INSERT INTO session_attendance (session_id, seeker_id, present_seconds, session_seconds, attended)
				VALUES ($1, $2, $3, $4, $5)`, sessionID, a.SeekerID, a.PresentSeconds, a.SessionSeconds, a.Attended); err != nil {
				return nil, internal(err, "record attendance")
			}
			if a.Attended {
				if err := logTx(ctx, tx, a.SeekerID, KindTrainingCert, end, nil, map[string]any{"session_id": sessionID, "title": title, "kind": kind,
					"present_seconds": a.PresentSeconds, "session_seconds": a.SessionSeconds}); err != nil {
					return nil, internal(err, "write certificate")
				}
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE group_sessions SET attendance_taken_at = $2 WHERE id = $1`, sessionID, now); err != nil {
			return nil, internal(err, "record attendance")
		}
	}
	rows, err := tx.Query(ctx, `SELECT a.seeker_id, sk.name, a.present_seconds, a.session_seconds, a.attended
		FROM session_attendance a JOIN seekers sk ON sk.id = a.seeker_id WHERE a.session_id = $1 ORDER BY a.seeker_id`, sessionID)
	if err != nil {
		return nil, internal(err, "read attendance")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[attendanceJSON])
	if err != nil {
		return nil, internal(err, "read attendance")
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, internal(err, "record attendance")
	}
	return list, nil
}

// TakeDueAttendance takes the attendance of sessions that ended more than
// joinGrace ago (late leave events have arrived by then).
func (s *Service) TakeDueAttendance(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM group_sessions WHERE attendance_taken_at IS NULL AND upper(during) <= $1 AND kind = 'training'
		ORDER BY upper(during) LIMIT 100`, s.now().Add(-joinGrace))
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if _, err := s.TakeAttendance(ctx, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

func (s *Service) handleSessionAttendance(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	g, err := s.groupSession(ctx, id)
	if err != nil {
		return err
	}
	if err := g.mayTeach(p); err != nil {
		return err
	}
	var list []attendanceJSON
	if r.Method == http.MethodPost {
		list, err = s.TakeAttendance(ctx, id)
	} else {
		list, err = s.computeAttendance(ctx, s.pool, id, min64(s.now(), g.end))
	}
	if err != nil {
		return err
	}
	final := r.Method == http.MethodPost || g.taken != nil
	return writeJSON(w, http.StatusOK, map[string]any{"session_id": id, "final": final, "attendance": nonNil(list)})
}

func min64(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// --- consultations ---

var consultTopics = map[string]bool{"labour_law": true, "entrepreneurship": true}

func (s *Service) handleCreateConsultation(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		Topic string    `json:"topic"`
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	switch {
	case !consultTopics[in.Topic]:
		return apperr.New(apperr.Invalid, `topic must be "labour_law" or "entrepreneurship"`)
	case in.Start.IsZero() || in.End.IsZero() || !in.Start.Before(in.End) || in.End.Sub(in.Start) > 4*time.Hour:
		return apperr.New(apperr.Invalid, "时间段无效 / start must be before end, at most 4 hours apart")
	case !in.Start.After(s.now()):
		return apperr.New(apperr.Invalid, "start must be in the future")
	case p.Account == 0:
		return apperr.New(apperr.Forbidden, "只有咨询师账号可以开放咨询 / only an adviser's account can offer consultations")
	}
	var id int64
	err := s.pool.QueryRow(r.Context(), `INSERT INTO consultations (adviser_id, topic, during) VALUES ($1, $2, tstzrange($3, $4)) RETURNING id`,
		p.Account, in.Topic, in.Start, in.End).Scan(&id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "consultations_adviser_overlap" {
		return apperr.New(apperr.Conflict, "您在这个时间已有咨询 / you already offer a consultation at this time")
	}
	if err != nil {
		return internal(err, "offer consultation")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "topic": in.Topic, "start": in.Start, "end": in.End})
}

// handleListConsultations lists free future consultations: the adviser
// and the time, never who booked the others.
func (s *Service) handleListConsultations(w http.ResponseWriter, r *http.Request) error {
	topic := r.URL.Query().Get("topic")
	if topic != "" && !consultTopics[topic] {
		return apperr.New(apperr.Invalid, `topic must be "labour_law" or "entrepreneurship"`)
	}
	type free struct {
		ID      int64     `json:"id"`
		Topic   string    `json:"topic"`
		Adviser string    `json:"adviser"`
		Start   time.Time `json:"start"`
		End     time.Time `json:"end"`
	}
	rows, err := s.pool.Query(r.Context(), `SELECT c.id, c.topic, a.name, lower(c.during), upper(c.during) FROM consultations c JOIN accounts a ON a.id = c.adviser_id
		WHERE c.seeker_id IS NULL AND lower(c.during) > $1 AND ($2 = '' OR c.topic = $2) ORDER BY lower(c.during), c.id LIMIT 200`, s.now(), topic)
	if err != nil {
		return internal(err, "list consultations")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[free])
	if err != nil {
		return internal(err, "list consultations")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"consultations": nonNil(list)})
}

func (s *Service) handleBookConsultation(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Question         string `json:"question"`
		RecordingConsent bool   `json:"recording_consent"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := textField("question", in.Question, 0, 1000); err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var topic string
	var start, end time.Time
	err = tx.QueryRow(ctx, `UPDATE consultations SET seeker_id = $2, question = $3, recording_consent = $4, booked_at = $5
		WHERE id = $1 AND seeker_id IS NULL AND lower(during) > $5 RETURNING topic, lower(during), upper(during)`, id, p.ID, in.Question, in.RecordingConsent, now).
		Scan(&topic, &start, &end)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.ConstraintName == "consultations_seeker_overlap":
		return apperr.New(apperr.Conflict, "您在这个时间已有咨询 / you already have a consultation at this time")
	case isNoRows(err):
		var exists bool
		_ = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM consultations WHERE id = $1)`, id).Scan(&exists)
		if !exists {
			return apperr.New(apperr.NotFound, "没有这个咨询 / no consultation with id %d", id)
		}
		return apperr.New(apperr.Conflict, "这个咨询时段已被预约或已开始 / this consultation is taken or has started")
	case err != nil:
		return internal(err, "book consultation")
	}
	// The log says a consultation was booked, not what about.
	if err := logTx(ctx, tx, p.ID, KindConsultBooked, now, nil, map[string]any{"consultation_id": id, "topic": topic, "start": start}); err != nil {
		return internal(err, "write employment log")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "book consultation")
	}
	return s.writeConsultation(w, r, p, id, http.StatusOK)
}

// writeConsultation shows a consultation to one of its two parties; to
// anyone else it does not exist.
func (s *Service) writeConsultation(w http.ResponseWriter, r *http.Request, p principal, id int64, status int) error {
	var c struct {
		ID               int64     `json:"id"`
		Topic            string    `json:"topic"`
		Adviser          string    `json:"adviser"`
		AdviserID        int64     `json:"-"`
		SeekerID         *int64    `json:"seeker_id"`
		SeekerName       *string   `json:"seeker_name"`
		Question         string    `json:"question"`
		RecordingConsent bool      `json:"recording_consent"`
		Recorded         bool      `json:"recorded"`
		Start            time.Time `json:"start"`
		End              time.Time `json:"end"`
		Room             string    `json:"room"`
		JoinURL          string    `json:"join_url,omitempty"`
	}
	err := s.pool.QueryRow(r.Context(), `SELECT c.id, c.topic, a.name, c.adviser_id, c.seeker_id, sk.name, c.question, c.recording_consent,
			lower(c.during), upper(c.during)
		FROM consultations c JOIN accounts a ON a.id = c.adviser_id LEFT JOIN seekers sk ON sk.id = c.seeker_id WHERE c.id = $1`, id).
		Scan(&c.ID, &c.Topic, &c.Adviser, &c.AdviserID, &c.SeekerID, &c.SeekerName, &c.Question, &c.RecordingConsent, &c.Start, &c.End)
	isSeeker := err == nil && p.Role == RoleSeeker && c.SeekerID != nil && *c.SeekerID == p.ID
	isAdviser := err == nil && p.Role != RoleSeeker && p.Account != 0 && p.Account == c.AdviserID
	if isNoRows(err) || (err == nil && !isSeeker && !isAdviser) {
		return apperr.New(apperr.NotFound, "没有这个咨询 / no consultation with id %d that you take part in", id)
	}
	if err != nil {
		return internal(err, "look up consultation")
	}
	c.Room, c.Recorded = RoomForConsultation(id), c.RecordingConsent
	if c.SeekerID != nil && s.now().Before(c.End.Add(joinGrace)) {
		g := roomtoken.Grant{Room: c.Room, Expires: c.End.Add(joinGrace)}
		if isSeeker {
			g.Identity, g.Name, g.Role, g.Lobby = fmt.Sprintf("seeker-%d", p.ID), deref(c.SeekerName), roomtoken.RoleSeeker, true
		} else {
			g.Identity, g.Name, g.Role = fmt.Sprintf("account-%d", p.Account), c.Adviser, roomtoken.RoleInterviewer
		}
		if c.JoinURL, err = s.joinURL(g); err != nil {
			return err
		}
	}
	return writeJSON(w, status, c)
}

func (s *Service) handleGetConsultation(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return s.writeConsultation(w, r, p, id, http.StatusOK)
}

func (s *Service) handleMyConsultations(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	type mine struct {
		ID      int64     `json:"id"`
		Topic   string    `json:"topic"`
		Adviser string    `json:"adviser"`
		Booked  bool      `json:"booked"`
		Start   time.Time `json:"start"`
		End     time.Time `json:"end"`
	}
	q := `SELECT c.id, c.topic, a.name, c.seeker_id IS NOT NULL, lower(c.during), upper(c.during) FROM consultations c JOIN accounts a ON a.id = c.adviser_id
		WHERE c.seeker_id = $1 ORDER BY lower(c.during) DESC LIMIT 200`
	who := p.ID
	if p.Role != RoleSeeker {
		q = strings.Replace(q, "c.seeker_id = $1", "c.adviser_id = $1", 1)
		who = p.Account
	}
	rows, err := s.pool.Query(r.Context(), q, who)
	if err != nil {
		return internal(err, "list consultations")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[mine])
	if err != nil {
		return internal(err, "list consultations")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"consultations": nonNil(list)})
}
