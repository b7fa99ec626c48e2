package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
)

// chromiumPath finds the browser; CI installs it, so absence fails the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("Chromium not found: run the README's test command (it installs chromium) or set CHROMIUM")
	return ""
}

// newBrowser starts one headless Chromium with a fake camera and microphone
// and its own empty profile (so two browsers hold two separate sessions).
func newBrowser(t *testing.T, parent context.Context) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1000, 800),
	}
	actx, acancel := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// mediaStats reads the subscribe PeerConnection's inbound stats.
const mediaStatsJS = `(async () => {
  if (!window.jh || !jh.sub) return {video: 0, audio: 0, state: window.jh ? jh.state : 'none'};
  const r = {video: 0, audio: 0, state: jh.state};
  (await jh.sub.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video') r.video += s.framesDecoded || 0;
    if (s.kind === 'audio') r.audio += s.bytesReceived || 0;
  });
  return r;
})()`

type mediaStats struct {
	Video int    `json:"video"`
	Audio int    `json:"audio"`
	State string `json:"state"`
}

func readStats(t *testing.T, ctx context.Context) mediaStats {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[mediaStats](mediaStatsJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("getStats: %v", err)
	}
	return s
}

// waitMedia waits until the browser decodes the other party's video and
// receives audio.
func waitMedia(t *testing.T, ctx context.Context, who string) mediaStats {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		s := readStats(t, ctx)
		if s.Video > 0 && s.Audio > 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never received media: %+v", who, s)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("wait for %s: %v", sel, err)
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).getAttribute(%q)`, sel, name)))
	if err != nil {
		t.Fatalf("read %s[%s]: %v", sel, name, err)
	}
	return v
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// TestInterviewEndToEnd is the foundation's whole path in real browsers:
// a seeker books a slot in the page, seeker and employer meet by video
// through the SFU, both leave, the recordings are valid WebM files, and the
// seeker's employment log holds every step.
func TestInterviewEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, tool := range []string{"ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run the README's test command (it installs ffmpeg)", tool)
		}
	}
	node := startNode(t, nil)
	events, err := node.bus.Subscribe(ctx, interviewEventsTopic)
	if err != nil {
		t.Fatal(err)
	}

	// The seeker signs in (demo picker), picks the first booth and books
	// its first free slot.
	seeker := newBrowser(t, ctx)
	if err := chromedp.Do(seeker, chromedp.Navigate(node.url+"/seeker")); err != nil {
		t.Fatal(err)
	}
	seekerID := attr(t, seeker, "button[data-seeker]", "data-seeker")
	click(t, seeker, "button[data-seeker]")
	click(t, seeker, "button[data-booth]")
	click(t, seeker, "button[data-slot]")
	seekerJoin := node.url + attr(t, seeker, "a[data-join]", "href") // a same-origin link
	bookingID := attr(t, seeker, "a[data-join]", "data-join")

	db, err := pgx.Connect(ctx, node.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var employerID int64
	if err := db.QueryRow(ctx, `SELECT b.employer_id FROM bookings k JOIN booths b ON b.id = k.booth_id WHERE k.id = $1`, bookingID).Scan(&employerID); err != nil {
		t.Fatalf("booking %s: %v", bookingID, err)
	}
	// Recording needs the seeker's consent (their profile's setting).
	if _, err := db.Exec(ctx, `UPDATE seekers SET consent_recording = true WHERE id = $1`, seekerID); err != nil {
		t.Fatal(err)
	}

	// The employer signs in and finds the booking on today's schedule.
	employer := newBrowser(t, ctx)
	if err := chromedp.Do(employer, chromedp.Navigate(node.url+"/employer")); err != nil {
		t.Fatal(err)
	}
	click(t, employer, fmt.Sprintf("button[data-employer='%d']", employerID))
	employerJoin := node.url + attr(t, employer, fmt.Sprintf("a[data-join='%s']", bookingID), "href")
	if employerJoin == seekerJoin {
		t.Fatal("both parties got the same join link")
	}

	// Both join; each must decode the other's video and receive audio.
	joinStart := time.Now()
	if err := chromedp.Do(seeker, chromedp.Navigate(seekerJoin)); err != nil {
		t.Fatal(err)
	}
	click(t, seeker, "#pjgo") // past the camera, microphone and network check
	// The seeker waits in the lobby until the interviewer admits them.
	if err := chromedp.Do(seeker, chromedp.Poll[chromedp.Void](`window.jh && jh.state === 'lobby'`)); err != nil {
		t.Fatalf("seeker not in the lobby: %v", err)
	}
	if err := chromedp.Do(employer, chromedp.Navigate(employerJoin)); err != nil {
		t.Fatal(err)
	}
	click(t, employer, "button[data-admit]")
	s1 := waitMedia(t, seeker, "seeker")
	e1 := waitMedia(t, employer, "employer")
	t.Logf("both parties decoding video %v after the seeker opened the join link (measured, not asserted)", time.Since(joinStart).Round(time.Millisecond))
	checkSimulcastAndDynacast(t, node, employer, seeker)
	if shown, err := chromedp.Run(seeker, chromedp.Evaluate[bool](`!document.getElementById('rec').hidden`)); err != nil || !shown {
		t.Fatalf("the recording indicator is not shown (%v)", err)
	}
	time.Sleep(3 * time.Second) // let the recordings hold a few seconds
	s2, e2 := readStats(t, seeker), readStats(t, employer)
	if s2.Audio <= s1.Audio || e2.Audio <= e1.Audio || s2.Video <= s1.Video || e2.Video <= e1.Video {
		t.Fatalf("media stopped flowing: seeker %+v -> %+v, employer %+v -> %+v", s1, s2, e1, e2)
	}

	click(t, seeker, "#leave")
	click(t, employer, "#leave")

	// The employment log gets every step, each party's consent and each
	// party's recording (post-processing entries come later, asynchronously).
	want := []string{"booking_made", "interview_started", "interview_ended", "recording_saved", "recording_saved"}
	var kinds []string
	var files []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		kinds, files = kinds[:0], files[:0]
		var consents int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM employment_log WHERE seeker_id = $1 AND kind = 'recording_consent'
			AND (data->>'consent')::boolean`, seekerID).Scan(&consents); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(ctx, `SELECT kind, coalesce(data->>'file', '') FROM employment_log WHERE seeker_id = $1
			AND kind NOT IN ('recording_consent', 'recording_processed') ORDER BY at, id`, seekerID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k, f string
			if err := rows.Scan(&k, &f); err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, k)
			if f != "" {
				files = append(files, f)
			}
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		sorted := slices.Clone(kinds)
		slices.Sort(sorted)
		w := slices.Clone(want)
		slices.Sort(w)
		if slices.Equal(sorted, w) && consents == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("employment log of seeker %s: %v and %d consents, want %v and 2", seekerID, kinds, consents, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if kinds[0] != "booking_made" || kinds[1] != "interview_started" {
		t.Fatalf("log order %v", kinds)
	}

	// The same steps reached live views over the bus.
	var live []string
	for len(live) < 4 {
		select {
		case p := <-events:
			var ev struct{ Room, Kind string }
			if err := json.Unmarshal(p, &ev); err != nil || ev.Room != "interview-"+bookingID {
				t.Fatalf("bus event %s (%v)", p, err)
			}
			live = append(live, ev.Kind)
		case <-time.After(10 * time.Second):
			t.Fatalf("bus carried only %v", live)
		}
	}

	// Chromium's media (with whatever header encryption it negotiated)
	// reached the track readers over the SFU's direct SRTP path.
	if st := node.sfu.Stats(); st.DirectRTP == 0 {
		t.Fatal("no browser media on the direct SRTP path")
	}

	// Two files, one per participant, each a VP8 + Opus WebM with a duration.
	onDisk, _ := filepath.Glob(filepath.Join(node.cfg.RecordingsDir, "*", "*.webm"))
	if len(files) != 2 || len(onDisk) != 2 {
		t.Fatalf("recordings in the log %v, on disk %v", files, onDisk)
	}
	for _, f := range files {
		probe(t, f)
	}
	// The seeker plays them through the API (another seeker may not), and the
	// side-by-side composite MP4 is made (recording_archive_test.go).
	checkPlaybackAndComposite(t, ctx, node, db, seekerID, bookingID)

	// The seeker's own page shows the log.
	if err := chromedp.Do(seeker, chromedp.Navigate(node.url+"/seeker#me"),
		chromedp.WaitVisible(chromedp.CSS(`[data-log="recording_saved"]`))); err != nil {
		t.Fatalf("seeker page log: %v", err)
	}
}

