package booking

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// RecordingFiles is what playback and legal holds need from the recording
// archive; cmd/ adapts the recorder's store to it.
type RecordingFiles interface {
	// OpenRecording returns a recording's media: the local file at path if
	// it is still there, else the archived object storeKey ("" = none).
	// A result that is also an io.ReadSeeker is served with Range support.
	OpenRecording(ctx context.Context, path, storeKey string) (io.ReadCloser, error)
	// SetLegalHold mirrors a hold onto the archived object.
	SetLegalHold(ctx context.Context, storeKey string, on bool) error
}

// RecordingFile is one finalized recording file, as the recorder reports it.
type RecordingFile struct {
	Room, Participant  string
	Path               string // "" when the recording failed before a file existed
	Started, Ended     time.Time
	Duration           time.Duration
	Bytes              int64
	HasVideo, HasAudio bool
	Incomplete         bool   // finalized after a crash
	Error              string // the reason the recording failed; "" = saved
}

// SaveRecording stores a finalized file of an interview room as a recording
// of the booking's seeker and, in the same transaction, its employment-log
// entry: recording_saved, recording_incomplete (with the duration that
// survived a crash) or recording_failed (with the reason). Saved files
// notify the recording.ready webhooks.
func (s *Service) SaveRecording(ctx context.Context, f RecordingFile) (int64, error) {
	bookingID, ok := BookingForRoom(f.Room)
	if !ok {
		return 0, apperr.New(apperr.NotFound, "no booking behind room %q", f.Room)
	}
	switch {
	case f.Participant == "" || len(f.Participant) > maxIDLen:
		return 0, apperr.New(apperr.Invalid, "participant must be 1 to %d bytes", maxIDLen)
	case len(f.Path) > 1024:
		return 0, apperr.New(apperr.Invalid, "path is over 1024 bytes")
	case f.Path == "" && f.Error == "":
		return 0, apperr.New(apperr.Invalid, "a saved recording needs its path")
	case f.Bytes < 0 || f.Duration < 0:
		return 0, apperr.New(apperr.Invalid, "bytes and duration must not be negative")
	}
	if len(f.Error) > 2000 {
		f.Error = f.Error[:2000]
	}
	kind := KindRecordingSaved
	switch {
	case f.Error != "":
		kind = KindRecordingFailed
	case f.Incomplete:
		kind = KindRecordingIncomplete
	}
	at := f.Ended
	if at.IsZero() {
		at = s.now()
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var seekerID, employerID int64
	if err := tx.QueryRow(ctx, `SELECT bk.seeker_id, b.employer_id FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE bk.id = $1`,
		bookingID).Scan(&seekerID, &employerID); err != nil {
		if isNoRows(err) {
			return 0, apperr.New(apperr.NotFound, "no booking behind room %q", f.Room)
		}
		return 0, internal(err, "look up booking")
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO recordings (booking_id, seeker_id, room, participant, path, bytes, duration_ms, has_video, has_audio,
			started_at, ended_at, incomplete, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, nullif($13, '')) RETURNING id`,
		bookingID, seekerID, f.Room, f.Participant, f.Path, f.Bytes, f.Duration.Milliseconds(), f.HasVideo, f.HasAudio,
		nullTime(f.Started), nullTime(f.Ended), f.Incomplete, f.Error).Scan(&id)
	if err != nil {
		if isUnique(err) {
			return 0, apperr.New(apperr.Conflict, "recording %s is already saved", f.Path)
		}
		return 0, internal(err, "save recording")
	}
	data := map[string]any{"room": f.Room, "recording_id": id, "participant": f.Participant, "bytes": f.Bytes,
		"duration_seconds": f.Duration.Seconds(), "video": f.HasVideo, "audio": f.HasAudio}
	if f.Path != "" {
		data["file"] = f.Path
	}
	if f.Incomplete {
		data["incomplete"] = true
	}
	if f.Error != "" {
		data["error"] = f.Error
	}
	if err := logTx(ctx, tx, seekerID, kind, at, &bookingID, data); err != nil {
		return 0, internal(err, "write employment log")
	}
	if kind != KindRecordingFailed {
		if err := emitTx(ctx, tx, EventRecordingReady, bookingID, employerID, map[string]any{"version": 1, "event": EventRecordingReady,
			"booking_id": bookingID, "seeker_id": seekerID, "recording_id": id, "participant": f.Participant,
			"duration_seconds": f.Duration.Seconds(), "incomplete": f.Incomplete, "at": at}); err != nil {
			return 0, internal(err, "queue webhook")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, internal(err, "save recording")
	}
	return id, nil
}

func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// maxIDLen bounds room participant identities (as the recorder does).
const maxIDLen = 128

// RecordingConsent tells whether participant (with its room-token role) may
// be recorded in room: a seeker by the recording consent in their profile
// (and only the booking's own seeker), interviewers and booth hosts by
// their role (staff agree when their account is made); anyone else is not
// recorded. Consultations are recorded only with the consent given when
// booking.
func (s *Service) RecordingConsent(ctx context.Context, room, participant, role string) (bool, error) {
	if id, ok := ConsultationForRoom(room); ok {
		var consent bool
		err := s.pool.QueryRow(ctx, `SELECT recording_consent FROM consultations WHERE id = $1 AND seeker_id IS NOT NULL`, id).Scan(&consent)
		if isNoRows(err) {
			return false, nil
		}
		if err != nil {
			return false, internal(err, "look up consultation consent")
		}
		return consent, nil
	}
	bookingID, ok := BookingForRoom(room)
	if !ok {
		return false, nil
	}
	switch role {
	case roomtoken.RoleInterviewer, roomtoken.RoleBoothHost:
		return true, nil
	case roomtoken.RoleSeeker:
	default:
		return false, nil
	}
	var seekerID int64
	var consent bool
	err := s.pool.QueryRow(ctx, `SELECT bk.seeker_id, s.consent_recording FROM bookings bk JOIN seekers s ON s.id = bk.seeker_id WHERE bk.id = $1`,
		bookingID).Scan(&seekerID, &consent)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, internal(err, "look up recording consent")
	}
	return consent && participant == "seeker-"+strconv.FormatInt(seekerID, 10), nil
}

// --- reading and playback ---

type recordingJSON struct {
	ID          int64      `json:"id"`
	BookingID   int64      `json:"booking_id"`
	SeekerID    int64      `json:"seeker_id"`
	Room        string     `json:"room"`
	Kind        string     `json:"kind"` // participant or composite
	Participant string     `json:"participant,omitempty"`
	Bytes       int64      `json:"bytes"`
	DurationSec float64    `json:"duration_seconds"`
	HasVideo    bool       `json:"video"`
	HasAudio    bool       `json:"audio"`
	Started     *time.Time `json:"started_at"`
	Ended       *time.Time `json:"ended_at"`
	Incomplete  bool       `json:"incomplete"`
	Error       *string    `json:"error"`
	SHA256      *string    `json:"sha256"`
	Archived    bool       `json:"archived"`
	LegalHold   bool       `json:"legal_hold"`
	Deleted     *time.Time `json:"deleted_at"`
	Created     time.Time  `json:"created_at"`
	MediaURL    string     `json:"media_url,omitempty"`
}

const recordingCols = `r.id, r.booking_id, r.seeker_id, r.room, r.kind, r.participant, r.bytes, r.duration_ms, r.has_video, r.has_audio,
	r.started_at, r.ended_at, r.incomplete, r.error, r.sha256, r.store_key IS NOT NULL, r.legal_hold, r.deleted_at, r.created_at`

// Filters of queryRecordings ($1 is the id).
const (
	bySeeker  = `r.seeker_id = $1 ORDER BY r.id DESC LIMIT 500`
	byBooking = `r.booking_id = $1 ORDER BY r.id`
	byID      = `r.id = $1`
)

// queryRecordings lists the recordings matching where.
func queryRecordings(ctx context.Context, q querier, where string, id int64) ([]recordingJSON, error) {
	rows, err := q.Query(ctx, `SELECT `+recordingCols+` FROM recordings r WHERE `+where, id)
	if err != nil {
		return nil, internal(err, "list recordings")
	}
	recs, err := scanRecordings(rows)
	if err != nil {
		return nil, internal(err, "list recordings")
	}
	return recs, nil
}

func scanRecordings(rows pgx.Rows) ([]recordingJSON, error) {
	defer rows.Close()
	out := []recordingJSON{}
	for rows.Next() {
		var r recordingJSON
		var ms int64
		if err := rows.Scan(&r.ID, &r.BookingID, &r.SeekerID, &r.Room, &r.Kind, &r.Participant, &r.Bytes, &ms, &r.HasVideo, &r.HasAudio,
			&r.Started, &r.Ended, &r.Incomplete, &r.Error, &r.SHA256, &r.Archived, &r.LegalHold, &r.Deleted, &r.Created); err != nil {
			return nil, err
		}
		r.DurationSec = float64(ms) / 1000
		if r.Error == nil && r.Deleted == nil {
			r.MediaURL = "/api/v1/recordings/" + strconv.FormatInt(r.ID, 10) + "/media"
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// mayAccessRecordings checks that p may see the recordings of a booking of
// seekerID at a booth of employerID in fairID: the seeker, staff of that
// employer, an officer of that fair, or an administrator.
func (s *Service) mayAccessRecordings(ctx context.Context, q querier, p principal, seekerID, employerID, fairID int64) error {
	switch p.Role {
	case RoleAdmin:
		return nil
	case RoleSeeker:
		if p.ID == seekerID {
			return nil
		}
		return apperr.New(apperr.Forbidden, "只能查看自己的面试录像 / you can only see your own interview recordings")
	case RoleEmployer:
		if p.ID == employerID {
			return nil
		}
		return apperr.New(apperr.Forbidden, "只能查看本单位的面试录像 / you can only see recordings of your own employer's interviews")
	case RoleOfficer:
		var runs bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fair_officers WHERE fair_id = $1 AND account_id = $2)`, fairID, p.Account).Scan(&runs); err != nil {
			return internal(err, "check fair officer")
		}
		if runs {
			return nil
		}
		return apperr.New(apperr.Forbidden, "您不负责这场招聘会 / only officers of this interview's fair can see its recordings")
	}
	return forbiddenRoles(p.Role, []string{RoleSeeker, RoleEmployer, RoleOfficer, RoleAdmin})
}

