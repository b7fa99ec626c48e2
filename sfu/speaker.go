package sfu

import (
	"slices"
	"sort"
	"time"

	"github.com/pion/webrtc/v4"
)

// SpeakerEvents is an optional Events interface. ActiveSpeakers is called
// with the IDs of the participants speaking in the room (RFC 6464 audio
// levels), loudest first, at most maxSpeakers, whenever that list changes;
// an empty list means nobody speaks. Called from the SFU's speaker
// goroutine with no lock held; it must not block.
type SpeakerEvents interface {
	ActiveSpeakers(ids []string)
}

const (
	speakerInterval = 300 * time.Millisecond
	maxSpeakers     = 3
	// Smoothed loudness (127 - dBov attenuation): speech is about -30 to
	// -50 dBov, room noise below -60. A speaker stays one until it falls
	// under the lower bound (no flapping between words).
	speakStart = 127 - 55
	speakStay  = 127 - 65
)

// roomList snapshots the open rooms (the periodic loops walk it unlocked).
func (s *SFU) roomList() []*Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roomListLocked()
}

func (s *SFU) roomListLocked() []*Room {
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

func (s *SFU) speakerLoop() {
	t := time.NewTicker(speakerInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		rooms := s.roomList()
		now := sfuClock()
		for _, r := range rooms {
			if ids, evs := r.detectSpeakers(now); evs != nil {
				for _, ev := range evs {
					ev.ActiveSpeakers(slices.Clone(ids))
				}
			}
		}
	}
}

// detectSpeakers updates the room's speaker list; when it changed it
// returns the list and the events to tell.
func (r *Room) detectSpeakers(now int64) ([]string, []SpeakerEvents) {
	type cand struct {
		id    string
		level int32
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var cs []cand
	for pt := range r.tracks {
		if pt.kind != webrtc.RTPCodecTypeAudio {
			continue
		}
		l := pt.layer(0)
		if l == nil || !l.active(now) {
			continue
		}
		lvl := pt.level.Load()
		min := int32(speakStart)
		if slices.Contains(r.speakers, pt.info.ParticipantID) {
			min = speakStay
		}
		if lvl >= min {
			cs = append(cs, cand{pt.info.ParticipantID, lvl})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].level != cs[j].level {
			return cs[i].level > cs[j].level
		}
		return cs[i].id < cs[j].id
	})
	ids := []string{}
	for _, c := range cs {
		if len(ids) < maxSpeakers && !slices.Contains(ids, c.id) {
			ids = append(ids, c.id)
		}
	}
	if slices.Equal(ids, r.speakers) || len(ids) == 0 && r.speakers == nil {
		return nil, nil
	}
	r.speakers = ids
	evs := []SpeakerEvents{}
	for _, p := range r.participants {
		if se, ok := p.ev.(SpeakerEvents); ok {
			evs = append(evs, se)
		}
	}
	return ids, evs
}
