package recorder

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Helpers shared by the recorder tests: real media made by ffmpeg, pion's
// readers and packetizers, and ffprobe/ffmpeg for validation.

const (
	testTimeout = 60 * time.Second
	videoFPS    = 30
	feedSpeed   = 10 // media time runs this much faster than wall time
)

// guard fails the test binary with a stack dump if the test outlives
// testTimeout. Call the returned func at the end of the test.
func guard(t *testing.T) func() {
	t.Helper()
	timer := time.AfterFunc(testTimeout, func() {
		panic("test " + t.Name() + " timed out after " + testTimeout.String())
	})
	return func() { timer.Stop() }
}

func requireTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required by the recorder tests but was not found on PATH: %v", tool, err)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// media is 3 s of VP8 (30 fps, keyframe every 30 frames) and Opus (20 ms).
type media struct {
	video [][]byte // frames
	audio [][]byte // Opus packets
}

func genMedia(t *testing.T) media {
	t.Helper()
	requireTools(t)
	dir := t.TempDir()
	ivf := filepath.Join(dir, "out.ivf")
	ogg := filepath.Join(dir, "out.ogg")
	run(t, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "3",
		"-c:v", "libvpx", "-g", "30", ivf)
	run(t, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "3",
		"-c:a", "libopus", "-page_duration", "20000", ogg)

	var m media
	f, err := os.Open(ivf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ir, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		frame, _, err := ir.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m.video = append(m.video, frame)
	}

	g, err := os.Open(ogg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	or, _, err := oggreader.NewWith(g)
	if err != nil {
		t.Fatal(err)
	}
	for {
		page, _, err := or.ParseNextPage()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		m.audio = append(m.audio, page) // one 20 ms packet per page (-page_duration 20000)
	}
	if len(m.video) != 3*videoFPS || len(m.audio) < 140 {
		t.Fatalf("unexpected test media: %d video frames, %d audio packets", len(m.video), len(m.audio))
	}
	if k, _, _ := vp8Keyframe(m.video[0]); !k {
		t.Fatal("first test frame is not a keyframe")
	}
	return m
}

// timedPacket is an RTP packet with its media time.
type timedPacket struct {
	at time.Duration
	p  *rtp.Packet
}

// packetizeVideo packetizes frames at 30 fps; a small mtu spreads frames
// over more packets.
func packetizeVideo(frames [][]byte, mtu uint16) [][]timedPacket {
	pk := rtp.NewPacketizer(mtu, 96, 0x1234, &codecs.VP8Payloader{EnablePictureID: true},
		rtp.NewRandomSequencer(), 90000)
	out := make([][]timedPacket, len(frames))
	for i, fr := range frames {
		at := time.Duration(i) * time.Second / videoFPS
		for _, p := range pk.Packetize(fr, 90000/videoFPS) {
			out[i] = append(out[i], timedPacket{at, p})
		}
	}
	return out
}

func packetizeAudio(pkts [][]byte) []timedPacket {
	pk := rtp.NewPacketizer(1200, 111, 0x5678, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	var out []timedPacket
	for i, b := range pkts {
		at := time.Duration(i) * 20 * time.Millisecond
		for _, p := range pk.Packetize(b, 960) {
			out = append(out, timedPacket{at, p})
		}
	}
	return out
}

// impair drops each packet with probability loss and then swaps neighbours
// with probability reorder; rng is seeded so runs are repeatable.
func impair(in []timedPacket, loss, reorder float64, rng *rand.Rand) []timedPacket {
	var out []timedPacket
	for _, p := range in {
		if rng.Float64() < loss {
			continue
		}
		out = append(out, p)
	}
	return shuffle(out, reorder, rng)
}

// impairVideo is impair for video, sparing keyframes: a live sender answers
// the recorder's keyframe request, static test media cannot, so a lost
// keyframe would void a whole GOP of the test.
// It also returns how many frames kept all their packets.
func impairVideo(frames [][]timedPacket, isKey []bool, loss, reorder float64, rng *rand.Rand) ([]timedPacket, int) {
	var out []timedPacket
	intact := 0
	for i, f := range frames {
		kept := 0
		for _, p := range f {
			if !isKey[i] && rng.Float64() < loss {
				continue
			}
			out = append(out, p)
			kept++
		}
		if kept == len(f) {
			intact++
		}
	}
	return shuffle(out, reorder, rng), intact
}

func shuffle(in []timedPacket, reorder float64, rng *rand.Rand) []timedPacket {
	for i := 0; i+1 < len(in); i++ {
		if rng.Float64() < reorder {
			in[i], in[i+1] = in[i+1], in[i]
			i++
		}
	}
	return in
}

type feedStream struct {
	w   TrackWriter
	pkt []timedPacket
}

// feed writes the streams interleaved by media time, paced at feedSpeed.
func feed(t *testing.T, streams ...feedStream) {
	t.Helper()
	var all []struct {
		tp timedPacket
		w  TrackWriter
	}
	for _, s := range streams {
		for _, p := range s.pkt {
			all = append(all, struct {
				tp timedPacket
				w  TrackWriter
			}{p, s.w})
		}
	}
	slices.SortStableFunc(all, func(a, b struct {
		tp timedPacket
		w  TrackWriter
	}) int {
		return int(a.tp.at - b.tp.at)
	})
	start := time.Now()
	for _, x := range all {
		if d := x.tp.at/feedSpeed - time.Since(start); d > 0 {
			time.Sleep(d)
		}
		if err := x.w.WriteRTP(x.tp.p); err != nil {
			t.Fatalf("WriteRTP: %v", err)
		}
	}
}

type probeResult struct {
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func probe(t *testing.T, path string) probeResult {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-show_format", "-count_frames",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r probeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	return r
}

func (r probeResult) stream(kind string) (codec string, frames int, ok bool) {
	for _, s := range r.Streams {
		if s.CodecType == kind {
			n, _ := strconv.Atoi(s.NbReadFrames)
			return s.CodecName, n, true
		}
	}
	return "", 0, false
}

func (r probeResult) duration(t *testing.T) time.Duration {
	t.Helper()
	d, err := strconv.ParseFloat(r.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe shows no duration (%q)", r.Format.Duration)
	}
	return time.Duration(d * float64(time.Second))
}

// decodeErrors decodes the whole file and returns what ffmpeg complains about.
func decodeErrors(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return err.Error() + ": " + string(out)
	}
	return strings.TrimSpace(string(out))
}

// videoPacketFlags returns the flags ("K__", "___") of the file's video packets in order.
func videoPacketFlags(t *testing.T, path string) []string {
	t.Helper()
	out := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags",
		"-of", "csv=p=0", path)
	return strings.Fields(out)
}
