package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"jobhall/booking"
	"jobhall/internal/apperr"
	"jobhall/recorder"
	"jobhall/recorder/post"
	"jobhall/recorder/store"
)

// consentWait bounds how long the recorder's consent question waits for the
// lookup started when the participant joined (it normally answered long
// before the first track arrives). No answer in time means no recording.
const consentWait = 3 * time.Second

// retentionEvery is how often expired recordings are deleted.
const retentionEvery = time.Hour

// recordingArchive joins the recorder to booking: consent, a recording row
// per finalized file, post-processing jobs (run here by a post.Runner on
// booking's PostgreSQL queue), playback and legal holds (booking.RecordingFiles),
// and retention.
type recordingArchive struct {
	log       *slog.Logger
	dir       string      // recordings folder
	store     store.Store // nil: local folder only, no uploads
	retention time.Duration
	svc       *booking.Service // set by bind

	mu       sync.Mutex
	consents map[string]map[string]*consentAnswer // room -> participant -> answer
	wg       sync.WaitGroup                       // consent lookups

	stopBG func()
	bgDone chan struct{}
}

type consentAnswer struct {
	role string
	done chan struct{}
	ok   bool
	err  error
}

func newRecordingArchive(ctx context.Context, cfg *config, log *slog.Logger) (*recordingArchive, error) {
	a := &recordingArchive{log: log.With("component", "recording-archive"), dir: cfg.RecordingsDir,
		retention: time.Duration(cfg.RetentionDays) * 24 * time.Hour, consents: map[string]map[string]*consentAnswer{}}
	if cfg.S3Endpoint == "" {
		return a, nil
	}
	endpoint, secure := cfg.S3Endpoint, false
	switch {
	case strings.HasPrefix(endpoint, "https://"):
		endpoint, secure = strings.TrimPrefix(endpoint, "https://"), true
	case strings.HasPrefix(endpoint, "http://"):
		endpoint = strings.TrimPrefix(endpoint, "http://")
	}
	s3, err := store.NewS3(ctx, store.S3Config{Endpoint: strings.TrimRight(endpoint, "/"), Secure: secure, Region: cfg.S3Region,
		Bucket: cfg.S3Bucket, AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("recording archive (S3 %s): %w", cfg.S3Endpoint, err)
	}
	a.store = s3
	return a, nil
}

func (a *recordingArchive) bind(svc *booking.Service) { a.svc = svc }

// --- booking.RecordingFiles: playback and holds ---

// OpenRecording serves the local file while it is there (only inside the
// recordings folder), else the archived object.
func (a *recordingArchive) OpenRecording(ctx context.Context, path, key string) (io.ReadCloser, error) {
	if path != "" && a.inDir(path) {
		f, err := os.Open(path)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if key != "" && a.store != nil {
		return a.store.Open(ctx, key)
	}
	return nil, apperr.New(apperr.NotFound, "recording media missing")
}

func (a *recordingArchive) SetLegalHold(ctx context.Context, key string, on bool) error {
	if a.store == nil {
		return nil
	}
	return a.store.SetLegalHold(ctx, key, on)
}

func (a *recordingArchive) inDir(path string) bool {
	rel, err := filepath.Rel(a.dir, path)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel)
}

// --- consent ---

// prefetchConsent starts the lookup of a joining participant's consent, so
// that the recorder's question (at its first track) finds the answer ready.
func (a *recordingArchive) prefetchConsent(room, participant, role string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.consents[room]
	if m == nil {
		m = map[string]*consentAnswer{}
		a.consents[room] = m
	}
	if old := m[participant]; old != nil && old.role == role {
		return
	}
	ans := &consentAnswer{role: role, done: make(chan struct{})}
	m[participant] = ans
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(ans.done)
		ctx, cancel := context.WithTimeout(context.Background(), consentWait)
		defer cancel()
		ans.ok, ans.err = a.svc.RecordingConsent(ctx, room, participant, role)
	}()
}

