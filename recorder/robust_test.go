package recorder

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("REC_CRASH_HELPER") != "" {
		crashHelper()
		return
	}
	os.Exit(m.Run())
}

// encodeVideo makes secs seconds of test video at 30 fps with a keyframe
// every 30 frames: "vp8"/"vp9" as IVF frames, "h264" as Annex-B access units
// (no B-frames, as WebRTC sends).
func encodeVideo(t testing.TB, codec, size string, secs int) [][]byte {
	t.Helper()
	requireTools(t.(*testing.T))
	dir := t.TempDir()
	src := fmt.Sprintf("testsrc=size=%s:rate=30", size)
	switch codec {
	case "vp8", "vp9":
		lib := map[string]string{"vp8": "libvpx", "vp9": "libvpx-vp9"}[codec]
		out := filepath.Join(dir, "v.ivf")
		run(t.(*testing.T), "ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-t", strconv.Itoa(secs),
			"-c:v", lib, "-g", "30", "-deadline", "realtime", "-cpu-used", "8", out)
		frames, err := readIVF(out)
		if err != nil {
			t.Fatal(err)
		}
		return frames
	case "h264":
		out := filepath.Join(dir, "v.h264")
		run(t.(*testing.T), "ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-t", strconv.Itoa(secs),
			"-c:v", "libx264", "-bf", "0", "-g", "30", "-pix_fmt", "yuv420p", "-profile:v", "baseline",
			"-x264-params", "aud=1:repeat-headers=1", "-f", "h264", out)
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rd, err := h264reader.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var frames [][]byte
		var cur []byte
		for {
			n, err := rd.NextNAL()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.UnitType == h264reader.NalUnitTypeAUD && len(cur) > 0 {
				frames = append(frames, cur)
				cur = nil
			}
			cur = append(cur, 0, 0, 0, 1)
			cur = append(cur, n.Data...)
		}
		if len(cur) > 0 {
			frames = append(frames, cur)
		}
		return frames
	}
	t.Fatalf("codec %s", codec)
	return nil
}

func readIVF(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ir, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var frames [][]byte
	for {
		frame, _, err := ir.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, err
		}
		frames = append(frames, frame)
	}
}

// videoPacketizer packetizes frames at 30 fps, continuing sequence numbers
// and timestamps across calls (one stream).
type videoPacketizer struct {
	pk    rtp.Packetizer
	frame int
}

func newVideoPacketizer(codec string, mtu uint16) *videoPacketizer {
	var pl rtp.Payloader
	switch codec {
	case "vp8":
		pl = &codecs.VP8Payloader{EnablePictureID: true}
	case "vp9":
		pl = &codecs.VP9Payloader{}
	case "h264":
		pl = &codecs.H264Payloader{}
	}
	return &videoPacketizer{pk: rtp.NewPacketizer(mtu, 96, 0x1234, pl, rtp.NewRandomSequencer(), 90000)}
}

func (v *videoPacketizer) packetize(frames [][]byte) [][]timedPacket {
	out := make([][]timedPacket, len(frames))
	for i, fr := range frames {
		at := time.Duration(v.frame) * time.Second / videoFPS
		v.frame++
		for _, p := range v.pk.Packetize(fr, 90000/videoFPS) {
			out[i] = append(out[i], timedPacket{at, p})
		}
	}
	return out
}

func videoTrackOf(pid, mime string) Track {
	return Track{ParticipantID: pid, TrackID: pid + "-cam", Kind: "video", MimeType: mime, ClockRate: 90000}
}

