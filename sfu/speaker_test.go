package sfu

import (
	"slices"
	"testing"

	"github.com/pion/webrtc/v4"
)

type speakerEv struct {
	Events
	got [][]string
}

func (s *speakerEv) ActiveSpeakers(ids []string) { s.got = append(s.got, ids) }

func TestDetectSpeakers(t *testing.T) {
	r := newRoom(&SFU{}, "r")
	ev := &speakerEv{}
	r.participants["V"] = &Participant{info: ParticipantInfo{ID: "V"}, ev: ev}
	now := sfuClock()
	track := func(id string) *publishedTrack {
		pt := &publishedTrack{info: TrackInfo{ParticipantID: id}, kind: webrtc.RTPCodecTypeAudio}
		l := &layer{pt: pt}
		l.lastPkt.Store(now)
		pt.layers[0].Store(l)
		r.tracks[pt] = struct{}{}
		return pt
	}
	a, b := track("A"), track("B")
	step := func(la, lb int32, want []string, changed bool) {
		t.Helper()
		a.level.Store(la)
		b.level.Store(lb)
		ids, evs := r.detectSpeakers(now)
		if changed != (evs != nil) || changed && (!slices.Equal(ids, want) || len(evs) != 1) {
			t.Fatalf("levels %d/%d: ids %v, %d events; want %v changed=%v", la, lb, ids, len(evs), want, changed)
		}
	}
	step(10, 20, nil, false)                    // silence: nothing to report
	step(100, 20, []string{"A"}, true)          // A speaks
	step(100, 20, nil, false)                   // no change, no event
	step(90, 110, []string{"B", "A"}, true)     // both, loudest first
	step(speakStay, 110, nil, false)            // A stays above its lower bound
	step(speakStay-1, 110, []string{"B"}, true) // A stops
	step(speakStay, 20, []string{}, true)       // under the start bound: not a new speaker
	a.layers[0].Load().lastPkt.Store(now - 2e9) // stale audio does not count
	step(120, 20, nil, false)
}
