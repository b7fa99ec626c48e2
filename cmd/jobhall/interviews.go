package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
	"jobhall/recorder"
)

// eventPublisher carries interview events to live views on this and other
// nodes; best effort, after the durable write.
type eventPublisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// interviewEventsTopic is the bus topic of interview events.
const interviewEventsTopic = "interview-events"

// roomLog is what the interview tracker writes to; booking.Service has it.
type roomLog interface {
	RecordRoomEvent(ctx context.Context, roomID, kind string, at time.Time, data map[string]any) error
}

// localSubscribing is what the tracker needs from the media engine.
type localSubscribing interface {
	attachRecorder(room string, s *recorder.Session) (detach func())
}

// interviews follows interview rooms through the signalling hooks: it
// starts and stops the recorder and writes the employment-log entries.
// Log writes go through one worker goroutine so that they keep their order
// and never hold up a signalling connection.
type interviews struct {
	log      *slog.Logger
	store    roomLog
	events   eventPublisher
	rec      *recorder.Recorder // nil: no recording
	media    localSubscribing
	isTarget func(room string) bool
	arch     *recordingArchive // nil: files are only logged (no consent check, rows or jobs)

	mu     sync.Mutex
	rooms  map[string]*interviewRoom
	closed bool

	writes chan func(context.Context)
	done   chan struct{}
	wg     sync.WaitGroup // recorder sessions being closed
}

type interviewRoom struct {
	present map[string]string // identity -> role, of those in the room now
	seen    map[string]string // identity -> role, of everyone who came
	names   map[string]string
	started time.Time
	session *recorder.Session
	detach  func()
}

func newInterviews(log *slog.Logger, store roomLog, events eventPublisher, rec *recorder.Recorder, media localSubscribing, isTarget func(string) bool) *interviews {
	iv := &interviews{log: log, store: store, events: events, rec: rec, media: media, isTarget: isTarget,
		rooms: make(map[string]*interviewRoom), writes: make(chan func(context.Context), 1024), done: make(chan struct{})}
	go iv.writer()
	return iv
}

func (iv *interviews) writer() {
	defer close(iv.done)
	for f := range iv.writes {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		f(ctx)
		cancel()
	}
}

// enqueue queues a log write; it never blocks a signalling goroutine.
func (iv *interviews) enqueue(room, kind string, at time.Time, data map[string]any) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if !iv.closed {
		iv.enqueueLocked(room, kind, at, data)
	}
}

func (iv *interviews) Recording(room string) bool { return iv.rec != nil && iv.isTarget(room) }

