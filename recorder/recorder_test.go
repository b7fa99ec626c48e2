package recorder

import (
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"jobhall/internal/apperr"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newRecorder(t *testing.T) (*Recorder, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "recordings") // New must create it
	// REC_KEEP=dir keeps the files for manual inspection.
	if d := os.Getenv("REC_KEEP"); d != "" {
		dir = filepath.Join(d, t.Name())
	}
	r, err := New(Config{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

// fileLog collects onFile calls.
type fileLog struct {
	mu    sync.Mutex
	files []File
	ch    chan File
}

func newFileLog() *fileLog { return &fileLog{ch: make(chan File, 16)} }

func (l *fileLog) onFile(f File) {
	l.mu.Lock()
	l.files = append(l.files, f)
	l.mu.Unlock()
	l.ch <- f
}

func (l *fileLog) all() []File {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]File(nil), l.files...)
}

// keyframeCounter is a requestKeyframe callback.
type keyframeCounter struct{ n atomic.Int32 }

func (k *keyframeCounter) request() { k.n.Add(1) }

func videoTrack(pid string) Track {
	return Track{ParticipantID: pid, TrackID: pid + "-cam", Kind: "video", MimeType: "video/VP8", ClockRate: 90000}
}

func audioTrack(pid string) Track {
	return Track{ParticipantID: pid, TrackID: pid + "-mic", Kind: "audio", MimeType: "audio/opus", ClockRate: 48000, Channels: 2}
}

func flatten(frames [][]timedPacket) []timedPacket {
	var out []timedPacket
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

func checkNear(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	if got < want-tol || got > want+tol {
		t.Errorf("%s = %v, want %v ± %v", what, got, want, tol)
	}
}

// checkFile asserts what every good recording needs and returns its probe.
func checkFile(t *testing.T, f File, wantVideo, wantAudio bool) probeResult {
	t.Helper()
	if f.Err != nil {
		t.Fatalf("file %s failed: %v", f.Path, f.Err)
	}
	st, err := os.Stat(f.Path)
	if err != nil {
		t.Fatalf("recording missing: %v", err)
	}
	if st.Size() != f.Bytes {
		t.Errorf("File.Bytes = %d, file has %d", f.Bytes, st.Size())
	}
	if f.HasVideo != wantVideo || f.HasAudio != wantAudio {
		t.Errorf("HasVideo/HasAudio = %v/%v, want %v/%v", f.HasVideo, f.HasAudio, wantVideo, wantAudio)
	}
	pr := probe(t, f.Path)
	codec, _, ok := pr.stream("video")
	if ok != wantVideo || (ok && codec != "vp8") {
		t.Errorf("video stream: present %v codec %q, want present %v vp8", ok, codec, wantVideo)
	}
	codec, _, ok = pr.stream("audio")
	if ok != wantAudio || (ok && codec != "opus") {
		t.Errorf("audio stream: present %v codec %q, want present %v opus", ok, codec, wantAudio)
	}
	if msg := decodeErrors(t, f.Path); msg != "" {
		t.Errorf("ffmpeg decode errors:\n%s", msg)
	}
	return pr
}

// TestRecordsParticipant: a clean audio+video participant yields one WebM
// with VP8 and Opus, a ~3 s duration, every video frame, and no decode error.
func TestRecordsParticipant(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, dir := newRecorder(t)
	log := newFileLog()
	s := r.StartSession("room-1", log.onFile)

	var kf keyframeCounter
	vw := s.AddTrack(videoTrack("alice"), kf.request)
	aw := s.AddTrack(audioTrack("alice"), nil)
	if vw == nil || aw == nil {
		t.Fatal("AddTrack returned nil for a supported codec")
	}
	feed(t, feedStream{vw, flatten(packetizeVideo(m.video, 1200))}, feedStream{aw, packetizeAudio(m.audio)})
	vw.Close()
	aw.Close()

	f := <-log.ch // all tracks closed: the file is finalized without Session.Close
	files := s.Close()
	if len(files) != 1 || files[0].Path != f.Path {
		t.Fatalf("Close returned %+v, want the one file %s", files, f.Path)
	}
	if want := filepath.Join(dir, "room-1"); filepath.Dir(f.Path) != want ||
		!strings.HasPrefix(filepath.Base(f.Path), "alice-") || filepath.Ext(f.Path) != ".webm" {
		t.Errorf("path %s, want %s/alice-<time>.webm", f.Path, want)
	}
	if f.RoomID != "room-1" || f.ParticipantID != "alice" {
		t.Errorf("File IDs = %q/%q", f.RoomID, f.ParticipantID)
	}
	pr := checkFile(t, f, true, true)
	checkNear(t, "ffprobe duration", pr.duration(t), 3*time.Second, 300*time.Millisecond)
	checkNear(t, "File.Duration", f.Duration, 3*time.Second, 300*time.Millisecond)
	if _, n, _ := pr.stream("video"); n < len(m.video)*98/100 || n > len(m.video)*102/100 {
		t.Errorf("video frames = %d, fed %d", n, len(m.video))
	}
	if _, n, _ := pr.stream("audio"); n < len(m.audio)*98/100 {
		t.Errorf("audio frames = %d, fed %d", n, len(m.audio))
	}
	for _, st := range pr.Streams {
		if st.CodecType == "video" && (st.Width != 320 || st.Height != 240) {
			t.Errorf("video size %dx%d, want 320x240", st.Width, st.Height)
		}
	}
	if kf.n.Load() == 0 {
		t.Error("requestKeyframe was never called at track start")
	}
}

// TestLossAndReorder: 1% and 5% packet loss plus reordering still give a
// file that decodes without errors and keeps every frame that arrived whole.
func TestLossAndReorder(t *testing.T) {
	for _, loss := range []float64{0.01, 0.05} {
		t.Run(strconv.Itoa(int(loss*100))+"pct", func(t *testing.T) { testLossAndReorder(t, loss) })
	}
}

func testLossAndReorder(t *testing.T, loss float64) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, _ := newRecorder(t)
	s := r.StartSession("room-loss", nil)

	rng := rand.New(rand.NewPCG(1, 2))
	// A small MTU spreads frames over several packets, so losses hit frame
	// heads, middles and tails.
	isKey := make([]bool, len(m.video))
	for i, f := range m.video {
		isKey[i], _, _ = vp8Keyframe(f)
	}
	video, intact := impairVideo(packetizeVideo(m.video, 300), isKey, loss, 0.1, rng)
	audio := impair(packetizeAudio(m.audio), loss, 0.1, rng)

	var kf keyframeCounter
	vw := s.AddTrack(videoTrack("bob"), kf.request)
	aw := s.AddTrack(audioTrack("bob"), nil)
	feed(t, feedStream{vw, video}, feedStream{aw, audio})
	files := s.Close() // Session.Close closes the tracks itself
	if len(files) != 1 {
		t.Fatalf("got %d files, want 1", len(files))
	}
	pr := checkFile(t, files[0], true, true)
	// Every frame that arrived whole is kept (keyframes are spared, so no
	// frame waits for one), and that is most of them.
	if _, n, _ := pr.stream("video"); n != intact || n < len(m.video)*70/100 {
		t.Errorf("video frames = %d, want the %d of %d that arrived whole", n, intact, len(m.video))
	}
	if _, n, _ := pr.stream("audio"); n != len(audio) {
		t.Errorf("audio frames = %d, want the %d that arrived", n, len(audio))
	}
	checkNear(t, "ffprobe duration", pr.duration(t), 3*time.Second, 300*time.Millisecond)
}

// TestLossIncludingKeyframes: with keyframe packets lost too, the recorder
// asks for keyframes, drops what cannot be decoded, and never writes video
// that fails to decode.
func TestLossIncludingKeyframes(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, _ := newRecorder(t)
	s := r.StartSession("room-loss2", nil)
	s.keyframeEvery = 0 // count every request: the feed is time-compressed

	rng := rand.New(rand.NewPCG(7, 7))
	video := impair(flatten(packetizeVideo(m.video, 300)), 0.05, 0.1, rng)
	audio := impair(packetizeAudio(m.audio), 0.05, 0.1, rng)

	var kf keyframeCounter
	vw := s.AddTrack(videoTrack("bea"), kf.request)
	aw := s.AddTrack(audioTrack("bea"), nil)
	feed(t, feedStream{vw, video}, feedStream{aw, audio})
	files := s.Close()
	if len(files) != 1 {
		t.Fatalf("got %d files, want 1", len(files))
	}
	pr := checkFile(t, files[0], true, true)
	if n := kf.n.Load(); n < 2 {
		t.Errorf("requestKeyframe called %d times; want at start and after losses", n)
	}
	flags := videoPacketFlags(t, files[0].Path)
	if len(flags) == 0 || !strings.HasPrefix(flags[0], "K") {
		t.Fatalf("first video packet flags %v, want a keyframe", flags[:min(3, len(flags))])
	}
	// Without a sender to answer keyframe requests a lost keyframe costs its
	// GOP; at least one of the three must survive.
	if _, n, _ := pr.stream("video"); n < videoFPS/2 {
		t.Errorf("video frames = %d of %d fed", n, len(m.video))
	}
}

// TestStartsAtKeyframe: joining mid-GOP, the recorder asks for a keyframe and
// the file's first video frame is a keyframe.
func TestStartsAtKeyframe(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, _ := newRecorder(t)
	s := r.StartSession("room-kf", nil)

	const skip = 10 // frames 10..29 are inter frames; the next keyframe is 30
	var kf keyframeCounter
	vw := s.AddTrack(videoTrack("carol"), kf.request)
	aw := s.AddTrack(audioTrack("carol"), nil)
	feed(t, feedStream{vw, flatten(packetizeVideo(m.video, 1200)[skip:])}, feedStream{aw, packetizeAudio(m.audio)})
	files := s.Close()
	if len(files) != 1 {
		t.Fatalf("got %d files, want 1", len(files))
	}
	if kf.n.Load() == 0 {
		t.Error("requestKeyframe not called")
	}
	checkFile(t, files[0], true, true)
	flags := videoPacketFlags(t, files[0].Path)
	if len(flags) == 0 || !strings.HasPrefix(flags[0], "K") {
		t.Fatalf("first video packet flags %v, want a keyframe", flags[:min(3, len(flags))])
	}
	if want := len(m.video) - videoFPS; len(flags) != want {
		// frames 30..89 are written, 10..29 are not.
		t.Errorf("video frames written = %d, want %d", len(flags), want)
	}
}

// TestAudioOnly: with no video the file opens after the 2 s wait (while the
// track is still live) and holds one Opus stream.
func TestAudioOnly(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, dir := newRecorder(t)
	log := newFileLog()
	s := r.StartSession("room-audio", log.onFile)

	aw := s.AddTrack(audioTrack("dave"), nil)
	audio := packetizeAudio(m.audio)
	half := len(audio) / 2
	feed(t, feedStream{aw, audio[:half]})
	// The open timer, not the track's end, must create the file.
	for {
		entries, _ := os.ReadDir(filepath.Join(dir, "room-audio"))
		if len(entries) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	feed(t, feedStream{aw, audio[half:]})
	aw.Close()
	f := <-log.ch
	pr := checkFile(t, f, false, true)
	if len(pr.Streams) != 1 {
		t.Errorf("%d streams, want 1", len(pr.Streams))
	}
	checkNear(t, "ffprobe duration", pr.duration(t), 3*time.Second, 300*time.Millisecond)
	if files := s.Close(); len(files) != 1 {
		t.Errorf("Close returned %d files, want 1", len(files))
	}
}

// TestLateVideoStartsNewFile: video published after an audio-only file was
// opened finalizes that file and continues in a new one holding both.
func TestLateVideoStartsNewFile(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, dir := newRecorder(t)
	log := newFileLog()
	s := r.StartSession("room-late", log.onFile)

	aw := s.AddTrack(audioTrack("hank"), nil)
	audio := packetizeAudio(m.audio)
	feed(t, feedStream{aw, audio[:50]})
	for { // wait for the audio-only file
		if entries, _ := os.ReadDir(filepath.Join(dir, "room-late")); len(entries) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	vw := s.AddTrack(videoTrack("hank"), nil)
	first := <-log.ch // finalized by the new kind, before Close
	feed(t, feedStream{vw, flatten(packetizeVideo(m.video, 1200))}, feedStream{aw, audio[50:]})
	files := s.Close()
	if len(files) != 2 || files[0].Path != first.Path || files[1].Path == first.Path {
		t.Fatalf("files %+v, want the audio-only file then a new one", files)
	}
	pr := checkFile(t, first, false, true)
	checkNear(t, "first file duration", pr.duration(t), time.Second, 300*time.Millisecond)
	pr = checkFile(t, files[1], true, true)
	if _, n, _ := pr.stream("video"); n != len(m.video) {
		t.Errorf("second file has %d video frames, want %d", n, len(m.video))
	}
}

// TestCloseSemantics: several participants, Close finalizes all open files,
// onFile fires once per file, Close is idempotent, and nothing is accepted
// after Close.
func TestCloseSemantics(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, _ := newRecorder(t)
	log := newFileLog()
	s := r.StartSession("room-close", log.onFile)

	if w := s.AddTrack(Track{ParticipantID: "", Kind: "audio", MimeType: "audio/opus"}, nil); w != nil {
		t.Error("AddTrack accepted an empty participant ID")
	}
	var streams []feedStream
	video := packetizeVideo(m.video, 1200)
	for _, pid := range []string{"erin", "frank"} {
		streams = append(streams,
			feedStream{s.AddTrack(videoTrack(pid), nil), flatten(video)},
			feedStream{s.AddTrack(audioTrack(pid), nil), packetizeAudio(m.audio)})
	}
	feed(t, streams...)
	files := s.Close() // tracks still open: Close finalizes
	again := s.Close()
	if len(files) != 2 || len(again) != 2 {
		t.Fatalf("Close returned %d then %d files, want 2 and 2", len(files), len(again))
	}
	for i := range files {
		if files[i].Path != again[i].Path {
			t.Errorf("second Close differs: %s vs %s", files[i].Path, again[i].Path)
		}
		checkFile(t, files[i], true, true)
	}
	if got := log.all(); len(got) != 2 || got[0].ParticipantID == got[1].ParticipantID {
		t.Errorf("onFile calls: %+v, want one per participant", got)
	}
	if w := s.AddTrack(audioTrack("late"), nil); w != nil {
		t.Error("AddTrack after Close returned a writer")
	}
	if err := streams[0].w.WriteRTP(&rtp.Packet{Payload: []byte{1}}); err == nil {
		t.Error("WriteRTP after Close succeeded")
	}
	streams[0].w.Close() // closing twice is harmless
}

// TestDiskErrorIsolated: a participant whose file cannot be written gets
// File.Err; the other participant is recorded normally.
func TestDiskErrorIsolated(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, _ := newRecorder(t)
	alerts := make(chan File, 4)
	r.onAlert = func(f File) { alerts <- f }
	open := r.openFile
	r.openFile = func(path string) (*os.File, error) {
		if strings.Contains(filepath.Base(path), "broken") {
			return os.OpenFile("/dev/full", os.O_WRONLY, 0) // every write fails with ENOSPC
		}
		return open(path)
	}
	s := r.StartSession("room-disk", nil)
	var streams []feedStream
	for _, pid := range []string{"broken", "fine"} {
		streams = append(streams,
			feedStream{s.AddTrack(videoTrack(pid), nil), flatten(packetizeVideo(m.video, 1200))},
			feedStream{s.AddTrack(audioTrack(pid), nil), packetizeAudio(m.audio)})
	}
	feed(t, streams...)
	files := s.Close()
	if len(files) != 2 {
		t.Fatalf("got %d files, want 2", len(files))
	}
	for _, f := range files {
		switch f.ParticipantID {
		case "broken":
			if f.Err == nil || apperr.CodeOf(f.Err) != apperr.Internal {
				t.Errorf("broken file: Err = %v, want an internal write error", f.Err)
			}
		case "fine":
			checkFile(t, f, true, true)
		}
	}
	if len(alerts) != 1 || (<-alerts).ParticipantID != "broken" {
		t.Error("want one alert, for the broken file")
	}
}

// TestWriteRTPNeverBlocks: with the track goroutine not running, writes past
// the queue bound are dropped and counted instead of blocking.
func TestWriteRTPNeverBlocks(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	r, _ := newRecorder(t)
	s := r.StartSession("room-q", nil)
	tr := audioTrack("gina")
	if _, _, err := validateTrack(&tr); err != nil {
		t.Fatal(err)
	}
	w := newTrackWriter(s, newParticipant(s, "gina"), tr, kindAudio, codecOpus, nil)
	p := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: []byte{0xfc, 1, 2}}
	for i := range queueLen + 10 {
		p.SequenceNumber = uint16(i)
		if err := w.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	p.Payload[1] = 99 // the queued copy must not change
	if got := w.queueDrops.Load(); got != 10 {
		t.Errorf("queue drops = %d, want 10", got)
	}
	if first := <-w.q; first.p.Payload[1] != 1 {
		t.Error("WriteRTP kept the caller's buffer instead of copying it")
	}
	w.Close()
	if err := w.WriteRTP(p); !errors.Is(err, errTrackClosed) {
		t.Errorf("WriteRTP after Close = %v", err)
	}
	if files := s.Close(); len(files) != 0 {
		t.Errorf("files = %+v", files)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"alice": "alice", "../etc": ".._etc", "..": "_..", "": "_", "a b/c": "a_b_c",
		strings.Repeat("x", 200): strings.Repeat("x", maxIDLen),
	} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
}