// TestCodecs: VP9 goes into WebM, H.264 into Matroska (.mkv) with Opus; both
// decode without errors and keep every frame.
func TestCodecs(t *testing.T) {
	for _, c := range []struct{ codec, mime, ext, probeName string }{
		{"vp9", "video/VP9", ".webm", "vp9"},
		{"h264", "video/H264", ".mkv", "h264"},
	} {
		t.Run(c.codec, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			defer guard(t)()
			m := genMedia(t)
			frames := encodeVideo(t, c.codec, "320x240", 3)
			r, _ := newRecorder(t)
			s := r.StartSession("room-"+c.codec, nil)
			vw := s.AddTrack(videoTrackOf("ann", c.mime), nil)
			aw := s.AddTrack(audioTrack("ann"), nil)
			if vw == nil || aw == nil {
				t.Fatal("AddTrack refused a supported codec")
			}
			// A small MTU makes H.264 use FU-A and VP9 span packets.
			feed(t, feedStream{vw, flatten(newVideoPacketizer(c.codec, 400).packetize(frames))},
				feedStream{aw, packetizeAudio(m.audio)})
			files := s.Close()
			if len(files) != 1 {
				t.Fatalf("got %d files, want 1", len(files))
			}
			f := files[0]
			if filepath.Ext(f.Path) != c.ext {
				t.Errorf("file %s, want extension %s", f.Path, c.ext)
			}
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			pr := probe(t, f.Path)
			codec, n, ok := pr.stream("video")
			if !ok || codec != c.probeName || n != len(frames) {
				t.Errorf("video %q with %d frames, want %s with %d", codec, n, c.probeName, len(frames))
			}
			for _, st := range pr.Streams {
				if st.CodecType == "video" && (st.Width != 320 || st.Height != 240) {
					t.Errorf("video size %dx%d, want 320x240", st.Width, st.Height)
				}
			}
			if codec, _, ok := pr.stream("audio"); !ok || codec != "opus" {
				t.Errorf("audio %q", codec)
			}
			if msg := decodeErrors(t, f.Path); msg != "" {
				t.Errorf("decode errors:\n%s", msg)
			}
		})
	}
}

// TestResolutionChangeKeepsOneFile: a VP8 keyframe of another size (a
// simulcast layer switch) continues in the same file, which decodes without
// errors and holds every frame at both sizes.
func TestResolutionChangeKeepsOneFile(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	small := encodeVideo(t, "vp8", "160x120", 3)
	r, _ := newRecorder(t)
	s := r.StartSession("room-res", nil)
	vw := s.AddTrack(videoTrack("ivy"), nil)
	aw := s.AddTrack(audioTrack("ivy"), nil)
	vp := newVideoPacketizer("vp8", 1200)
	video := append(flatten(vp.packetize(m.video)), flatten(vp.packetize(small))...)
	audio := packetizeAudio(append(append([][]byte{}, m.audio...), m.audio...))
	feed(t, feedStream{vw, video}, feedStream{aw, audio})
	files := s.Close()
	if len(files) != 1 {
		t.Fatalf("got %d files, want 1", len(files))
	}
	pr := checkFile(t, files[0], true, true)
	if _, n, _ := pr.stream("video"); n != len(m.video)+len(small) {
		t.Errorf("%d video frames in the file, fed %d", n, len(m.video)+len(small))
	}
	// The decoder follows the frames: both sizes come out.
	sizes := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=width,height",
		"-of", "csv=p=0", files[0].Path)
	if !strings.Contains(sizes, "320,240") || !strings.Contains(sizes, "160,120") {
		t.Errorf("decoded frame sizes do not include both 320x240 and 160x120")
	}
}

// TestRetransmission: with 5% of the packets lost on the way (keyframes
// too), asking for them again through the SFU's retransmitter recovers every
// frame.
func TestRetransmission(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, _ := newRecorder(t)
	s := r.StartSession("room-nack", nil)
	vw := s.AddTrack(videoTrack("jo"), nil)
	aw := s.AddTrack(audioTrack("jo"), nil)

	rng := rand.New(rand.NewPCG(3, 4))
	streams := []*nackStream{
		newNackStream(vw, flatten(packetizeVideo(m.video, 300)), 0.05, rng),
		newNackStream(aw, packetizeAudio(m.audio), 0.05, rng),
	}
	feedWithNACK(t, streams)
	files := s.Close()
	if len(files) != 1 {
		t.Fatalf("got %d files, want 1", len(files))
	}
	pr := checkFile(t, files[0], true, true)
	if _, n, _ := pr.stream("video"); n != len(m.video) {
		t.Errorf("video frames = %d, want all %d", n, len(m.video))
	}
	if _, n, _ := pr.stream("audio"); n != len(m.audio) {
		t.Errorf("audio frames = %d, want all %d", n, len(m.audio))
	}
	for _, st := range streams {
		if st.dropped == 0 || st.resent != st.dropped {
			t.Errorf("dropped %d packets, %d were asked for again", st.dropped, st.resent)
		}
	}
}

// nackStream is a publisher whose lost packets can be sent again.
type nackStream struct {
	w       TrackWriter
	pkts    []timedPacket
	drop    map[int]bool
	bySeq   map[uint16]*rtp.Packet
	asked   chan []uint16
	dropped int
	resent  int
}

