package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"jobhall/internal/apperr"
)

// markerExt names the crash marker written beside every file while it is
// being recorded. Media is appended to the file as it comes (no user-space
// buffering), so after a kill -9 the file holds everything up to the last
// block written; only its Duration and Cues are missing, which Recover fixes.
const markerExt = ".recording"

type marker struct {
	RoomID        string    `json:"room_id"`
	ParticipantID string    `json:"participant_id"`
	Started       time.Time `json:"started"`
}

func writeMarker(path, room, pid string, started time.Time) (string, error) {
	b, _ := json.Marshal(marker{RoomID: room, ParticipantID: pid, Started: started.UTC()})
	mark := path + markerExt
	return mark, os.WriteFile(mark, b, 0o640)
}

// Recover finalizes the files a crashed process left open (their crash
// marker is still there): it remuxes each with ffmpeg -c copy so it gets a
// Duration and Cues (seekable), and returns them with Incomplete set and
// the duration that survived. A file that cannot be fixed is kept as it is
// and returned with Err. Call it at start, before any session records.
func (r *Recorder) Recover(ctx context.Context) ([]File, error) {
	var marks []string
	err := filepath.WalkDir(r.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, markerExt) {
			marks = append(marks, path)
		}
		return nil
	})
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "recorder: scan %s", r.dir)
	}
	var out []File
	for _, mark := range marks {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		f := r.recoverOne(ctx, mark)
		r.log.Warn("recovered unfinished recording", "path", f.Path, "duration", f.Duration, "bytes", f.Bytes, "err", f.Err)
		out = append(out, f)
		if r.onAlert != nil && f.Err != nil && !errors.Is(f.Err, ErrNoMedia) {
			r.onAlert(f)
		}
	}
	return out, nil
}

func (r *Recorder) recoverOne(ctx context.Context, mark string) File {
	path := strings.TrimSuffix(mark, markerExt)
	f := File{Path: path, Incomplete: true}
	var m marker
	if b, err := os.ReadFile(mark); err == nil && json.Unmarshal(b, &m) == nil {
		f.RoomID, f.ParticipantID, f.Started = m.RoomID, m.ParticipantID, m.Started
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() == 0 {
		_ = os.Remove(path)
		_ = os.Remove(mark)
		f.Path, f.Err = "", ErrNoMedia
		return f
	}
	f.Ended = st.ModTime()
	tmp := filepath.Join(filepath.Dir(path), ".recover-"+filepath.Base(path))
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-i", path, "-map", "0", "-c", "copy", tmp).CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		f.Bytes = st.Size()
		f.Err = apperr.Wrap(err, apperr.Internal, "remux %s: %s", path, strings.TrimSpace(string(out)))
		return f // marker kept: a later start tries again
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		f.Err = apperr.Wrap(err, apperr.Internal, "replace %s", path)
		return f
	}
	_ = os.Remove(mark)
	info, err := probeFile(ctx, path)
	if err != nil {
		f.Err = err
		return f
	}
	f.Duration, f.Bytes, f.HasAudio, f.HasVideo, f.VideoCodec = info.Duration, info.Bytes, info.HasAudio, info.HasVideo, info.VideoCodec
	if !f.Started.IsZero() && f.Duration > 0 {
		f.Ended = f.Started.Add(f.Duration)
	}
	return f
}

// MediaInfo is what ffprobe tells about a media file.
type MediaInfo struct {
	Duration           time.Duration
	Bytes              int64
	HasAudio, HasVideo bool
	VideoCodec         string // ffprobe's codec name: "vp8", "h264", ...
	Width, Height      int
}

// probeFile runs ffprobe on path.
func probeFile(ctx context.Context, path string) (MediaInfo, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		return MediaInfo{}, apperr.Wrap(err, apperr.Internal, "ffprobe %s", path)
	}
	var p struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
			Size     string `json:"size"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		return MediaInfo{}, apperr.Wrap(err, apperr.Internal, "ffprobe %s output", path)
	}
	var mi MediaInfo
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	mi.Duration = time.Duration(d * float64(time.Second))
	mi.Bytes, _ = strconv.ParseInt(p.Format.Size, 10, 64)
	for _, s := range p.Streams {
		switch s.CodecType {
		case "audio":
			mi.HasAudio = true
		case "video":
			mi.HasVideo, mi.VideoCodec, mi.Width, mi.Height = true, s.CodecName, s.Width, s.Height
		}
	}
	return mi, nil
}

// Probe reports the duration, size and streams of a media file (ffprobe).
func Probe(ctx context.Context, path string) (MediaInfo, error) { return probeFile(ctx, path) }
