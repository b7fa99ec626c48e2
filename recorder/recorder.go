// Package recorder is a server-side subscriber of an SFU room that writes one
// file per participant, live, from the RTP packets the SFU hands it
// in-process: WebM for VP8/VP9 + Opus, Matroska (.mkv) for H.264 + Opus.
// Sub-packages: store (local folder or S3 archive, checksums, retention,
// legal hold) and post (queued composite MP4, thumbnail, probe, upload).
//
// It does not import the SFU: the SFU (via cmd/) calls Session.AddTrack for
// each published track and feeds the returned TrackWriter.
//
// # Goroutines and locks
//
//   - The SFU's goroutine only calls WriteRTP, which copies the packet and
//     does a non-blocking send into the track's bounded queue; when the queue
//     is full the packet is dropped and counted. AddTrack never does I/O.
//   - One goroutine per TrackWriter ("track goroutine") owns that track's
//     samplebuilder and RTP timestamp unwrapping. It sends depacketized
//     samples into its participant's mailbox (a blocking send: only this
//     goroutine waits, the SFU never does).
//   - One goroutine per participant ("muxer") owns everything about that
//     participant's files: which tracks are active, the pre-open buffer, the
//     2 s open timer, the open segment and its webm writers. It is the only
//     goroutine that calls into ebml-go, which runs its own goroutines that
//     end when the segment's writers are closed.
//   - Session.mu guards the session's maps, the closed flag and the list of
//     finalized files. participant.mu guards only the hand-over list of newly
//     added tracks. No lock is held while calling out (onFile,
//     requestKeyframe) or doing I/O.
//   - Session.Close closes every TrackWriter, tells every muxer to stop, and
//     waits (Session.wg) for all of the session's goroutines; a muxer stops
//     only after all of its track goroutines have delivered their last sample.
//
// # Files
//
// A participant's file ("segment") is opened when it has both an audio and a
// video track and a first VP8 keyframe arrived (so the header carries the
// real frame size), or 2 s after its first track in any case. Samples that
// arrive before are buffered (bounded). A segment is finalized when all of
// the participant's tracks have closed or when the session closes.
// A track added while a segment is open replaces the active track of its kind
// (a re-publish) and continues in the same file when that kind is already in
// the file (video waits for the new track's keyframe); if its kind is not in
// the file (e.g. video after an audio-only start), the file is finalized and
// a new one, with a new name, is started.
//
// Only the newest track of each kind is recorded (a second audio track of the
// same participant replaces the first). Media time is each track's RTP time,
// unwrapped, mapped through the newest RTCP sender report (SenderReport) onto
// the sender's wall clock, which the participant's first report ties to
// ours; before any report it counts from the arrival of the track's first
// packet. A forward sequence jump asks the SFU for the missing packets once
// (SetRetransmitter); the samplebuilder waits for them within its bounds.
// Video starts at a keyframe; frames that still lack packets are dropped and
// a keyframe is requested (throttled to one per 500 ms). A keyframe of
// another codec (or, for H.264, new parameter sets) starts a new file; a
// VP8/VP9 keyframe of a new size (a simulcast layer switch, the encoder
// scaling) continues in the same file, whose header keeps the first size. An unsupported codec or a refused
// consent (WithConsent) records nothing for that track or participant.
//
// While a file is written a crash marker (<file>.recording) sits beside it;
// blocks go straight to the file, so after a kill -9 the file is readable up
// to its last block, and Recorder.Recover (at start) remuxes it with ffmpeg
// to add Duration and Cues and reports it Incomplete.
//
// Files are written through a seekable *os.File with ebml-go's Cues option,
// so Duration and Cues are patched into the header on close without a remux.
// A write error (disk full) marks that file's File.Err and keeps what was
// written; the file's further data is discarded, other files go on.
package recorder

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"jobhall/internal/apperr"
)

// Limits on input. They bound memory and goroutines per session.
const (
	maxIDLen           = 128
	maxParticipants    = 64 // per session
	maxTracksPerPeer   = 8  // live tracks per participant
	openDelay          = 2 * time.Second
	keyframeThrottle   = 500 * time.Millisecond
	fileNameTimeFormat = "20060102T150405Z"
)