func (iv *interviews) ParticipantJoined(room string, g roomtoken.Grant) {
	if isCourseRoom(room) { // training attendance is computed from these
		iv.enqueue(room, "participant_joined", time.Now(), map[string]any{"identity": g.Identity, "role": g.Role})
		return
	}
	if !iv.isTarget(room) {
		return
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.closed {
		return
	}
	var opts []recorder.SessionOption
	if iv.arch != nil && iv.rec != nil {
		iv.arch.prefetchConsent(room, g.Identity, g.Role) // answered before the first track arrives
		opts = append(opts, recorder.WithConsent(iv.arch.consentFunc(iv, room)))
	}
	r := iv.rooms[room]
	if r == nil {
		r = &interviewRoom{present: map[string]string{}, seen: map[string]string{}, names: map[string]string{}}
		iv.rooms[room] = r
		if iv.rec != nil {
			r.session = iv.rec.StartSession(room, func(f recorder.File) { iv.fileDone(room, f) }, opts...)
			r.detach = iv.media.attachRecorder(room, r.session)
		}
	}
	r.present[g.Identity] = g.Role
	r.seen[g.Identity] = g.Role
	r.names[g.Identity] = g.Name
	if r.started.IsZero() && hasRole(r.present, roomtoken.RoleSeeker) &&
		(hasRole(r.present, roomtoken.RoleInterviewer) || hasRole(r.present, roomtoken.RoleBoothHost)) {
		r.started = time.Now()
		iv.enqueueLocked(room, "interview_started", r.started, map[string]any{"participants": participants(r)})
	}
}

// ParticipantWaiting records attendance when a seeker enters the lobby, so
// the booking service does not mark a no-show while the seeker waits for a
// late or busy interviewer.
func (iv *interviews) ParticipantWaiting(room string, g roomtoken.Grant) {
	if !iv.isTarget(room) || g.Role != roomtoken.RoleSeeker {
		return
	}
	iv.enqueue(room, "seeker_joined", time.Now(), map[string]any{"identity": g.Identity})
}

func (iv *interviews) ParticipantLeft(room string, g roomtoken.Grant) {
	if isCourseRoom(room) {
		iv.enqueue(room, "participant_left", time.Now(), map[string]any{"identity": g.Identity, "role": g.Role})
		return
	}
	if !iv.isTarget(room) {
		return
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	r := iv.rooms[room]
	if r == nil {
		return
	}
	delete(r.present, g.Identity)
	if len(r.present) > 0 {
		return
	}
	delete(iv.rooms, room)
	if !r.started.IsZero() {
		now := time.Now()
		iv.enqueueLocked(room, "interview_ended", now, map[string]any{
			"participants": participants(r), "duration_seconds": int(now.Sub(r.started).Seconds())})
	}
	iv.stopRecordingLocked(room, r)
}

// stopRecordingLocked detaches and finalizes a room's recording off the
// caller's goroutine (finalizing writes files).
func (iv *interviews) stopRecordingLocked(room string, r *interviewRoom) {
	if r.session == nil {
		return
	}
	detach, s := r.detach, r.session
	iv.wg.Add(1)
	go func() {
		defer iv.wg.Done()
		detach()
		files := s.Close()
		if iv.arch != nil {
			iv.arch.sessionClosed(iv, room, files)
		}
	}()
}

func (iv *interviews) enqueueLocked(room, kind string, at time.Time, data map[string]any) {
	f := func(ctx context.Context) {
		if err := iv.store.RecordRoomEvent(ctx, room, kind, at, data); err != nil {
			if apperr.CodeOf(err) == apperr.NotFound { // an ad-hoc room: nobody's log to write
				iv.log.Debug("room event not logged", "room", room, "kind", kind, "err", err)
				return
			}
			iv.log.Error("employment log write failed", "room", room, "kind", kind, "err", err)
			return
		}
		payload, _ := json.Marshal(map[string]any{"room": room, "kind": kind, "at": at})
		if err := iv.events.Publish(ctx, interviewEventsTopic, payload); err != nil {
			iv.log.Warn("interview event not published", "room", room, "kind", kind, "err", err)
		}
	}
	select {
	case iv.writes <- f:
	default:
		iv.log.Error("employment log queue full; entry lost", "room", room, "kind", kind)
	}
}

func (iv *interviews) fileDone(room string, f recorder.File) {
	if iv.arch != nil {
		iv.arch.fileDone(iv, room, f)
		return
	}
	data := map[string]any{"participant": f.ParticipantID, "file": f.Path, "bytes": f.Bytes,
		"duration_seconds": f.Duration.Seconds(), "video": f.HasVideo, "audio": f.HasAudio}
	kind := "recording_saved"
	if f.Err != nil {
		data["error"] = f.Err.Error()
		kind = "recording_failed"
		iv.log.Error("recording failed", "room", room, "participant", f.ParticipantID, "err", f.Err)
	} else {
		iv.log.Info("recording saved", "room", room, "participant", f.ParticipantID, "file", f.Path, "duration", f.Duration)
	}
	iv.enqueue(room, kind, f.Ended, data)
}

// Close finalizes open recordings and flushes the log queue.
func (iv *interviews) Close() {
	iv.mu.Lock()
	for room, r := range iv.rooms {
		if !r.started.IsZero() {
			iv.enqueueLocked(room, "interview_ended", time.Now(), map[string]any{"participants": participants(r), "reason": "server shutdown"})
		}
		iv.stopRecordingLocked(room, r)
		delete(iv.rooms, room)
	}
	iv.mu.Unlock()
	iv.wg.Wait() // recordings finalized: their entries are queued
	iv.mu.Lock()
	iv.closed = true
	close(iv.writes)
	iv.mu.Unlock()
	<-iv.done
}

func hasRole(m map[string]string, role string) bool {
	for _, r := range m {
		if r == role {
			return true
		}
	}
	return false
}

func participants(r *interviewRoom) []map[string]string {
	out := make([]map[string]string, 0, len(r.seen))
	for id, role := range r.seen {
		out = append(out, map[string]string{"id": id, "role": role, "name": r.names[id]})
	}
	return out
}

func isInterviewRoom(room string) bool { return strings.HasPrefix(room, "interview-") }

// isCourseRoom: a training session's broadcast room (booking.RoomForSession).
func isCourseRoom(room string) bool { return strings.HasPrefix(room, "course-") }
