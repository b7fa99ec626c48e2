package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"

	"jobhall/internal/apperr"
)

const (
	// The block sorter holds frames to interleave tracks; it must cover the
	// samplebuilder's hold-back under loss (maxLateTime of 50 fps audio) or
	// late video would be written out of order. BlockSorterWriteOutdated
	// writes a late frame anyway instead of silently dropping it.
	sorterMaxDelayed = 200
	cuesReserve      = 64 << 10 // bytes reserved for Cues; ebml-go thins cues that do not fit
	clusterMinMs     = 1000     // clusters start at a video keyframe after this
	clusterMaxMs     = 5000     // or at this length in any case
	opusPreRollNs    = 80_000_000
)

// segment is one open participant file. Owned by the participant's muxer
// goroutine; ebml-go's goroutines only touch fw.
type segment struct {
	file File
	fw   *fileWriter
	vcfg *videoConfig                    // nil: no video in this file
	mark string                          // crash marker beside the file, removed on clean close
	w    [numKinds]webm.BlockWriteCloser // nil: kind not in this file

	origin       time.Duration // session time of media time 0
	haveOrigin   bool
	last         [numKinds]int64 // last written ms per kind, for monotonic blocks
	frames       [numKinds]int
	videoStarted bool
	skipped      int // video frames dropped while waiting for a keyframe
	maxEndMs     int64
	epoch        time.Time // Session.epoch
}

func (g *segment) has(k kind) bool { return g.w[k] != nil }

// openSegment creates the participant's file and its Matroska writers
// (WebM for VP8/VP9, .mkv for H.264). On error it returns a segment that
// discards samples and reports the error on close.
func openSegment(s *Session, pid string, has [numKinds]bool, vcfg *videoConfig, channels int) *segment {
	now := time.Now()
	g := &segment{
		epoch: s.epoch,
		file:  File{RoomID: s.roomID, ParticipantID: pid, Started: now},
	}
	ext := ".webm"
	if has[kindVideo] && vcfg.codec == codecH264 {
		ext = ".mkv"
	}
	f, path, err := createFile(s, pid, now, ext)
	if err != nil {
		g.file.Err = apperr.Wrap(err, apperr.Internal, "create recording file")
		return g
	}
	g.file.Path = path
	g.fw = &fileWriter{f: f}
	g.mark, err = writeMarker(path, s.roomID, pid, now)
	if err != nil {
		s.log.Warn("crash marker not written", "path", path, "err", err)
	}

	var tracks []webm.TrackEntry
	var kinds []kind
	uid := uint64(now.UnixNano())
	if has[kindAudio] {
		ch := max(min(channels, 2), 1)
		tracks = append(tracks, webm.TrackEntry{
			Name: "Audio", TrackNumber: uint64(len(tracks) + 1), TrackUID: uid + 1,
			CodecID: "A_OPUS", TrackType: 2, CodecPrivate: opusHead(ch), SeekPreRoll: opusPreRollNs,
			Audio: &webm.Audio{SamplingFrequency: 48000, Channels: uint64(ch)},
		})
		kinds = append(kinds, kindAudio)
	}
	if has[kindVideo] {
		g.vcfg = vcfg
		width, height := vcfg.width, vcfg.height
		if width <= 0 || height <= 0 {
			// Not parsed (H.264): decoders read the real size from the stream.
			width, height = 640, 480
		}
		tracks = append(tracks, webm.TrackEntry{
			Name: "Video", TrackNumber: uint64(len(tracks) + 1), TrackUID: uid + 2,
			CodecID: vcfg.codec.matroskaID(), TrackType: 1, CodecPrivate: vcfg.private,
			Video: &webm.Video{PixelWidth: uint64(width), PixelHeight: uint64(height)},
		})
		kinds = append(kinds, kindVideo)
		g.file.VideoCodec = vcfg.codec.matroskaID()
	}
	main := tracks[len(tracks)-1].TrackNumber // video if any
	sorter, err := mkvcore.NewMultiTrackBlockSorter(
		mkvcore.WithMaxDelayedPackets(sorterMaxDelayed),
		mkvcore.WithSortRule(mkvcore.BlockSorterWriteOutdated))
	if err != nil {
		g.fail(err)
		return g
	}
	docType := "webm"
	if ext == ".mkv" {
		docType = "matroska"
	}
	ws, err := webm.NewSimpleBlockWriter(g.fw, tracks,
		mkvcore.WithEBMLHeader(&webm.EBMLHeader{EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4,
			EBMLMaxSizeLength: 8, DocType: docType, DocTypeVersion: 4, DocTypeReadVersion: 2}),
		mkvcore.WithSegmentInfo(&webm.Info{ // own copy: ebml-go patches Duration into it
			TimecodeScale: 1_000_000, // ms
			MuxingApp:     "jobhall recorder",
			WritingApp:    "jobhall recorder",
		}),
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cuesReserve),
		mkvcore.WithBlockInterceptor(sorter),
		mkvcore.WithMinMaxClusterDuration(main, clusterMinMs, clusterMaxMs),
		mkvcore.WithOnFatalHandler(g.fw.fail), // default panics
		mkvcore.WithOnErrorHandler(func(err error) {
			s.log.Warn("webm frame not written", "participant", pid, "err", err)
		}),
	)
	if err != nil {
		g.fail(err)
		_ = f.Close()
		return g
	}
	for i, k := range kinds {
		g.w[k] = ws[i]
	}
	return g
}

