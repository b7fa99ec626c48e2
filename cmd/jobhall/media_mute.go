package main

import (
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

// MuteSource stops (or resumes) forwarding one of the participant's sources
// server-side: "microphone" is its audio, "camera" its video
// (signaling.SourceMuter).
func (s sfuSession) MuteSource(source string, muted bool) error {
	kind, ok := map[string]webrtc.RTPCodecType{"microphone": webrtc.RTPCodecTypeAudio, "camera": webrtc.RTPCodecTypeVideo}[source]
	if !ok {
		return apperr.New(apperr.Invalid, "unknown source %q", source)
	}
	return s.p.SetMuted(kind, muted)
}