// ErrNoMedia is File.Err for a participant file in which no frame was ever
// written (e.g. video that never sent a keyframe); the empty file is removed.
var ErrNoMedia = apperr.New(apperr.NotFound, "no media was recorded")

// Config configures a Recorder.
type Config struct {
	Dir    string // recordings folder; files go to Dir/<roomID>/<participantID>-<UTC yyyymmddThhmmssZ>.webm (.mkv for H.264)
	Logger *slog.Logger
	// OnAlert (may be nil) is called once per failed recording (unsupported
	// codec, disk error), from a recorder goroutine, besides File.Err. It
	// must not block.
	OnAlert func(File)
}

// Recorder creates recording sessions under one folder.
type Recorder struct {
	dir     string
	log     *slog.Logger
	onAlert func(File)

	// openFile creates a recording file; tests replace it to inject disk errors.
	openFile func(path string) (*os.File, error)
}

// New returns a Recorder writing under cfg.Dir, which it creates if needed.
func New(cfg Config) (*Recorder, error) {
	if strings.TrimSpace(cfg.Dir) == "" {
		return nil, apperr.New(apperr.Invalid, "recorder: Dir is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "recorder: create %s", cfg.Dir)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Recorder{
		dir:     cfg.Dir,
		log:     log.With("component", "recorder"),
		onAlert: cfg.OnAlert,
		openFile: func(path string) (*os.File, error) {
			return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		},
	}, nil
}

// Dir is the recordings folder.
func (r *Recorder) Dir() string { return r.dir }

// File describes one finalized participant recording.
type File struct {
	RoomID, ParticipantID string
	Path                  string
	Started, Ended        time.Time // wall clock of media time 0 (first frame's arrival), and of finalization
	Duration              time.Duration
	Bytes                 int64
	HasVideo, HasAudio    bool
	VideoCodec            string // Matroska codec ID of the video track ("V_VP8", "V_VP9", "V_MPEG4/ISO/AVC"), if any
	// Incomplete marks a file finalized by Recover after a crash: it holds
	// the media up to the crash (Duration), not to the end of the interview.
	Incomplete bool
	Err        error // non-nil if the recording failed (disk error, unsupported codec etc.); the session goes on
}

// SessionOption configures a session.
type SessionOption func(*Session)

// WithConsent records only participants for whom consent(participantID)
// reports true; it is asked once per participant, at its first track, from
// the SFU's goroutine (it must not block). A refusal means no file.
func WithConsent(consent func(participantID string) bool) SessionOption {
	return func(s *Session) { s.consent = consent }
}

// Session records one room. Create it with Recorder.StartSession.
type Session struct {
	r       *Recorder
	roomID  string
	dir     string // Dir/<roomID>
	onFile  func(File)
	consent func(string) bool // nil: everyone
	log     *slog.Logger
	epoch   time.Time // zero of every in-memory timeline of this session

	keyframeEvery time.Duration // keyframe request throttle; tests lower it

	wg        sync.WaitGroup // every goroutine of the session
	closeOnce sync.Once
	result    []File // set once by Close

	mu      sync.Mutex
	closed  bool
	parts   map[string]*participant
	tracks  map[*trackWriter]struct{} // tracks whose goroutine is running
	files   []File                    // finalized, in order
	refused map[string]bool           // participants without consent
}

// StartSession starts recording room roomID. onFile (may be nil) is called
// from a recorder goroutine once per finalized participant file; it must not
// call Session.Close.
func (r *Recorder) StartSession(roomID string, onFile func(File), opts ...SessionOption) *Session {
	safe := safeName(roomID)
	s := &Session{
		r:      r,
		roomID: roomID,
		dir:    filepath.Join(r.dir, safe),
		onFile: onFile,
		log:    r.log.With("room", safe),
		epoch:  time.Now(),

		keyframeEvery: keyframeThrottle,
		parts:         make(map[string]*participant),
		tracks:        make(map[*trackWriter]struct{}),
		refused:       make(map[string]bool),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// AddTrack registers a published track and returns the writer the SFU feeds
// its RTP packets to. It returns nil (and logs) for invalid input,
// over-limit participants/tracks, a participant without consent, or a closed
// session; for an unsupported codec it also reports a failed File (through
// onFile and OnAlert) while the session goes on. It never blocks on I/O.
func (s *Session) AddTrack(t Track, requestKeyframe func()) TrackWriter {
	k, c, err := validateTrack(&t)
	if errors.Is(err, ErrUnsupportedCodec) {
		s.log.Warn("track not recorded", "participant", safeName(t.ParticipantID), "track", safeName(t.TrackID),
			"mime", t.MimeType, "err", err)
		s.reportAsync(File{RoomID: s.roomID, ParticipantID: t.ParticipantID, Started: time.Now(), Ended: time.Now(),
			Err: apperr.Wrap(err, apperr.Invalid, "track %s not recorded", safeName(t.TrackID))})
		return nil
	}
	if err != nil {
		s.log.Warn("track not recorded", "participant", safeName(t.ParticipantID), "track", safeName(t.TrackID),
			"mime", t.MimeType, "err", err)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.log.Warn("track not recorded: session closed", "participant", t.ParticipantID, "track", t.TrackID)
		return nil
	}
	p := s.parts[t.ParticipantID]
	if p == nil {
		if s.refused[t.ParticipantID] {
			return nil
		}
		if s.consent != nil && !s.consent(t.ParticipantID) {
			s.refused[t.ParticipantID] = true
			s.log.Info("participant not recorded: no consent", "participant", t.ParticipantID)
			return nil
		}
		if len(s.parts) >= maxParticipants {
			s.log.Warn("track not recorded: too many participants", "participant", t.ParticipantID)
			return nil
		}
		p = newParticipant(s, t.ParticipantID)
		s.parts[t.ParticipantID] = p
		s.wg.Add(1)
		go p.run()
	}
	if n := p.liveTracks.Load(); n >= maxTracksPerPeer {
		s.log.Warn("track not recorded: too many tracks", "participant", t.ParticipantID, "live", n)
		return nil
	}
	w := newTrackWriter(s, p, t, k, c, requestKeyframe)
	s.tracks[w] = struct{}{}
	p.handOver(w) // before the goroutine starts: the muxer must know w before w's first sample
	s.wg.Add(1)
	go w.run()
	s.log.Info("recording track", "participant", t.ParticipantID, "track", t.TrackID, "mime", t.MimeType)
	return w
}

// Refused lists the participants not recorded for lack of consent.
func (s *Session) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.refused))
}

