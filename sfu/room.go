package sfu

import (
	"sort"
	"sync"
	"sync/atomic"

	"jobhall/internal/apperr"
)

// Room is a set of participants whose tracks are forwarded to each other.
type Room struct {
	id  string
	sfu *SFU

	mu           sync.Mutex
	participants map[string]*Participant
	tracks       map[*publishedTrack]struct{}
	locals       map[*localReg]struct{}
	relays       map[*Relay]struct{} // origin ends of cascades to edge nodes
	closed       bool
	published    uint64 // tracks published so far; orders them
	speakers     []string
}

// localReg is one AddLocalSubscriber registration.
type localReg struct {
	ls      LocalSubscriber
	removed atomic.Bool
}

func newRoom(s *SFU, id string) *Room {
	return &Room{
		id: id, sfu: s,
		participants: map[string]*Participant{},
		tracks:       map[*publishedTrack]struct{}{},
		locals:       map[*localReg]struct{}{},
		relays:       map[*Relay]struct{}{},
	}
}

// ID returns the room id.
func (r *Room) ID() string { return r.id }

// Join adds a participant. A participant with the same ID already in the room
// is closed and replaced (a resumed session). On a closed room Join returns an
// Unavailable error; SFU.Room returns a fresh room for the same id.
func (r *Room) Join(info ParticipantInfo, ev Events) (*Participant, error) {
	return r.join(info, ev, false, nil)
}

// join admits a participant; first, when set, runs before the participant
// is visible to the room (its ops precede every subscribe op).
func (r *Room) join(info ParticipantInfo, ev Events, view bool, first func(*Participant)) (*Participant, error) {
	if info.ID == "" || len(info.ID) > 128 || len(info.Name) > 256 {
		r.sfu.reapRoom(r) // don't leave a room created just for this call
		return nil, apperr.New(apperr.Invalid, "invalid participant id or name")
	}
	if ev == nil {
		r.sfu.reapRoom(r)
		return nil, apperr.New(apperr.Invalid, "sfu: nil Events")
	}
	p, err := newParticipant(r, info, ev, view)
	if err != nil {
		r.sfu.reapRoom(r)
		return nil, err
	}
	if first != nil {
		first(p)
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		p.shutdown()
		return nil, apperr.New(apperr.Unavailable, "room %s is closed", r.id)
	}
	old := r.participants[info.ID]
	r.participants[info.ID] = p
	if info.CanSubscribe {
		for pt := range r.tracks {
			if pt.info.ParticipantID != info.ID {
				p.enqueueSubscribe(pt)
			}
		}
	}
	r.mu.Unlock()

	if old != nil {
		r.sfu.log.Info("participant replaced", "room", r.id, "participant", info.ID)
		old.Leave()
	}
	r.sfu.log.Info("participant joined", "room", r.id, "participant", info.ID)
	return p, nil
}

// Participants returns the sorted IDs of the participants in the room.
func (r *Room) Participants() []string {
	r.mu.Lock()
	ids := make([]string, 0, len(r.participants))
	for id := range r.participants {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	return ids
}

// AddLocalSubscriber attaches ls to every current and future published track
// of the room until remove is called. On a closed room nothing is attached.
func (r *Room) AddLocalSubscriber(ls LocalSubscriber) (remove func()) {
	reg := &localReg{ls: ls}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return func() {}
	}
	r.locals[reg] = struct{}{}
	tracks := r.trackListLocked()
	r.mu.Unlock()

	for _, pt := range tracks {
		pt.attachSink(r.sfu, reg)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			reg.removed.Store(true)
			r.mu.Lock()
			delete(r.locals, reg)
			tracks := r.trackListLocked()
			r.mu.Unlock()
			for _, pt := range tracks {
				pt.detachSink(reg)
			}
			r.sfu.reapRoom(r)
		})
	}
}

func (r *Room) trackListLocked() []*publishedTrack {
	l := make([]*publishedTrack, 0, len(r.tracks))
	for pt := range r.tracks {
		l = append(l, pt)
	}
	return l
}

// publish makes pt visible to every other participant and local subscriber.
// It reports false if the room is closed.
func (r *Room) publish(pt *publishedTrack) bool {
	r.mu.Lock()
	if r.closed || pt.isClosed() {
		r.mu.Unlock()
		return false
	}
	r.tracks[pt] = struct{}{}
	r.published++
	pt.order = r.published
	for id, p := range r.participants {
		if id != pt.info.ParticipantID && p.info.CanSubscribe {
			p.enqueueSubscribe(pt)
		}
	}
	for rl := range r.relays {
		rl.enqueueAdd(pt)
	}
	locals := make([]*localReg, 0, len(r.locals))
	for reg := range r.locals {
		locals = append(locals, reg)
	}
	r.mu.Unlock()

	for _, reg := range locals {
		pt.attachSink(r.sfu, reg)
	}
	return true
}

// unpublish removes pt from every subscriber and closes its local sinks.
// Idempotent. The track is marked closed under r.mu so a concurrent publish
// of the same track cannot re-add it.
func (r *Room) unpublish(pt *publishedTrack) {
	r.mu.Lock()
	if _, ok := r.tracks[pt]; ok {
		delete(r.tracks, pt)
		for _, p := range r.participants {
			p.enqueueUnsubscribe(pt)
		}
		for rl := range r.relays {
			rl.enqueueRemove(pt)
		}
	}
	sinks, first := pt.markClosed()
	r.mu.Unlock()
	pt.stopSinks(sinks)
	if first {
		r.sfu.log.Debug("track unpublished", "room", r.id, "participant", pt.info.ParticipantID, "track", pt.info.TrackID)
	}
}

// removeParticipant drops p (if it is still the one registered under its ID).
func (r *Room) removeParticipant(p *Participant) {
	r.mu.Lock()
	if r.participants[p.info.ID] == p {
		delete(r.participants, p.info.ID)
	}
	r.mu.Unlock()
	r.sfu.reapRoom(r)
}

// Close makes every participant leave and detaches every local subscriber.
func (r *Room) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	parts := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		parts = append(parts, p)
	}
	for reg := range r.locals {
		reg.removed.Store(true)
	}
	r.locals = map[*localReg]struct{}{}
	relays := make([]*Relay, 0, len(r.relays))
	for rl := range r.relays {
		relays = append(relays, rl)
	}
	tracks := r.trackListLocked()
	r.mu.Unlock()

	r.sfu.dropRoom(r)
	for _, rl := range relays {
		rl.Close()
	}
	for _, p := range parts {
		p.Leave()
	}
	// Tracks are closed by their owners' Leave; this catches any straggler.
	for _, pt := range tracks {
		r.unpublish(pt)
	}
}

// layerAdded re-runs layer selection for pt's subscribers once a simulcast
// layer appears.
func (r *Room) layerAdded(pt *publishedTrack) {
	for _, dt := range *pt.downs.Load() {
		dt.eg.kickAlloc()
	}
}
