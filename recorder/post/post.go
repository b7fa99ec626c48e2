// Package post runs the post-processing of finished recordings as retried
// jobs from a queue: a side-by-side composite MP4 (H.264/AAC, plays on any
// phone), a thumbnail, the duration and size, and the upload to the archive
// store. The queue is an interface: MemQueue here (tests, single node), a
// PostgreSQL table in booking (see Queue's doc for the contract).
//
// One Runner goroutine (Run) claims due jobs one at a time and runs them;
// ffmpeg runs as a child process under the job's context. OnEvent is called
// from that goroutine after every attempt.
package post

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"jobhall/internal/apperr"
	"jobhall/recorder"
	"jobhall/recorder/store"
)

// Job kinds.
const (
	KindComposite = "composite" // Inputs (with Offsets) → Output .mp4
	KindThumbnail = "thumbnail" // Inputs[0] → Output .jpg
	KindProbe     = "probe"     // Inputs[0] → Result.Duration, Bytes
	KindUpload    = "upload"    // Inputs[0] → Store under Key, checksum verified
)

// State of a job.
type State string

const (
	Queued  State = "queued"
	Running State = "running"
	Done    State = "done"
	Failed  State = "failed" // attempts exhausted
)

// Job is one unit of post-processing.
type Job struct {
	ID            int64
	Kind          string
	RoomID        string
	ParticipantID string          // for per-file jobs
	Inputs        []string        // local recording paths
	Offsets       []time.Duration // composite: start of each input relative to the earliest
	Output        string          // composite/thumbnail destination
	Key           string          // upload: store key

	State       State
	Attempts    int // attempts started
	MaxAttempts int // default 5
	RunAfter    time.Time
	LastError   string
	Result      Result
}

// Result is what a job produced.
type Result struct {
	Path     string
	Duration time.Duration
	Bytes    int64
	SHA256   string
}

// Queue holds jobs durably. Contract (what the PostgreSQL implementation
// must do): Claim atomically moves the oldest due Queued job to Running and
// increments Attempts (SELECT ... FOR UPDATE SKIP LOCKED); Done stores the
// result; Fail sets LastError and either requeues with RunAfter = retryAt
// or, once Attempts reached MaxAttempts, marks it Failed. A Running job
// whose worker died is requeued by the implementation after a lease.
type Queue interface {
	Enqueue(ctx context.Context, j Job) (int64, error)
	Claim(ctx context.Context, now time.Time) (*Job, error) // nil, nil when nothing is due
	Done(ctx context.Context, id int64, r Result) error
	Fail(ctx context.Context, id int64, cause error, retryAt time.Time) (Job, error)
	Get(ctx context.Context, id int64) (Job, error)
}

// MemQueue is an in-memory Queue.
type MemQueue struct {
	mu   sync.Mutex
	next int64
	jobs map[int64]*Job
}

func NewMemQueue() *MemQueue { return &MemQueue{jobs: map[int64]*Job{}} }

func (q *MemQueue) Enqueue(_ context.Context, j Job) (int64, error) {
	if j.Kind == "" {
		return 0, apperr.New(apperr.Invalid, "job kind is required")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	j.ID, j.State, j.Attempts = q.next, Queued, 0
	if j.MaxAttempts <= 0 {
		j.MaxAttempts = 5
	}
	q.jobs[j.ID] = &j
	return j.ID, nil
}

func (q *MemQueue) Claim(_ context.Context, now time.Time) (*Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var best *Job
	for _, j := range q.jobs {
		if j.State == Queued && !j.RunAfter.After(now) && (best == nil || j.ID < best.ID) {
			best = j
		}
	}
	if best == nil {
		return nil, nil
	}
	best.State = Running
	best.Attempts++
	c := *best
	return &c, nil
}

func (q *MemQueue) Done(_ context.Context, id int64, r Result) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[id]
	if j == nil {
		return apperr.New(apperr.NotFound, "no job %d", id)
	}
	j.State, j.Result, j.LastError = Done, r, ""
	return nil
}

func (q *MemQueue) Fail(_ context.Context, id int64, cause error, retryAt time.Time) (Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[id]
	if j == nil {
		return Job{}, apperr.New(apperr.NotFound, "no job %d", id)
	}
	j.LastError = cause.Error()
	if j.Attempts >= j.MaxAttempts {
		j.State = Failed
	} else {
		j.State, j.RunAfter = Queued, retryAt
	}
	return *j, nil
}