// mayAccessSeeker checks that staff p may see a seeker's whole record:
// administrators, and officers of a fair the seeker booked at or
// registered for.
func (s *Service) mayAccessSeeker(ctx context.Context, q querier, p principal, seekerID int64) error {
	var exists, related bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM seekers WHERE id = $1),
		EXISTS (SELECT 1 FROM fair_officers fo WHERE fo.account_id = $2 AND (
			EXISTS (SELECT 1 FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE bk.seeker_id = $1 AND b.fair_id = fo.fair_id)
			OR EXISTS (SELECT 1 FROM fair_attendees fa WHERE fa.seeker_id = $1 AND fa.fair_id = fo.fair_id)))`,
		seekerID, p.Account).Scan(&exists, &related); err != nil {
		return internal(err, "check officer")
	}
	switch {
	case !exists:
		return apperr.New(apperr.NotFound, "没有这个求职者 / no seeker with id %d", seekerID)
	case p.Role == RoleAdmin, p.Role == RoleOfficer && related:
		return nil
	case p.Role == RoleOfficer:
		return apperr.New(apperr.Forbidden, "该求职者未参加您负责的招聘会 / only officers of a fair this seeker booked at or registered for can see their record")
	}
	return forbiddenRoles(p.Role, []string{RoleOfficer, RoleAdmin})
}

func (s *Service) audit(ctx context.Context, q querier, p principal, action string, seekerID int64, subject string) error {
	if _, err := q.Exec(ctx, `INSERT INTO audit_log (actor, action, seeker_id, subject, at) VALUES ($1, $2, $3, $4, $5)`,
		p.actor(), action, seekerID, subject, s.now()); err != nil {
		return internal(err, "audit")
	}
	return nil
}

func (s *Service) handleMyRecordings(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	recs, err := queryRecordings(r.Context(), s.pool, bySeeker, p.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"recordings": recs})
}

// handleBookingRecordings lists an interview's recordings; staff views are
// audited in the same transaction as the read.
func (s *Service) handleBookingRecordings(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var seekerID, employerID, fairID int64
	if err := tx.QueryRow(ctx, `SELECT bk.seeker_id, b.employer_id, b.fair_id FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE bk.id = $1`,
		id).Scan(&seekerID, &employerID, &fairID); err != nil {
		if isNoRows(err) {
			return apperr.New(apperr.NotFound, "没有这个预约 / no booking with id %d", id)
		}
		return internal(err, "look up booking")
	}
	if err := s.mayAccessRecordings(ctx, tx, p, seekerID, employerID, fairID); err != nil {
		return err
	}
	recs, err := queryRecordings(ctx, tx, byBooking, id)
	if err != nil {
		return err
	}
	if p.Role != RoleSeeker {
		if err := s.audit(ctx, tx, p, "view_recording", seekerID, fmt.Sprintf("booking:%d recordings", id)); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "list recordings")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"recordings": recs})
}

// handleSeekerRecordings lists a seeker's recordings for officers (audited).
func (s *Service) handleSeekerRecordings(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if err := s.mayAccessSeeker(ctx, tx, p, id); err != nil {
		return err
	}
	recs, err := queryRecordings(ctx, tx, bySeeker, id)
	if err != nil {
		return err
	}
	if err := s.audit(ctx, tx, p, "view_recording", id, "recordings list"); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "list recordings")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"recordings": recs})
}

// handleRecordingMedia streams a recording. The access is audited (and
// committed) before any byte is sent, for the seeker too.
func (s *Service) handleRecordingMedia(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var seekerID, employerID, fairID int64
	var path string
	var key, failed *string
	var deleted *time.Time
	var created time.Time
	if err := tx.QueryRow(ctx, `SELECT r.seeker_id, b.employer_id, b.fair_id, r.path, r.store_key, r.error, r.deleted_at, r.created_at
		FROM recordings r JOIN bookings bk ON bk.id = r.booking_id JOIN booths b ON b.id = bk.booth_id WHERE r.id = $1`, id).Scan(
		&seekerID, &employerID, &fairID, &path, &key, &failed, &deleted, &created); err != nil {
		if isNoRows(err) {
			return apperr.New(apperr.NotFound, "没有这个录像 / no recording with id %d", id)
		}
		return internal(err, "look up recording")
	}
	if err := s.mayAccessRecordings(ctx, tx, p, seekerID, employerID, fairID); err != nil {
		return err
	}
	switch {
	case deleted != nil:
		return apperr.New(apperr.NotFound, "录像已按保存期限删除 / this recording was deleted under the retention policy")
	case failed != nil:
		return apperr.New(apperr.NotFound, "录制失败，没有可播放的内容 / this recording failed; there is nothing to play")
	}
	if err := s.audit(ctx, tx, p, "view_recording", seekerID, fmt.Sprintf("recording:%d", id)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "audit")
	}
	storeKey := ""
	if key != nil {
		storeKey = *key
	}
	media, err := s.openRecording(ctx, path, storeKey)
	if err != nil {
		return err
	}
	defer media.Close()
	name := filepath.Base(path)
	if path == "" {
		name = filepath.Base(storeKey)
	}
	w.Header().Set("Content-Type", mediaType(name))
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", name))
	w.Header().Set("Cache-Control", "private, no-store")
	if rs, ok := media.(io.ReadSeeker); ok {
		http.ServeContent(w, r, name, created, rs)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, media)
	return nil
}

func (s *Service) openRecording(ctx context.Context, path, key string) (io.ReadCloser, error) {
	if s.recFiles != nil {
		f, err := s.recFiles.OpenRecording(ctx, path, key)
		if err != nil && apperr.CodeOf(err) == apperr.NotFound {
			return nil, apperr.Wrap(err, apperr.NotFound, "录像文件不存在 / the recording's media is missing")
		}
		if err != nil {
			return nil, apperr.Wrap(err, apperr.Unavailable, "录像暂时无法读取 / the recording cannot be read right now")
		}
		return f, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || path == "" {
		return nil, apperr.New(apperr.NotFound, "录像文件不存在 / the recording's media is missing")
	}
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "录像暂时无法读取 / the recording cannot be read right now")
	}
	return f, nil
}

func mediaType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".webm":
		return "video/webm"
	case ".mkv":
		return "video/x-matroska"
	case ".mp4":
		return "video/mp4"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}

// handleLegalHold puts a recording on legal hold or releases it (officers
// of its fair, administrators). The hold reaches the archived object before
// the row changes, so retention can never delete held media.
func (s *Service) handleLegalHold(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		LegalHold *bool  `json:"legal_hold"`
		Reason    string `json:"reason"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.LegalHold == nil {
		return apperr.New(apperr.Invalid, "legal_hold (true or false) is required")
	}
	if err := textField("reason", in.Reason, 1, 500); err != nil {
		return err
	}
	ctx := r.Context()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var seekerID, employerID, fairID int64
	var key *string
	var deleted *time.Time
	if err := tx.QueryRow(ctx, `SELECT r.seeker_id, b.employer_id, b.fair_id, r.store_key, r.deleted_at
		FROM recordings r JOIN bookings bk ON bk.id = r.booking_id JOIN booths b ON b.id = bk.booth_id WHERE r.id = $1 FOR UPDATE OF r`, id).Scan(
		&seekerID, &employerID, &fairID, &key, &deleted); err != nil {
		if isNoRows(err) {
			return apperr.New(apperr.NotFound, "没有这个录像 / no recording with id %d", id)
		}
		return internal(err, "look up recording")
	}
	if err := s.mayAccessRecordings(ctx, tx, p, seekerID, employerID, fairID); err != nil {
		return err
	}
	if deleted != nil && *in.LegalHold {
		return apperr.New(apperr.Conflict, "录像已按保存期限删除，无法保全 / this recording was already deleted under the retention policy")
	}
	if key != nil && s.recFiles != nil {
		if err := s.recFiles.SetLegalHold(ctx, *key, *in.LegalHold); err != nil {
			return apperr.Wrap(err, apperr.Unavailable, "录像存储暂时不可用 / the recording archive is unavailable; nothing was changed")
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE recordings SET legal_hold = $2 WHERE id = $1`, id, *in.LegalHold); err != nil {
		return internal(err, "set legal hold")
	}
	verb := "off"
	if *in.LegalHold {
		verb = "on"
	}
	if err := s.audit(ctx, tx, p, "set_legal_hold", seekerID, fmt.Sprintf("recording:%d hold %s: %s", id, verb, strings.TrimSpace(in.Reason))); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "set legal hold")
	}
	recs, err := queryRecordings(ctx, s.pool, byID, id)
	if err != nil {
		return err
	}
	if len(recs) != 1 {
		return internal(nil, "read recording")
	}
	return writeJSON(w, http.StatusOK, recs[0])
}

// --- retention ---

// ExpiredRecording is a recording whose media retention may delete.
type ExpiredRecording struct {
	ID                        int64
	Path, StoreKey, Thumbnail string
}

// ExpiredRecordings lists up to limit recordings created before cutoff
// whose media is still kept and not on legal hold.
func (s *Service) ExpiredRecordings(ctx context.Context, cutoff time.Time, limit int) ([]ExpiredRecording, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, path, coalesce(store_key, ''), coalesce(thumbnail_path, '') FROM recordings
		WHERE deleted_at IS NULL AND NOT legal_hold AND created_at < $1 ORDER BY created_at LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, internal(err, "list expired recordings")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ExpiredRecording])
	if err != nil {
		return nil, internal(err, "list expired recordings")
	}
	return out, nil
}

// MarkRecordingDeleted records that retention removes a recording's media.
// Call it before deleting the media: it refuses (Conflict) once the
// recording is on legal hold, and the hold refuses once it is marked.
func (s *Service) MarkRecordingDeleted(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE recordings SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL AND NOT legal_hold`, id, s.now())
	if err != nil {
		return internal(err, "mark recording deleted")
	}
	if tag.RowsAffected() == 0 {
		return apperr.New(apperr.Conflict, "recording %d is on legal hold or already deleted", id)
	}
	return nil
}

// The legal-hold request body, added to the OpenAPI schemas from here so the
// recording routes stay in this file.
func init() {
	requestSchemas["LegalHold"] = object(obj{"legal_hold": boolean(), "reason": str()}, "legal_hold", "reason")
}
