package main

import (
	"errors"

	"jobhall/recorder"
)

// recovered writes the files a crashed process left unfinished (and that
// Recorder.Recover finalized at start) to the employment log: with the
// archive, a recording row and a "recording_incomplete" entry with the
// duration that survived (or "recording_failed" with the reason when the
// file could not be repaired); without it, a "recording_saved" entry marked
// incomplete.
func (iv *interviews) recovered(files []recorder.File) {
	for _, f := range files {
		if errors.Is(f.Err, recorder.ErrNoMedia) {
			continue
		}
		if iv.arch != nil {
			iv.arch.fileDone(iv, f.RoomID, f)
			continue
		}
		if f.Err != nil {
			iv.log.Error("unfinished recording could not be repaired", "room", f.RoomID, "file", f.Path, "err", f.Err)
			continue
		}
		iv.enqueue(f.RoomID, "recording_saved", f.Ended, map[string]any{"participant": f.ParticipantID,
			"file": f.Path, "bytes": f.Bytes, "duration_seconds": f.Duration.Seconds(), "video": f.HasVideo,
			"audio": f.HasAudio, "incomplete": true})
	}
}

// recordingAlert is the recorder's OnAlert: a failed recording (unsupported
// codec, full disk) is logged at error level for the operators' alerting.
func recordingAlert(a *app) func(recorder.File) {
	return func(f recorder.File) {
		a.log.Error("ALERT: recording failed", "room", f.RoomID, "participant", f.ParticipantID,
			"file", f.Path, "err", f.Err)
	}
}
