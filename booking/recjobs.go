package booking

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"jobhall/internal/apperr"
)

// Recording job kinds and states (the recorder's post-processing; cmd/
// adapts these methods to its Queue).
const (
	RecJobComposite = "composite"
	RecJobThumbnail = "thumbnail"
	RecJobProbe     = "probe"
	RecJobUpload    = "upload"

	RecJobQueued  = "queued"
	RecJobRunning = "running"
	RecJobDone    = "done"
	RecJobFailed  = "failed"
)

// RecordingJobLease is how long a claimed job may run before another
// worker may claim it again (its worker is taken for dead). It must exceed
// the runner's per-attempt timeout.
const RecordingJobLease = 45 * time.Minute

// RecordingJob is one post-processing job of a recording or an interview.
type RecordingJob struct {
	ID          int64
	Kind        string
	RecordingID int64 // per-file jobs; 0 for a composite
	Room        string
	Participant string
	Inputs      []string
	Offsets     []time.Duration
	Output      string
	Key         string // upload: archive key

	State       string
	Attempts    int
	MaxAttempts int
	RunAfter    time.Time
	LastError   string
	Result      RecordingJobResult
}

// RecordingJobResult is what a finished job produced.
type RecordingJobResult struct {
	Path     string        `json:"path,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Bytes    int64         `json:"bytes,omitempty"`
	SHA256   string        `json:"sha256,omitempty"`
}

const recJobCols = `id, kind, coalesce(recording_id, 0), room, participant, inputs, offsets_ms, output, store_key,
	state, attempts, max_attempts, run_after, last_error, result`

func scanRecJob(row pgx.Row) (RecordingJob, error) {
	var j RecordingJob
	var offs []int64
	var res []byte
	if err := row.Scan(&j.ID, &j.Kind, &j.RecordingID, &j.Room, &j.Participant, &j.Inputs, &offs, &j.Output, &j.Key,
		&j.State, &j.Attempts, &j.MaxAttempts, &j.RunAfter, &j.LastError, &res); err != nil {
		return j, err
	}
	for _, o := range offs {
		j.Offsets = append(j.Offsets, time.Duration(o)*time.Millisecond)
	}
	if len(res) > 0 {
		_ = json.Unmarshal(res, &j.Result)
	}
	return j, nil
}

// EnqueueRecordingJob queues a per-file job of recording j.RecordingID, or
// (RecordingID 0) of the recording whose file is Inputs[0]; its room and
// booking are taken from the recording. A job of the same
// kind for the same file is not queued twice: its id is returned.
func (s *Service) EnqueueRecordingJob(ctx context.Context, j RecordingJob) (int64, error) {
	switch j.Kind {
	case RecJobThumbnail, RecJobProbe, RecJobUpload:
	case RecJobComposite:
		return 0, apperr.New(apperr.Invalid, "queue composites with QueueComposite")
	default:
		return 0, apperr.New(apperr.Invalid, "unknown recording job kind %q", j.Kind)
	}
	if j.RecordingID < 0 || len(j.Inputs) == 0 {
		return 0, apperr.New(apperr.Invalid, "a recording job needs its recording and inputs")
	}
	if j.MaxAttempts <= 0 {
		j.MaxAttempts = 5
	}
	var id int64
	err := s.pool.QueryRow(ctx, `WITH rec AS (SELECT * FROM recordings WHERE id = $2 OR ($2 = 0 AND path = ($3::text[])[1] AND path <> '')),
		ins AS (
			INSERT INTO recording_jobs (kind, booking_id, recording_id, room, participant, inputs, output, store_key, max_attempts, run_after)
			SELECT $1, r.booking_id, r.id, r.room, r.participant, $3, $4, $5, $6, $7 FROM rec r
			ON CONFLICT (recording_id, kind) WHERE recording_id IS NOT NULL DO NOTHING RETURNING id)
		SELECT id FROM ins UNION ALL SELECT j.id FROM recording_jobs j JOIN rec ON rec.id = j.recording_id WHERE j.kind = $1 LIMIT 1`,
		j.Kind, j.RecordingID, j.Inputs, j.Output, j.Key, j.MaxAttempts, s.now()).Scan(&id)
	if isNoRows(err) {
		return 0, apperr.New(apperr.NotFound, "no recording %d", j.RecordingID)
	}
	if err != nil {
		return 0, internal(err, "queue recording job")
	}
	return id, nil
}

// QueueComposite queues the side-by-side composite of an interview room,
// to be written to output, once both parties' files exist: a saved file of
// the booking's seeker and one of anyone else. It returns 0 when they do
// not (yet); a second call returns the first job's id.
func (s *Service) QueueComposite(ctx context.Context, room, output string) (int64, error) {
	bookingID, ok := BookingForRoom(room)
	if !ok {
		return 0, apperr.New(apperr.NotFound, "no booking behind room %q", room)
	}
	if output == "" {
		return 0, apperr.New(apperr.Invalid, "composite output is required")
	}
	// Inputs in start order; offsets from the earliest start.
	var id int64
	err := s.pool.QueryRow(ctx, `WITH files AS (
			SELECT r.path, coalesce(r.started_at, r.created_at) AS t0,
				coalesce(r.started_at, r.created_at) - min(coalesce(r.started_at, r.created_at)) OVER () AS off,
				r.participant = 'seeker-' || r.seeker_id AS is_seeker
			FROM recordings r WHERE r.booking_id = $1 AND r.kind = 'participant' AND r.error IS NULL AND r.deleted_at IS NULL AND r.has_video
			ORDER BY t0, r.id LIMIT 16),
		ok AS (SELECT bool_or(is_seeker) AND bool_or(NOT is_seeker) AS has_both FROM files),
		ins AS (INSERT INTO recording_jobs (kind, booking_id, room, inputs, offsets_ms, output, run_after)
			SELECT 'composite', $1, $2, array_agg(path ORDER BY t0, path), array_agg((extract(epoch FROM off) * 1000)::bigint ORDER BY t0, path), $3, $4
			FROM files HAVING (SELECT has_both FROM ok)
			ON CONFLICT (booking_id) WHERE kind = 'composite' DO NOTHING RETURNING id)
		SELECT id FROM ins UNION ALL SELECT id FROM recording_jobs WHERE booking_id = $1 AND kind = 'composite' LIMIT 1`,
		bookingID, room, output, s.now()).Scan(&id)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, internal(err, "queue composite")
	}
	return id, nil
}

// ClaimRecordingJob moves the oldest due queued job, or a running job whose
// lease ran out, to running and counts the attempt. nil, nil: none due. A
// job whose lease ran out on its last attempt is marked failed instead.
func (s *Service) ClaimRecordingJob(ctx context.Context, now time.Time) (*RecordingJob, error) {
	// Lost leases on the last attempt fail here, so they are not run again.
	if _, err := s.pool.Exec(ctx, `UPDATE recording_jobs SET state = 'failed', lease_until = NULL, updated_at = $1,
			last_error = CASE WHEN last_error = '' THEN 'worker lost (lease expired)' ELSE last_error END
		WHERE state = 'running' AND lease_until < $1 AND attempts >= max_attempts`, now); err != nil {
		return nil, internal(err, "expire recording jobs")
	}
	row := s.pool.QueryRow(ctx, `UPDATE recording_jobs j SET state = 'running', attempts = j.attempts + 1, lease_until = $1::timestamptz + $2::interval, updated_at = $1
		WHERE j.id = (SELECT id FROM recording_jobs
			WHERE (state = 'queued' AND run_after <= $1) OR (state = 'running' AND lease_until < $1 AND attempts < max_attempts)
			ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+recJobCols, now, RecordingJobLease)
	j, err := scanRecJob(row)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, internal(err, "claim recording job")
	}
	return &j, nil
}

