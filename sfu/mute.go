package sfu

import (
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

// SetMuted stops (muted) or resumes forwarding the participant's tracks of
// one kind (audio or video) to every subscriber and local sink, tracks
// published later included. The publisher keeps sending; the SFU drops.
// On resume each subscriber's stream continues without a sequence break,
// video from the next keyframe (one is requested).
func (p *Participant) SetMuted(kind webrtc.RTPCodecType, muted bool) error {
	if kind != webrtc.RTPCodecTypeAudio && kind != webrtc.RTPCodecTypeVideo {
		return apperr.New(apperr.Invalid, "cannot mute %s", kind)
	}
	if !p.info.CanPublish {
		return apperr.New(apperr.Conflict, "%s does not publish", p.info.ID)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errLeft()
	}
	p.muted[kind-1] = muted
	tracks := make([]*publishedTrack, 0, len(p.tracks))
	for pt := range p.tracks {
		if pt.kind == kind {
			tracks = append(tracks, pt)
		}
	}
	p.mu.Unlock()
	for _, pt := range tracks {
		pt.setMuted(muted)
	}
	return nil
}

func (pt *publishedTrack) setMuted(muted bool) {
	if pt.muted.Swap(muted) == muted || muted {
		return
	}
	for _, dt := range *pt.downs.Load() {
		dt.resync.Store(true)
	}
	for _, w := range *pt.sinkList.Load() {
		w.resync.Store(true)
	}
	for i := 0; i < maxLayers; i++ {
		pt.requestKeyframe(i)
	}
}
