package main

import (
	"context"
	"time"

	"jobhall/booking"
	"jobhall/internal/apperr"
	"jobhall/recorder/post"
)

// pgQueue is post.Queue on booking's recording_jobs table: booking owns the
// table and applies each result to the recording in the job's transaction.
type pgQueue struct{ svc *booking.Service }

var _ post.Queue = pgQueue{}

func (q pgQueue) Enqueue(ctx context.Context, j post.Job) (int64, error) {
	if j.Kind == post.KindComposite {
		return q.svc.QueueComposite(ctx, j.RoomID, j.Output)
	}
	if len(j.Inputs) == 0 {
		return 0, apperr.New(apperr.Invalid, "job %q has no inputs", j.Kind)
	}
	return q.svc.EnqueueRecordingJob(ctx, booking.RecordingJob{Kind: j.Kind, Inputs: j.Inputs, Output: j.Output, Key: j.Key,
		MaxAttempts: j.MaxAttempts})
}

func (q pgQueue) Claim(ctx context.Context, now time.Time) (*post.Job, error) {
	j, err := q.svc.ClaimRecordingJob(ctx, now)
	if err != nil || j == nil {
		return nil, err
	}
	pj := toPostJob(*j)
	return &pj, nil
}

func (q pgQueue) Done(ctx context.Context, id int64, r post.Result) error {
	return q.svc.CompleteRecordingJob(ctx, id, booking.RecordingJobResult{Path: r.Path, Duration: r.Duration, Bytes: r.Bytes, SHA256: r.SHA256})
}

func (q pgQueue) Fail(ctx context.Context, id int64, cause error, retryAt time.Time) (post.Job, error) {
	msg := "failed"
	if cause != nil {
		msg = cause.Error()
	}
	j, err := q.svc.FailRecordingJob(ctx, id, msg, retryAt)
	return toPostJob(j), err
}

func (q pgQueue) Get(ctx context.Context, id int64) (post.Job, error) {
	j, err := q.svc.GetRecordingJob(ctx, id)
	return toPostJob(j), err
}

func toPostJob(j booking.RecordingJob) post.Job {
	return post.Job{ID: j.ID, Kind: j.Kind, RoomID: j.Room, ParticipantID: j.Participant, Inputs: j.Inputs, Offsets: j.Offsets,
		Output: j.Output, Key: j.Key, State: post.State(j.State), Attempts: j.Attempts, MaxAttempts: j.MaxAttempts,
		RunAfter: j.RunAfter, LastError: j.LastError,
		Result: post.Result{Path: j.Result.Path, Duration: j.Result.Duration, Bytes: j.Result.Bytes, SHA256: j.Result.SHA256}}
}