// CompleteRecordingJob stores a running job's result and applies it in the
// same transaction: the probe's duration and size, the thumbnail, the
// archive key and checksum, or the composite as a new recording; the
// seeker's log gets a recording_processed entry.
func (s *Service) CompleteRecordingJob(ctx context.Context, id int64, res RecordingJobResult) error {
	body, _ := json.Marshal(res)
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var kind, room string
	var recID *int64
	var bookingID, seekerID int64
	err = tx.QueryRow(ctx, `UPDATE recording_jobs j SET state = 'done', result = $2, last_error = '', lease_until = NULL, updated_at = $3
		FROM bookings bk WHERE j.id = $1 AND j.state = 'running' AND bk.id = j.booking_id
		RETURNING j.kind, j.room, j.recording_id, j.booking_id, bk.seeker_id`, id, body, s.now()).Scan(&kind, &room, &recID, &bookingID, &seekerID)
	if isNoRows(err) {
		return apperr.New(apperr.Conflict, "recording job %d is not running", id)
	}
	if err != nil {
		return internal(err, "complete recording job")
	}
	data := map[string]any{"room": room, "job_id": id, "job": kind, "state": RecJobDone}
	switch kind {
	case RecJobProbe:
		_, err = tx.Exec(ctx, `UPDATE recordings SET duration_ms = $2, bytes = $3 WHERE id = $1`, *recID, res.Duration.Milliseconds(), res.Bytes)
		data["duration_seconds"], data["bytes"] = res.Duration.Seconds(), res.Bytes
	case RecJobThumbnail:
		_, err = tx.Exec(ctx, `UPDATE recordings SET thumbnail_path = $2 WHERE id = $1`, *recID, res.Path)
	case RecJobUpload:
		_, err = tx.Exec(ctx, `UPDATE recordings SET store_key = $2, sha256 = nullif($3, '') WHERE id = $1`, *recID, res.Path, res.SHA256)
		data["sha256"] = res.SHA256
	case RecJobComposite:
		var cid int64
		err = tx.QueryRow(ctx, `INSERT INTO recordings (booking_id, seeker_id, room, kind, path, bytes, duration_ms, has_video, has_audio)
			VALUES ($1, $2, $3, 'composite', $4, $5, $6, true, true)
			ON CONFLICT (path) WHERE path <> '' DO UPDATE SET bytes = EXCLUDED.bytes, duration_ms = EXCLUDED.duration_ms RETURNING id`,
			bookingID, seekerID, room, res.Path, res.Bytes, res.Duration.Milliseconds()).Scan(&cid)
		data["composite_recording_id"], data["duration_seconds"] = cid, res.Duration.Seconds()
	}
	if err != nil {
		return internal(err, "apply recording job result")
	}
	if recID != nil {
		data["recording_id"] = *recID
	}
	if err := logTx(ctx, tx, seekerID, KindRecordingProcessed, s.now(), &bookingID, data); err != nil {
		return internal(err, "write employment log")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "complete recording job")
	}
	return nil
}

