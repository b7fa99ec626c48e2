package post

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"jobhall/recorder/store"
)

func guard(t *testing.T) func() {
	timer := time.AfterFunc(90*time.Second, func() { panic("test " + t.Name() + " timed out") })
	return func() { timer.Stop() }
}

func requireTools(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required by the post-processing tests but was not found on PATH: %v", tool, err)
		}
	}
}

// webm makes a participant-like recording: VP8 + Opus.
func webm(t *testing.T, dir, name, size string, secs string) string {
	out := filepath.Join(dir, name)
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size="+size+":rate=20",
		"-f", "lavfi", "-i", "sine=frequency=330", "-t", secs, "-c:v", "libvpx", "-deadline", "realtime",
		"-cpu-used", "8", "-c:a", "libopus", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

type probeOut struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Profile   string `json:"profile"`
		PixFmt    string `json:"pix_fmt"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
}

func probe(t *testing.T, path string) probeOut {
	b, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probeOut
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestJobs: composite, thumbnail, probe and upload jobs run from the queue;
// the composite is H.264 Main yuv420p + AAC side by side, decodes cleanly and
// lasts as long as the longer input plus its offset.
func TestJobs(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	requireTools(t)
	dir := t.TempDir()
	a := webm(t, dir, "seeker.webm", "320x240", "3")
	b := webm(t, dir, "employer.webm", "160x120", "2")
	q := NewMemQueue()
	archive := &store.Local{Root: t.TempDir()}
	var mu sync.Mutex
	var events []Job
	r := &Runner{Queue: q, Store: archive, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent: func(j Job) { mu.Lock(); events = append(events, j); mu.Unlock() }}
	ctx := context.Background()
	comp, _ := q.Enqueue(ctx, Job{Kind: KindComposite, RoomID: "room", Inputs: []string{a, b},
		Offsets: []time.Duration{0, 500 * time.Millisecond}, Output: filepath.Join(dir, "out", "room.mp4")})
	thumb, _ := q.Enqueue(ctx, Job{Kind: KindThumbnail, Inputs: []string{a}, Output: filepath.Join(dir, "out", "a.jpg")})
	pr, _ := q.Enqueue(ctx, Job{Kind: KindProbe, Inputs: []string{a}})
	up, _ := q.Enqueue(ctx, Job{Kind: KindUpload, Inputs: []string{a}, Key: "room/seeker.webm"})
	for {
		did, err := r.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !did {
			break
		}
	}
	for _, id := range []int64{comp, thumb, pr, up} {
		j, _ := q.Get(ctx, id)
		if j.State != Done {
			t.Fatalf("job %d (%s): %s %s", id, j.Kind, j.State, j.LastError)
		}
	}
	j, _ := q.Get(ctx, comp)
	p := probe(t, j.Result.Path)
	var v, au bool
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			v = s.CodecName == "h264" && s.Profile == "Main" && s.PixFmt == "yuv420p" && s.Height == 360 && s.Width == 480+480
			if !v {
				t.Errorf("composite video %+v, want h264 Main yuv420p 960x360", s)
			}
		case "audio":
			au = s.CodecName == "aac"
		}
	}
	if !v || !au {
		t.Errorf("composite streams %+v", p.Streams)
	}
	if j.Result.Duration < 2900*time.Millisecond || j.Result.Duration > 3300*time.Millisecond {
		t.Errorf("composite duration %v, want ~3 s", j.Result.Duration)
	}
	if out, _ := exec.Command("ffmpeg", "-v", "error", "-i", j.Result.Path, "-f", "null", "-").CombinedOutput(); len(out) > 0 {
		t.Errorf("composite decode errors: %s", out)
	}
	j, _ = q.Get(ctx, thumb)
	if p := probe(t, j.Result.Path); len(p.Streams) != 1 || p.Streams[0].Width != 320 {
		t.Errorf("thumbnail %+v", p.Streams)
	}
	j, _ = q.Get(ctx, pr)
	if j.Result.Duration < 2900*time.Millisecond || j.Result.Bytes == 0 {
		t.Errorf("probe result %+v", j.Result)
	}
	j, _ = q.Get(ctx, up)
	if o, err := archive.Stat(ctx, "room/seeker.webm"); err != nil || o.SHA256 != j.Result.SHA256 || o.SHA256 == "" {
		t.Errorf("uploaded %+v, %v; result %+v", o, err, j.Result)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 4 {
		t.Errorf("%d events, want 4", len(events))
	}
}

// TestRetries: a failing job is retried with backoff and ends Failed after
// MaxAttempts, with every attempt reported; a flaky one succeeds.
func TestRetries(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	q := NewMemQueue()
	flakyCalls := 0
	var events []Job
	r := &Runner{Queue: q, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Backoff: time.Millisecond,
		OnEvent: func(j Job) { events = append(events, j) },
		Handlers: map[string]Handler{
			"flaky": func(context.Context, Job) (Result, error) {
				if flakyCalls++; flakyCalls < 3 {
					return Result{}, errors.New("transient")
				}
				return Result{Path: "ok"}, nil
			},
			"broken": func(context.Context, Job) (Result, error) { return Result{}, errors.New("disk full") },
		}}
	ctx := context.Background()
	fl, _ := q.Enqueue(ctx, Job{Kind: "flaky", MaxAttempts: 5})
	br, _ := q.Enqueue(ctx, Job{Kind: "broken", MaxAttempts: 3})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.Poll = time.Millisecond
	go func() { r.Run(runCtx); close(done) }()
	for {
		a, _ := q.Get(ctx, fl)
		b, _ := q.Get(ctx, br)
		if a.State == Done && b.State == Failed {
			if a.Attempts != 3 || b.Attempts != 3 || !strings.Contains(b.LastError, "disk full") {
				t.Errorf("flaky %+v, broken %+v", a, b)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if len(events) != 6 {
		t.Errorf("%d events, want 3 + 3 attempts", len(events))
	}
}