// probe checks a recording with ffprobe: a VP8 video and an Opus audio
// stream, a positive duration, and frames that decode.
func probe(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-show_format", "-count_frames", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Frames    string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	var codecs []string
	for _, s := range p.Streams {
		codecs = append(codecs, s.CodecType+"/"+s.CodecName+"/"+s.Frames)
		if s.Frames == "" || s.Frames == "0" {
			t.Errorf("%s: %s stream has no frames", path, s.CodecType)
		}
	}
	joined := strings.Join(codecs, " ")
	if !strings.Contains(joined, "video/vp8") || !strings.Contains(joined, "audio/opus") {
		t.Fatalf("%s streams %s, want video/vp8 and audio/opus", path, joined)
	}
	var d float64
	fmt.Sscan(p.Format.Duration, &d)
	if d <= 0 {
		t.Fatalf("%s has no duration (%q)", path, p.Format.Duration)
	}
	t.Logf("%s: %s, %.2f s", filepath.Base(path), joined, d)
	// A camera's frames are not evenly spaced: "-enc_time_base -1" keeps
	// the file's own millisecond timestamps, where ffmpeg's default would
	// round them to a guessed frame rate and report two frames on one tick
	// as an error that is not in the file.
	if out, _ := exec.Command("ffmpeg", "-v", "error", "-i", path, "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput(); len(out) > 0 {
		t.Errorf("%s decode errors: %s", path, out)
	}
}