func (q *MemQueue) Get(_ context.Context, id int64) (Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[id]
	if j == nil {
		return Job{}, apperr.New(apperr.NotFound, "no job %d", id)
	}
	return *j, nil
}

// Handler runs one job.
type Handler func(ctx context.Context, j Job) (Result, error)

// Runner takes jobs from Queue and runs them.
type Runner struct {
	Queue   Queue
	Store   store.Store // for uploads; nil = uploads fail
	Log     *slog.Logger
	OnEvent func(j Job)   // after every attempt (State Done, Queued for a retry, or Failed); must not block
	Backoff time.Duration // first retry delay, doubled per attempt (default 30 s)
	Poll    time.Duration // idle poll interval (default 1 s)
	Timeout time.Duration // per attempt (default 30 min)

	// Handlers overrides or adds job kinds (tests).
	Handlers map[string]Handler
}

func (r *Runner) handler(kind string) Handler {
	if h, ok := r.Handlers[kind]; ok {
		return h
	}
	switch kind {
	case KindComposite:
		return func(ctx context.Context, j Job) (Result, error) { return Composite(ctx, j.Inputs, j.Offsets, j.Output) }
	case KindThumbnail:
		return func(ctx context.Context, j Job) (Result, error) { return Thumbnail(ctx, j.Inputs[0], j.Output) }
	case KindProbe:
		return func(ctx context.Context, j Job) (Result, error) {
			mi, err := recorder.Probe(ctx, j.Inputs[0])
			return Result{Path: j.Inputs[0], Duration: mi.Duration, Bytes: mi.Bytes}, err
		}
	case KindUpload:
		return func(ctx context.Context, j Job) (Result, error) {
			if r.Store == nil {
				return Result{}, apperr.New(apperr.Unavailable, "no archive store configured")
			}
			o, err := r.Store.Put(ctx, j.Key, j.Inputs[0])
			return Result{Path: o.Key, Bytes: o.Size, SHA256: o.SHA256}, err
		}
	}
	return nil
}