// consentFunc is the recorder session's consent question for room: the
// answer is written to the seeker's log either way ("recording_consent").
func (a *recordingArchive) consentFunc(iv *interviews, room string) func(string) bool {
	return func(participant string) bool {
		a.mu.Lock()
		ans := a.consents[room][participant]
		a.mu.Unlock()
		ok, role, reason := false, "", "unknown participant"
		if ans != nil {
			role = ans.role
			select {
			case <-ans.done:
				ok = ans.ok && ans.err == nil
				switch {
				case ans.err != nil:
					reason = "consent lookup failed: " + ans.err.Error()
				case !ok:
					reason = "no recording consent"
				}
			case <-time.After(consentWait):
				reason = "consent lookup timed out"
			}
		}
		data := map[string]any{"participant": participant, "role": role, "consent": ok}
		if !ok {
			data["reason"] = reason
			data["note"] = "未经同意，不录制此参与者 / not recorded: no consent"
			iv.log.Info("participant not recorded", "room", room, "participant", participant, "reason", reason)
		}
		// Not iv.enqueue here: the SFU may ask while the tracker holds its
		// lock (attaching the recorder to a room with tracks).
		at := time.Now()
		a.wg.Add(1)
		go func() { defer a.wg.Done(); iv.enqueue(room, booking.KindRecordingConsent, at, data) }()
		return ok
	}
}

// --- saving files and queueing jobs ---

// fileDone saves a finalized (or recovered, or failed) file as a recording
// and queues its post-processing; it runs on the tracker's writer.
func (a *recordingArchive) fileDone(iv *interviews, room string, f recorder.File) {
	rf := booking.RecordingFile{Room: room, Participant: f.ParticipantID, Path: f.Path, Started: f.Started, Ended: f.Ended,
		Duration: f.Duration, Bytes: f.Bytes, HasVideo: f.HasVideo, HasAudio: f.HasAudio, Incomplete: f.Incomplete}
	if f.Err != nil {
		rf.Error = f.Err.Error()
		if errors.Is(f.Err, recorder.ErrNoMedia) {
			rf.Path = "" // the empty file was removed
		}
		iv.log.Error("recording failed", "room", room, "participant", f.ParticipantID, "err", f.Err)
	}
	if rf.Participant == "" {
		rf.Participant = "unknown"
	}
	iv.enqueueFunc(room, func(ctx context.Context) string {
		id, err := a.svc.SaveRecording(ctx, rf)
		if err != nil {
			iv.log.Error("recording not saved to the employment log", "room", room, "file", rf.Path, "err", err)
			return ""
		}
		if rf.Error == "" {
			a.queueFileJobs(ctx, id, rf)
		}
		switch {
		case rf.Error != "":
			return booking.KindRecordingFailed
		case rf.Incomplete:
			return booking.KindRecordingIncomplete
		}
		return booking.KindRecordingSaved
	})
}

func (a *recordingArchive) queueFileJobs(ctx context.Context, id int64, rf booking.RecordingFile) {
	jobs := []booking.RecordingJob{{Kind: booking.RecJobProbe}}
	if rf.HasVideo {
		jobs = append(jobs, booking.RecordingJob{Kind: booking.RecJobThumbnail, Output: strings.TrimSuffix(rf.Path, filepath.Ext(rf.Path)) + ".jpg"})
	}
	if a.store != nil {
		jobs = append(jobs, booking.RecordingJob{Kind: booking.RecJobUpload, Key: a.key(rf.Path)})
	}
	for _, j := range jobs {
		j.RecordingID, j.Inputs = id, []string{rf.Path}
		if _, err := a.svc.EnqueueRecordingJob(ctx, j); err != nil {
			a.log.Error("post-processing job not queued", "recording", id, "kind", j.Kind, "err", err)
		}
	}
}

// key names a file's archived object: its path under the recordings folder.
func (a *recordingArchive) key(path string) string {
	if rel, err := filepath.Rel(a.dir, path); err == nil && a.inDir(path) {
		return filepath.ToSlash(rel)
	}
	return filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
}

// sessionClosed queues the side-by-side composite once a room's recording
// session has ended (booking queues it only if both parties have a file)
// and forgets the room's consent answers.
func (a *recordingArchive) sessionClosed(iv *interviews, room string, files []recorder.File) {
	a.mu.Lock()
	delete(a.consents, room)
	a.mu.Unlock()
	var dir string
	for _, f := range files {
		if f.Err == nil && f.Path != "" {
			dir = filepath.Dir(f.Path)
			break
		}
	}
	if dir == "" {
		return
	}
	out := filepath.Join(dir, "composite-"+time.Now().UTC().Format("20060102T150405Z")+".mp4")
	iv.enqueueFunc(room, func(ctx context.Context) string {
		if id, err := a.svc.QueueComposite(ctx, room, out); err != nil {
			iv.log.Error("composite not queued", "room", room, "err", err)
		} else if id != 0 {
			iv.log.Info("composite queued", "room", room, "job", id, "output", out)
		}
		return ""
	})
}