// FailRecordingJob records a failed attempt: the job is queued again at
// retryAt, or marked failed once its attempts are used up (and the log says
// so). It returns the job as it is now.
func (s *Service) FailRecordingJob(ctx context.Context, id int64, cause string, retryAt time.Time) (RecordingJob, error) {
	if len(cause) > 2000 {
		cause = cause[:2000]
	}
	if cause == "" {
		cause = "failed"
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return RecordingJob{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	j, err := scanRecJob(tx.QueryRow(ctx, `UPDATE recording_jobs SET last_error = $2, lease_until = NULL, updated_at = $4,
			state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
			run_after = CASE WHEN attempts >= max_attempts THEN run_after ELSE $3 END
		WHERE id = $1 AND state = 'running' RETURNING `+recJobCols, id, cause, retryAt, s.now()))
	if isNoRows(err) {
		return RecordingJob{}, apperr.New(apperr.Conflict, "recording job %d is not running", id)
	}
	if err != nil {
		return RecordingJob{}, internal(err, "fail recording job")
	}
	if j.State == RecJobFailed {
		data := map[string]any{"room": j.Room, "job_id": j.ID, "job": j.Kind, "state": RecJobFailed, "error": cause, "attempts": j.Attempts}
		if j.RecordingID != 0 {
			data["recording_id"] = j.RecordingID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO employment_log (seeker_id, kind, at, booking_id, data)
			SELECT bk.seeker_id, $2, $3, bk.id, $4 FROM recording_jobs j JOIN bookings bk ON bk.id = j.booking_id WHERE j.id = $1`,
			id, KindRecordingProcessed, s.now(), mustJSON(data)); err != nil {
			return RecordingJob{}, internal(err, "write employment log")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return RecordingJob{}, internal(err, "fail recording job")
	}
	return j, nil
}

// GetRecordingJob returns one job.
func (s *Service) GetRecordingJob(ctx context.Context, id int64) (RecordingJob, error) {
	j, err := scanRecJob(s.pool.QueryRow(ctx, `SELECT `+recJobCols+` FROM recording_jobs WHERE id = $1`, id))
	if isNoRows(err) {
		return j, apperr.New(apperr.NotFound, "no recording job %d", id)
	}
	if err != nil {
		return j, internal(err, fmt.Sprintf("read recording job %d", id))
	}
	return j, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