// reportAsync reports f from a session goroutine: onFile must not run on the
// SFU's goroutine.
func (s *Session) reportAsync(f File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.fileDone(f)
	}()
}

// Close finalizes every open file, waits for all of the session's goroutines
// and returns every file of the session (including those already reported
// through onFile before Close), in finalization order. It is idempotent.
func (s *Session) Close() []File {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		tracks := slices.Collect(maps.Keys(s.tracks))
		parts := slices.Collect(maps.Values(s.parts))
		s.mu.Unlock()

		for _, w := range tracks {
			w.Close()
		}
		for _, p := range parts {
			close(p.stop)
		}
		s.wg.Wait()

		s.mu.Lock()
		s.result = slices.Clone(s.files)
		s.mu.Unlock()
	})
	return slices.Clone(s.result)
}

// fileDone records a finalized file and reports it. Called by muxers.
func (s *Session) fileDone(f File) {
	s.mu.Lock()
	s.files = append(s.files, f)
	s.mu.Unlock()
	lvl := slog.LevelInfo
	if f.Err != nil && !errors.Is(f.Err, ErrNoMedia) {
		lvl = slog.LevelError
	}
	s.log.Log(context.Background(), lvl, "recording finalized", "participant", f.ParticipantID, "path", f.Path,
		"duration", f.Duration, "bytes", f.Bytes, "video", f.HasVideo, "audio", f.HasAudio, "err", f.Err)
	if s.onFile != nil {
		s.onFile(f)
	}
	if f.Err != nil && !errors.Is(f.Err, ErrNoMedia) && s.r.onAlert != nil {
		s.r.onAlert(f)
	}
}

// trackDone forgets a track whose goroutine ended.
func (s *Session) trackDone(w *trackWriter) {
	s.mu.Lock()
	delete(s.tracks, w)
	s.mu.Unlock()
}

// safeName maps an ID to a string usable as one path element.
func safeName(id string) string {
	if len(id) > maxIDLen {
		id = id[:maxIDLen]
	}
	b := []byte(id)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || strings.Trim(s, ".") == "" {
		s = "_" + s
	}
	return s
}