// --- background: the post-processing runner and retention ---

func (a *recordingArchive) start() {
	ctx, stop := context.WithCancel(context.Background())
	a.stopBG, a.bgDone = stop, make(chan struct{})
	runner := &post.Runner{Queue: pgQueue{a.svc}, Store: a.store, Log: a.log, Timeout: 30 * time.Minute,
		OnEvent: func(j post.Job) {
			if j.State == post.Failed {
				a.log.Error("ALERT: recording post-processing failed", "job", j.ID, "kind", j.Kind, "room", j.RoomID,
					"attempts", j.Attempts, "err", j.LastError)
			}
		}}
	go func() {
		defer close(a.bgDone)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); runner.Run(ctx) }()
		if a.retention > 0 {
			a.retentionLoop(ctx)
		}
		wg.Wait()
	}()
}

func (a *recordingArchive) retentionLoop(ctx context.Context) {
	retain := func() {
		if n, err := a.applyRetention(ctx, time.Now()); err != nil && ctx.Err() == nil {
			a.log.Error("recording retention", "err", err, "deleted", n)
		} else if n > 0 {
			a.log.Info("recording retention", "deleted", n)
		}
	}
	retain()
	every(ctx, retentionEvery, retain)
}

// applyRetention deletes the media of recordings older than the retention
// period, except those on legal hold: each is marked deleted in the
// database first (refused once held), then its files and archived object
// go. The archive itself is swept too (store.ApplyRetention skips held objects).
func (a *recordingArchive) applyRetention(ctx context.Context, now time.Time) (int, error) {
	if a.retention <= 0 {
		return 0, nil
	}
	n := 0
	for ctx.Err() == nil {
		exp, err := a.svc.ExpiredRecordings(ctx, now.Add(-a.retention), 200)
		if err != nil || len(exp) == 0 {
			return n, err
		}
		for _, r := range exp {
			if err := a.svc.MarkRecordingDeleted(ctx, r.ID); err != nil {
				if apperr.CodeOf(err) == apperr.Conflict {
					continue // put on hold meanwhile
				}
				return n, err
			}
			for _, p := range []string{r.Path, r.Thumbnail} {
				if p != "" && a.inDir(p) {
					if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
						a.log.Warn("retention: remove file", "path", p, "err", err)
					}
				}
			}
			if r.StoreKey != "" && a.store != nil {
				if err := a.store.Delete(ctx, r.StoreKey); err != nil {
					a.log.Warn("retention: delete archived object", "key", r.StoreKey, "err", err)
				}
			}
			n++
		}
	}
	if a.store != nil {
		if _, err := store.ApplyRetention(ctx, a.store, a.retention, now); err != nil {
			return n, err
		}
	}
	return n, ctx.Err()
}

// close stops the runner and retention and waits for consent lookups.
func (a *recordingArchive) close() {
	if a.stopBG != nil {
		a.stopBG()
		<-a.bgDone
	}
	a.wg.Wait()
	if c, ok := a.store.(interface{ Close() }); ok {
		c.Close()
	}
}

// enqueueFunc queues a database write on the tracker's writer; f returns
// the log kind it wrote ("" for none), which is published to live views.
func (iv *interviews) enqueueFunc(room string, f func(context.Context) string) {
	w := func(ctx context.Context) {
		kind := f(ctx)
		if kind == "" {
			return
		}
		payload := fmt.Appendf(nil, `{"room":%q,"kind":%q,"at":%q}`, room, kind, time.Now().UTC().Format(time.RFC3339Nano))
		if err := iv.events.Publish(ctx, interviewEventsTopic, payload); err != nil {
			iv.log.Warn("interview event not published", "room", room, "kind", kind, "err", err)
		}
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.closed {
		return
	}
	select {
	case iv.writes <- w:
	default:
		iv.log.Error("employment log queue full; recording entry lost", "room", room)
	}
}