// Run processes jobs until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	poll := r.Poll
	if poll <= 0 {
		poll = time.Second
	}
	for ctx.Err() == nil {
		did, err := r.RunOnce(ctx)
		if err != nil {
			r.log().Error("post-processing queue", "err", err)
		}
		if did && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// RunOnce runs one due job, if any, and reports whether it did.
func (r *Runner) RunOnce(ctx context.Context) (bool, error) {
	j, err := r.Queue.Claim(ctx, time.Now())
	if err != nil || j == nil {
		return false, err
	}
	h := r.handler(j.Kind)
	var res Result
	if h == nil {
		err = apperr.New(apperr.Invalid, "unknown job kind %q", j.Kind)
	} else if len(j.Inputs) == 0 && j.Kind != "" && r.Handlers[j.Kind] == nil {
		err = apperr.New(apperr.Invalid, "job %d has no inputs", j.ID)
	} else {
		timeout := r.Timeout
		if timeout <= 0 {
			timeout = 30 * time.Minute
		}
		jctx, cancel := context.WithTimeout(ctx, timeout)
		res, err = h(jctx, *j)
		cancel()
	}
	if err == nil {
		if err := r.Queue.Done(ctx, j.ID, res); err != nil {
			return true, err
		}
		j.State, j.Result = Done, res
		r.log().Info("post-processing done", "job", j.ID, "kind", j.Kind, "room", j.RoomID, "path", res.Path)
	} else {
		backoff := r.Backoff
		if backoff <= 0 {
			backoff = 30 * time.Second
		}
		retryAt := time.Now().Add(backoff << min(j.Attempts-1, 10))
		after, ferr := r.Queue.Fail(ctx, j.ID, err, retryAt)
		if ferr != nil {
			return true, ferr
		}
		*j = after
		lvl := slog.LevelWarn
		if j.State == Failed {
			lvl = slog.LevelError
		}
		r.log().Log(ctx, lvl, "post-processing failed", "job", j.ID, "kind", j.Kind, "room", j.RoomID,
			"attempt", j.Attempts, "of", j.MaxAttempts, "err", err)
	}
	if r.OnEvent != nil {
		r.OnEvent(*j)
	}
	return true, nil
}

// Composite renders the inputs side by side into an MP4 every phone plays:
// H.264 Main (yuv420p, even sizes, 30 fps), AAC-LC stereo, moov first.
// Each input is shifted by its offset; fps=30 on every input before hstack
// keeps gaps (lost frames, late joins) from dropping output frames.
func Composite(ctx context.Context, inputs []string, offsets []time.Duration, out string) (Result, error) {
	var args []string
	var vids, auds []string
	var filters []string
	for i, in := range inputs {
		mi, err := recorder.Probe(ctx, in)
		if err != nil {
			return Result{}, err
		}
		if i < len(offsets) && offsets[i] > 0 {
			args = append(args, "-itsoffset", fmt.Sprintf("%.3f", offsets[i].Seconds()))
		}
		args = append(args, "-i", in)
		if mi.HasVideo {
			l := fmt.Sprintf("v%d", i)
			filters = append(filters, fmt.Sprintf("[%d:v]fps=30,scale=-2:360,setsar=1,format=yuv420p[%s]", i, l))
			vids = append(vids, "["+l+"]")
		}
		if mi.HasAudio {
			auds = append(auds, fmt.Sprintf("[%d:a]", i))
		}
	}
	if len(vids) == 0 && len(auds) == 0 {
		return Result{}, apperr.New(apperr.Invalid, "composite: no media in %v", inputs)
	}
	var maps []string
	switch len(vids) {
	case 0:
	case 1:
		filters = append(filters, vids[0]+"null[v]")
		maps = append(maps, "-map", "[v]")
	default:
		filters = append(filters, strings.Join(vids, "")+fmt.Sprintf("hstack=inputs=%d[v]", len(vids)))
		maps = append(maps, "-map", "[v]")
	}
	switch len(auds) {
	case 0:
	case 1:
		filters = append(filters, auds[0]+"anull[a]")
		maps = append(maps, "-map", "[a]")
	default:
		filters = append(filters, strings.Join(auds, "")+fmt.Sprintf("amix=inputs=%d:duration=longest[a]", len(auds)))
		maps = append(maps, "-map", "[a]")
	}
	args = append(args, "-filter_complex", strings.Join(filters, ";"))
	args = append(args, maps...)
	if len(vids) > 0 {
		args = append(args, "-c:v", "libx264", "-profile:v", "main", "-level", "4.0", "-preset", "veryfast",
			"-crf", "26", "-pix_fmt", "yuv420p", "-r", "30")
	}
	if len(auds) > 0 {
		args = append(args, "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-ar", "48000")
	}
	args = append(args, "-movflags", "+faststart")
	return ffmpegTo(ctx, out, args)
}

// Thumbnail writes a 320-pixel-wide JPEG of the frame at 1 s (or the first).
func Thumbnail(ctx context.Context, in, out string) (Result, error) {
	mi, err := recorder.Probe(ctx, in)
	if err != nil {
		return Result{}, err
	}
	if !mi.HasVideo {
		return Result{}, apperr.New(apperr.Invalid, "thumbnail: %s has no video", in)
	}
	at := "0"
	if mi.Duration > 2*time.Second {
		at = "1"
	}
	return ffmpegTo(ctx, out, []string{"-ss", at, "-i", in, "-frames:v", "1", "-vf", "scale=320:-2", "-q:v", "4"})
}

// ffmpegTo runs ffmpeg writing to a temporary name and renames it to out on
// success, so a failed or killed attempt never leaves a half file at out.
func ffmpegTo(ctx context.Context, out string, args []string) (Result, error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o750); err != nil {
		return Result{}, apperr.Wrap(err, apperr.Internal, "create %s", filepath.Dir(out))
	}
	tmp := filepath.Join(filepath.Dir(out), ".tmp-"+filepath.Base(out))
	full := append([]string{"-v", "error", "-y", "-nostdin"}, args...)
	full = append(full, tmp)
	if msg, err := exec.CommandContext(ctx, "ffmpeg", full...).CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return Result{}, apperr.Wrap(err, apperr.Internal, "ffmpeg: %s", strings.TrimSpace(string(msg)))
	}
	if err := os.Rename(tmp, out); err != nil {
		return Result{}, apperr.Wrap(err, apperr.Internal, "rename %s", out)
	}
	st, err := os.Stat(out)
	if err != nil {
		return Result{}, apperr.Wrap(err, apperr.Internal, "stat %s", out)
	}
	res := Result{Path: out, Bytes: st.Size()}
	if mi, err := recorder.Probe(ctx, out); err == nil {
		res.Duration = mi.Duration
	}
	return res, nil
}