func (g *segment) fail(err error) {
	if g.file.Err == nil {
		g.file.Err = apperr.Wrap(err, apperr.Internal, "write recording %s", g.file.Path)
	}
}

// write appends one sample. Video waits for a keyframe.
func (g *segment) write(s sample) {
	w := g.w[s.kind]
	if w == nil {
		return
	}
	if s.kind == kindVideo && !g.videoStarted {
		if !s.key {
			g.skipped++
			s.w.requestKeyframe()
			return
		}
		g.videoStarted = true
	}
	if !g.haveOrigin {
		g.origin, g.haveOrigin = s.at, true
	}
	// Blocks of a track must be strictly increasing (muxers and players
	// reject equal timestamps) and never before the file's zero; the track
	// writer already keeps audio frames from overlapping.
	ms := max((s.at - g.origin).Milliseconds(), 0)
	if g.frames[s.kind] > 0 && ms <= g.last[s.kind] {
		ms = g.last[s.kind] + 1
	}
	g.last[s.kind] = ms
	if _, err := w.Write(s.key, ms, s.data); err != nil {
		g.fail(err)
		return
	}
	g.frames[s.kind]++
	g.maxEndMs = max(g.maxEndMs, ms+s.dur.Milliseconds())
}

// close finalizes the file: closing the last ebml-go writer blocks until the
// Cues and Duration are written and the file is closed.
func (g *segment) close() File {
	f := g.file
	for _, w := range g.w {
		if w != nil {
			_ = w.Close()
		}
	}
	f.Ended = time.Now()
	if g.haveOrigin {
		f.Started = g.epoch.Add(g.origin)
	}
	f.HasAudio = g.frames[kindAudio] > 0
	f.HasVideo = g.frames[kindVideo] > 0
	f.Duration = time.Duration(g.maxEndMs) * time.Millisecond
	if g.fw != nil {
		f.Bytes = g.fw.size()
		if err := g.fw.err(); err != nil && f.Err == nil {
			f.Err = apperr.Wrap(err, apperr.Internal, "write recording %s", f.Path)
		}
	}
	if f.Err == nil && !f.HasAudio && !f.HasVideo && f.Path != "" {
		_ = os.Remove(f.Path)
		f.Path, f.Bytes, f.Err = "", 0, ErrNoMedia
	}
	if g.mark != "" {
		// Finalized (or failed for a known reason): nothing for Recover to do.
		_ = os.Remove(g.mark)
	}
	return f
}

// createFile makes Dir/<room>/<participant>-<UTC time><ext>, adding a
// counter if a file of that name exists (two segments in one second).
func createFile(s *Session, pid string, now time.Time, ext string) (*os.File, string, error) {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return nil, "", err
	}
	base := safeName(pid) + "-" + now.UTC().Format(fileNameTimeFormat)
	for i := 1; i <= 100; i++ {
		name := base + ext
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		path := filepath.Join(s.dir, name)
		f, err := s.r.openFile(path)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, path, err
	}
	return nil, "", fmt.Errorf("no free file name for %s", base)
}

// fileWriter is the io.WriteCloser/io.WriterAt ebml-go writes to. It keeps
// the first error and then discards further data while reporting success:
// ebml-go stops consuming frames after an error, which would block our
// writers forever.
type fileWriter struct {
	f *os.File

	mu       sync.Mutex
	firstErr error
	n        int64 // bytes appended successfully
}

func (w *fileWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstErr == nil {
		n, err := w.f.Write(b)
		w.n += int64(n)
		w.firstErr = err
	}
	return len(b), nil
}

// WriteAt patches the reserved Cues space and Duration. ebml-go prefers
// io.WriterAt over io.WriteSeeker, so appends above are unaffected.
func (w *fileWriter) WriteAt(b []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstErr == nil {
		_, w.firstErr = w.f.WriteAt(b, off)
	}
	return len(b), nil
}

func (w *fileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstErr == nil {
		w.firstErr = w.f.Sync()
	}
	if err := w.f.Close(); err != nil && w.firstErr == nil {
		w.firstErr = err
	}
	return nil
}

func (w *fileWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstErr == nil {
		w.firstErr = err
	}
}

func (w *fileWriter) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstErr
}

func (w *fileWriter) size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// opusHead is the CodecPrivate of an Opus track (RFC 7845 §5.1). Pre-skip is
// 0: WebRTC Opus carries no encoder delay to trim.
func opusHead(channels int) []byte {
	b := make([]byte, 19)
	copy(b, "OpusHead")
	b[8] = 1 // version
	b[9] = byte(channels)
	binary.LittleEndian.PutUint16(b[10:], 0)     // pre-skip
	binary.LittleEndian.PutUint32(b[12:], 48000) // input sample rate
	binary.LittleEndian.PutUint16(b[16:], 0)     // output gain
	b[18] = 0                                    // mapping family
	return b
}

// vp8Keyframe reads the VP8 payload header (RFC 6386 §9.1): a keyframe has
// P=0 and the start code 9d 01 2a, followed by the 14-bit frame size.
func vp8Keyframe(b []byte) (key bool, width, height int) {
	if len(b) < 10 || b[0]&0x01 != 0 || b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
		return false, 0, 0
	}
	return true, int(binary.LittleEndian.Uint16(b[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(b[8:]) & 0x3fff)
}