func newNackStream(w TrackWriter, pkts []timedPacket, loss float64, rng *rand.Rand) *nackStream {
	st := &nackStream{w: w, pkts: pkts, drop: map[int]bool{}, bySeq: map[uint16]*rtp.Packet{},
		asked: make(chan []uint16, 1024)}
	for i, p := range pkts {
		st.bySeq[p.p.SequenceNumber] = p.p
		if i > 0 && rng.Float64() < loss { // the very first packet has no gap to detect
			st.drop[i] = true
			st.dropped++
		}
	}
	w.SetRetransmitter(func(seqs []uint16) {
		select {
		case st.asked <- seqs:
		default:
		}
	})
	return st
}

// feedWithNACK feeds the streams interleaved by media time at feedSpeed and
// answers retransmission requests from the feeding goroutine (as the SFU
// does: the packets arrive through WriteRTP).
func feedWithNACK(t *testing.T, streams []*nackStream) {
	t.Helper()
	idx := make([]int, len(streams))
	start := time.Now()
	answer := func() {
		for _, st := range streams {
			for {
				select {
				case seqs := <-st.asked:
					for _, q := range seqs {
						if p := st.bySeq[q]; p != nil {
							st.resent++
							_ = st.w.WriteRTP(p)
						}
					}
					continue
				default:
				}
				break
			}
		}
	}
	for {
		next := -1
		for i, st := range streams {
			if idx[i] < len(st.pkts) && (next < 0 || st.pkts[idx[i]].at < streams[next].pkts[idx[next]].at) {
				next = i
			}
		}
		if next < 0 {
			break
		}
		st := streams[next]
		tp := st.pkts[idx[next]]
		for d := tp.at/feedSpeed - time.Since(start); d > 0; d = tp.at/feedSpeed - time.Since(start) {
			answer()
			time.Sleep(min(d, 2*time.Millisecond))
		}
		if !st.drop[idx[next]] {
			if err := st.w.WriteRTP(tp.p); err != nil {
				t.Fatal(err)
			}
		}
		idx[next]++
		answer()
	}
	// Requests for the last gaps.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		answer()
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSenderReportAlignment: one hour of media (time-compressed: one frame
// per half second) whose audio RTP clock runs 200 ppm fast (720 ms over the
// hour) stays within 40 ms of the video through sender reports, across RTP
// timestamp wrap-around.
func TestSenderReportAlignment(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	tiny := encodeVideo(t, "vp8", "64x48", 1)[0] // a keyframe
	r, _ := newRecorder(t)
	s := r.StartSession("room-drift", nil)
	vw := s.AddTrack(videoTrack("kim"), nil).(*trackWriter)
	aw := s.AddTrack(audioTrack("kim"), nil).(*trackWriter)

	const (
		hour    = time.Hour
		step    = 500 * time.Millisecond
		srEvery = 5 * time.Second
		skew    = 200e-6
	)
	ntp0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	var vts0, ats0 uint32 = 0xFFFF0000, 0xFFFFF000 // both wrap early
	vTS := func(at time.Duration) uint32 { return vts0 + uint32(int64(at)*90000/int64(time.Second)) }
	aTS := func(at time.Duration) uint32 {
		return ats0 + uint32(int64(float64(at)*(1+skew))*48000/int64(time.Second))
	}
	var vseq, aseq uint16 = 100, 60000
	n := 0
	settle := func() { // never overrun the bounded queues: they drop
		for len(vw.q) > 0 || len(aw.q) > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	for at := time.Duration(0); at < hour; at += step {
		if at%srEvery == 0 {
			vw.SenderReport(ntp0.Add(at), vTS(at))
			aw.SenderReport(ntp0.Add(at), aTS(at))
		}
		_ = vw.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 96,
			SequenceNumber: vseq, Timestamp: vTS(at), SSRC: 1}, Payload: append([]byte{0x10}, tiny...)})
		_ = aw.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111,
			SequenceNumber: aseq, Timestamp: aTS(at), SSRC: 2}, Payload: m.audio[n%len(m.audio)]})
		vseq++
		aseq++
		n++
		if n%100 == 0 {
			settle()
		}
	}
	files := s.Close()
	if len(files) != 1 || files[0].Err != nil {
		t.Fatalf("files %+v", files)
	}
	vp := packetTimes(t, files[0].Path, "v:0")
	ap := packetTimes(t, files[0].Path, "a:0")
	if len(vp) != n || len(ap) != n {
		t.Fatalf("%d video and %d audio packets, want %d each", len(vp), len(ap), n)
	}
	var worst time.Duration
	for i := range vp {
		worst = max(worst, (vp[i] - ap[i]).Abs())
	}
	if worst > 40*time.Millisecond {
		t.Errorf("worst audio-video offset %v, want ≤ 40ms", worst)
	}
	if last := vp[len(vp)-1]; (last - (hour - step)).Abs() > 40*time.Millisecond {
		t.Errorf("last video frame at %v, want %v", last, hour-step)
	}
	t.Logf("worst audio-video offset over %v: %v (uncorrected skew would be %v)", hour, worst,
		time.Duration(float64(hour)*skew))
}

// packetTimes lists a stream's packet times in file order.
func packetTimes(t *testing.T, path, stream string) []time.Duration {
	t.Helper()
	out := run(t, "ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path)
	var ts []time.Duration
	for _, f := range strings.Fields(out) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64)
		if err != nil {
			t.Fatalf("pts %q: %v", f, err)
		}
		ts = append(ts, time.Duration(math.Round(v*1000))*time.Millisecond)
	}
	return ts
}

// TestUnsupportedCodecFailsAlone: an AV1 track yields a failed File with the
// reason (through onFile and OnAlert); the session and the other
// participant's recording go on.
func TestUnsupportedCodecFailsAlone(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	var mu sync.Mutex
	var alerts []File
	r, err := New(Config{Dir: t.TempDir(), Logger: testLogger(t), OnAlert: func(f File) {
		mu.Lock()
		alerts = append(alerts, f)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := r.StartSession("room-av1", nil)
	if w := s.AddTrack(videoTrackOf("old", "video/AV1"), nil); w != nil {
		t.Fatal("AddTrack accepted AV1")
	}
	vw := s.AddTrack(videoTrack("new"), nil)
	aw := s.AddTrack(audioTrack("new"), nil)
	feed(t, feedStream{vw, flatten(packetizeVideo(m.video, 1200))}, feedStream{aw, packetizeAudio(m.audio)})
	files := s.Close()
	if len(files) != 2 {
		t.Fatalf("got %d files, want the failure and the recording", len(files))
	}
	for _, f := range files {
		switch f.ParticipantID {
		case "old":
			if !errors.Is(f.Err, ErrUnsupportedCodec) || !strings.Contains(f.Err.Error(), "AV1") || f.Path != "" {
				t.Errorf("AV1 file: %+v, want unsupported codec naming AV1 and no path", f)
			}
		case "new":
			checkFile(t, f, true, true)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(alerts) != 1 || alerts[0].ParticipantID != "old" {
		t.Errorf("alerts %+v, want one for the AV1 participant", alerts)
	}
}

// TestConsentRefusal: a participant without consent gets no file, no folder
// entry, no writer; the other is recorded.
func TestConsentRefusal(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	m := genMedia(t)
	r, dir := newRecorder(t)
	asked := map[string]int{}
	s := r.StartSession("room-consent", nil, WithConsent(func(pid string) bool {
		asked[pid]++ // AddTrack calls are sequential here
		return pid != "refuser"
	}))
	if w := s.AddTrack(videoTrack("refuser"), nil); w != nil {
		t.Error("AddTrack returned a writer for a participant who refused")
	}
	if w := s.AddTrack(audioTrack("refuser"), nil); w != nil {
		t.Error("AddTrack returned a writer for a participant who refused")
	}
	vw := s.AddTrack(videoTrack("agreer"), nil)
	aw := s.AddTrack(audioTrack("agreer"), nil)
	feed(t, feedStream{vw, flatten(packetizeVideo(m.video, 1200))}, feedStream{aw, packetizeAudio(m.audio)})
	files := s.Close()
	if len(files) != 1 || files[0].ParticipantID != "agreer" {
		t.Fatalf("files %+v, want only agreer's", files)
	}
	checkFile(t, files[0], true, true)
	entries, _ := os.ReadDir(filepath.Join(dir, "room-consent"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "refuser") {
			t.Errorf("file %s written for a participant who refused", e.Name())
		}
	}
	if got := s.Refused(); len(got) != 1 || got[0] != "refuser" || asked["refuser"] != 1 {
		t.Errorf("Refused() = %v, asked %v", got, asked)
	}
}

// TestCrashRecovery: a process killed with SIGKILL mid-recording leaves files
// that Recover finalizes: they decode without errors, seek (ffprobe shows a
// duration), and are reported incomplete with the duration that survived.
func TestCrashRecovery(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	requireTools(t)
	mediaDir := t.TempDir()
	run(t, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "3",
		"-c:v", "libvpx", "-g", "30", filepath.Join(mediaDir, "out.ivf"))
	run(t, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "3",
		"-c:a", "libopus", "-page_duration", "20000", filepath.Join(mediaDir, "out.ogg"))
	dir := t.TempDir()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "REC_CRASH_HELPER=1", "REC_CRASH_DIR="+dir, "REC_CRASH_MEDIA="+mediaDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The helper says when it has recorded several seconds of media.
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "recording" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	r, err := New(Config{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	files, err := r.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("recovered %d files, want 2: %+v", len(files), files)
	}
	for _, f := range files {
		if f.Err != nil || !f.Incomplete || f.RoomID != "room-crash" {
			t.Errorf("recovered %+v", f)
			continue
		}
		if f.Duration < 4*time.Second {
			t.Errorf("%s: duration %v, want the ≥ 4 s recorded before the kill", f.Path, f.Duration)
		}
		pr := checkFile(t, f, true, true)
		checkNear(t, "ffprobe duration", pr.duration(t), f.Duration, 100*time.Millisecond)
		if _, err := os.Stat(f.Path + markerExt); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("marker of %s still there", f.Path)
		}
	}
	if again, err := r.Recover(context.Background()); err != nil || len(again) != 0 {
		t.Errorf("second Recover: %v, %v; want nothing left", again, err)
	}
}

// crashHelper records two participants from looped media until killed; it
// prints "recording" once both files hold ≥ 5 s of media.
func crashHelper() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(2)
	}
	mediaDir := os.Getenv("REC_CRASH_MEDIA")
	video, err := readIVF(filepath.Join(mediaDir, "out.ivf"))
	if err != nil {
		fail(err)
	}
	oggData, err := os.ReadFile(filepath.Join(mediaDir, "out.ogg"))
	if err != nil {
		fail(err)
	}
	audio, err := oggPackets(oggData)
	if err != nil {
		fail(err)
	}
	r, err := New(Config{Dir: os.Getenv("REC_CRASH_DIR"), Logger: slog0()})
	if err != nil {
		fail(err)
	}
	s := r.StartSession("room-crash", nil)
	type pub struct {
		vw, aw TrackWriter
		vp     *videoPacketizer
		ap     rtp.Packetizer
	}
	var pubs []pub
	for _, pid := range []string{"p1", "p2"} {
		pubs = append(pubs, pub{s.AddTrack(videoTrack(pid), nil), s.AddTrack(audioTrack(pid), nil),
			newVideoPacketizer("vp8", 1200),
			rtp.NewPacketizer(1200, 111, 0x5678, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)})
	}
	const speed = 4
	start := time.Now()
	said := false
	for loop := 0; ; loop++ {
		for i := range 150 { // 3 s: 90 video frames, 150 audio packets
			at := time.Duration(loop)*3*time.Second + time.Duration(i)*20*time.Millisecond
			if d := at/speed - time.Since(start); d > 0 {
				time.Sleep(d)
			}
			for _, p := range pubs {
				for _, pk := range p.ap.Packetize(audio[i%len(audio)], 960) {
					_ = p.aw.WriteRTP(pk)
				}
				if f := i * 3 / 5; i == 0 || f != (i-1)*3/5 { // 30 fps on the 50 Hz audio clock
					for _, fr := range p.vp.packetize([][]byte{video[f%len(video)]}) {
						for _, tp := range fr {
							_ = p.vw.WriteRTP(tp.p)
						}
					}
				}
			}
			if !said && at >= 6*time.Second {
				said = true
				fmt.Println("recording")
			}
		}
	}
}

func slog0() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// oggPackets splits an Ogg Opus file into its packets (one per page).
func oggPackets(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) >= 27 {
		if !bytes.HasPrefix(data, []byte("OggS")) {
			return nil, errors.New("bad ogg page")
		}
		nseg := int(data[26])
		if len(data) < 27+nseg {
			break
		}
		size := 0
		for _, l := range data[27 : 27+nseg] {
			size += int(l)
		}
		body := data[27+nseg:]
		if len(body) < size {
			break
		}
		page := body[:size]
		if !bytes.HasPrefix(page, []byte("OpusHead")) && !bytes.HasPrefix(page, []byte("OpusTags")) {
			out = append(out, page)
		}
		data = body[size:]
	}
	return out, nil
}
