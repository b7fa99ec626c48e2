package signaling

import (
	"sort"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// room is the signalling side of one room: who is in it, who waits in its
// lobby, and its session clock. Every field is guarded by Server.mu.
type room struct {
	id       string
	members  map[string]*member
	lobby    []*waiter
	admitted map[string]bool // let in by a moderator while away from the lobby
	banned   map[string]bool // removed by a moderator: may not come back
	ended    bool
	started  time.Time // when a second participant first came in
	endsAt   time.Time // zero: no time limit
	timers   []*time.Timer
}

// member is an admitted participant. Its media session outlives a dropped
// connection for the resume window.
type member struct {
	grant   roomtoken.Grant
	perms   Permissions
	media   MediaSession // set once at admission, never changed
	relay   *relay
	c       *conn       // nil while the participant is away (parked)
	parked  *time.Timer // running while away
	parkGen int         // tells a stale park timer from the current one
	muted   map[string]bool
	tracks  map[string]string // declared track id -> source
	// external members (WHIP encoders) have no WebSocket; they count as
	// connected until their resource is deleted.
	external bool
}

// waiter is a participant in the lobby.
type waiter struct {
	grant   roomtoken.Grant
	c       *conn
	since   time.Time
	parked  *time.Timer
	parkGen int
}

func (m *member) view() Participant {
	connected := m.c != nil || m.external
	p := Participant{ID: m.grant.Identity, Name: m.grant.Name, Role: m.grant.Role, Connected: &connected}
	if len(m.muted) > 0 {
		p.Muted = make(map[string]bool, len(m.muted))
		for k, v := range m.muted {
			p.Muted[k] = v
		}
	}
	if len(m.tracks) > 0 {
		p.Tracks = make(map[string]string, len(m.tracks))
		for k, v := range m.tracks {
			p.Tracks[k] = v
		}
	}
	return p
}

func (w *waiter) view() Participant {
	since := w.since
	return Participant{ID: w.grant.Identity, Name: w.grant.Name, Role: w.grant.Role, Since: &since}
}

// relay is the MediaEvents a member's media session talks to. It forwards
// to the member's current connection, and holds the unanswered subscriber
// offer and the candidates that arrive while the participant is away, so
// that a resumed connection picks up where the old one stopped.
type relay struct {
	mu     sync.Mutex
	c      *conn
	offer  *Outbound
	cands  []Outbound
	layers map[string]Outbound // newest layers frame per track, resent on resume
}

const (
	maxParkedCandidates = 64
	maxLayerTracks      = 16 // tracks whose layers frame is kept (the SFU allows 8 per publisher)
)

func (r *relay) SubscriberOffer(o webrtc.SessionDescription) {
	out := Outbound{Type: TypeOffer, Target: TargetSubscriber, SDP: o.SDP}
	r.mu.Lock()
	r.offer = &out
	r.cands = r.cands[:0] // candidates of an older offer are stale
	c := r.c
	r.mu.Unlock()
	if c != nil {
		c.post(event{out: &out})
	}
}

func (r *relay) ICECandidate(target Target, cand webrtc.ICECandidateInit) {
	out := Outbound{Type: TypeCandidate, Target: target, Candidate: &cand}
	r.mu.Lock()
	c := r.c
	if c == nil && len(r.cands) < maxParkedCandidates {
		r.cands = append(r.cands, out)
	}
	r.mu.Unlock()
	if c != nil {
		c.post(event{out: &out})
	}
}

func (r *relay) ConnectionState(target Target, state webrtc.PeerConnectionState) {
	r.mu.Lock()
	c := r.c
	r.mu.Unlock()
	if c != nil {
		c.post(event{state: state, stateTarget: target})
	}
}

// ActiveSpeakers forwards the speaker list to the connection; a list that
// arrives while the participant is away is simply missed (the next one
// comes within a second).
func (r *relay) ActiveSpeakers(ids []string) {
	r.mu.Lock()
	c := r.c
	r.mu.Unlock()
	if c != nil {
		c.post(event{out: &Outbound{Type: TypeActiveSpeaker, IDs: ids}})
	}
}

// PublishedLayers tells the publisher which simulcast layers of track to
// keep sending. The newest frame per track is kept and sent again to a
// resumed connection (the page may have missed it while away).
func (r *relay) PublishedLayers(track string, active []string) {
	if track == "" || len(track) > maxIDBytes || len(active) > 3 {
		return
	}
	out := Outbound{Type: TypeLayers, Track: track, Active: active}
	r.mu.Lock()
	if r.layers == nil {
		r.layers = map[string]Outbound{}
	}
	if _, ok := r.layers[track]; ok || len(r.layers) < maxLayerTracks {
		r.layers[track] = out
	}
	c := r.c
	r.mu.Unlock()
	if c != nil {
		c.post(event{out: &out})
	}
}

// attach points the relay at c and returns what c must be sent to catch up.
func (r *relay) attach(c *conn) []Outbound {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c = c
	var out []Outbound
	if r.offer != nil {
		out = append(out, *r.offer)
	}
	out = append(out, r.cands...)
	for _, l := range r.layers {
		out = append(out, l)
	}
	r.cands = r.cands[:0]
	return out
}

func (r *relay) detach(c *conn) {
	r.mu.Lock()
	if r.c == c {
		r.c = nil
	}
	r.mu.Unlock()
}

// close stops all forwarding: the member is gone.
func (r *relay) close() {
	r.mu.Lock()
	r.c, r.offer, r.cands, r.layers = nil, nil, nil, nil
	r.mu.Unlock()
}

func (r *relay) answered() {
	r.mu.Lock()
	r.offer = nil
	r.mu.Unlock()
}

// entry says what a join turned into.
type entry int

const (
	enterNew    entry = iota // create a media session and become a member
	enterResume              // carry on with the existing media session
	enterLobby               // wait for a moderator
)

// enterResult is the outcome of Server.enter.
type enterResult struct {
	kind     entry
	m        *member      // enterResume
	oldConn  *conn        // a connection this one replaces
	oldMedia MediaSession // enterNew replacing a member with fresh PeerConnections
	replaced bool         // enterNew: the identity was already a member
	position int          // enterLobby
}

// roomLocked returns the room, creating it.
func (s *Server) roomLocked(id string) *room {
	r := s.rooms[id]
	if r == nil {
		r = &room{id: id, members: map[string]*member{}, admitted: map[string]bool{}, banned: map[string]bool{}}
		s.rooms[id] = r
	}
	return r
}

// enter decides what a verified join becomes.
func (s *Server) enter(g roomtoken.Grant, perms Permissions, c *conn, resume bool) (enterResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return enterResult{}, apperr.New(apperr.Unavailable, "server is shutting down")
	}
	r := s.roomLocked(g.Room)
	if r.ended {
		return enterResult{}, apperr.New(apperr.Conflict, "本场已结束 / this session has ended")
	}
	if r.banned[g.Identity] {
		return enterResult{}, apperr.New(apperr.Forbidden, "您已被主持人移出 / the host removed you from this room")
	}
	if m := r.members[g.Identity]; m != nil {
		res := enterResult{oldConn: m.c}
		if m.parked != nil {
			m.parked.Stop()
			m.parked = nil
		}
		if resume {
			m.c = c
			res.kind, res.m = enterResume, m
			return res, nil
		}
		// Fresh PeerConnections: the old media session goes.
		delete(r.members, g.Identity)
		res.kind, res.oldMedia, res.replaced = enterNew, m.media, true
		return res, nil
	}
	for i, w := range r.lobby {
		if w.grant.Identity == g.Identity {
			if w.parked != nil {
				w.parked.Stop()
				w.parked = nil
			}
			old := w.c
			w.c, w.grant = c, g
			return enterResult{kind: enterLobby, oldConn: old, position: i + 1}, nil
		}
	}
	lobby := g.Lobby && !r.admitted[g.Identity]
	if err := s.capacityLocked(r, g.Role, lobby); err != nil {
		return enterResult{}, err
	}
	if lobby {
		r.lobby = append(r.lobby, &waiter{grant: g, c: c, since: time.Now()})
		return enterResult{kind: enterLobby, position: len(r.lobby)}, nil
	}
	return enterResult{kind: enterNew}, nil
}

// capacityLocked checks the room's bounds for one more participant: the
// lobby has its own bound; the per-role bounds count those admitted.
func (s *Server) capacityLocked(r *room, role string, lobby bool) error {
	if len(r.members)+len(r.lobby) >= s.cfg.MaxPerRoom {
		return apperr.New(apperr.Conflict, "房间已满 / the room is full (%d participants)", s.cfg.MaxPerRoom)
	}
	if lobby {
		if len(r.lobby) >= s.cfg.MaxLobby {
			return apperr.New(apperr.Conflict, "排队人数已满，请稍后再试 / the queue is full (%d waiting); try again later", s.cfg.MaxLobby)
		}
		return nil
	}
	limit, ok := s.cfg.MaxPerRole[role]
	if !ok {
		return nil
	}
	n := 0
	for _, m := range r.members {
		if m.grant.Role == role {
			n++
		}
	}
	if n >= limit {
		return apperr.New(apperr.Conflict, "房间内该角色已满 / this room already has %d participants with the role %s", limit, role)
	}
	return nil
}

// addMember registers a member whose media session is ready. It returns
// the others to tell, or an error when the room ended meanwhile.
func (s *Server) addMember(m *member, replaced bool) (others []*conn, list []Participant, waiting []Participant, endsAt time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.roomLocked(m.grant.Room)
	if r.ended || s.closed {
		return nil, nil, nil, time.Time{}, apperr.New(apperr.Conflict, "本场已结束 / this session has ended")
	}
	delete(r.admitted, m.grant.Identity)
	r.members[m.grant.Identity] = m
	for id, o := range r.members {
		if id == m.grant.Identity || apart(m, o) {
			continue
		}
		list = append(list, o.view())
		if o.c != nil {
			others = append(others, o.c)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	if len(r.members) >= 2 && r.started.IsZero() {
		s.startClockLocked(r)
	}
	if m.perms.Moderate {
		waiting = lobbyViewLocked(r)
	}
	return others, list, waiting, r.endsAt, nil
}

// startClockLocked starts the session clock and, when any member's token
// carries a limit, the warning and end timers.
func (s *Server) startClockLocked(r *room) {
	r.started = time.Now()
	var limit time.Duration
	for _, m := range r.members {
		if l := m.grant.Limit; l > 0 && (limit == 0 || l < limit) {
			limit = l
		}
	}
	if limit == 0 {
		return
	}
	r.endsAt = r.started.Add(limit)
	id := r.id
	if warn := limit - s.cfg.TimeWarning; warn > 0 {
		r.timers = append(r.timers, time.AfterFunc(warn, func() { s.warnRoom(id) }))
	}
	r.timers = append(r.timers, time.AfterFunc(limit, func() { s.endRoom(id, ByeTimeLimit) }))
}

func lobbyViewLocked(r *room) []Participant {
	out := make([]Participant, 0, len(r.lobby))
	for _, w := range r.lobby {
		out = append(out, w.view())
	}
	return out
}

// lobbyNoticesLocked returns the frames that tell waiters their positions
// and moderators the queue.
func lobbyNoticesLocked(r *room) []notice {
	var out []notice
	for i, w := range r.lobby {
		if w.c != nil {
			out = append(out, notice{w.c, Outbound{Type: TypeLobby, Position: i + 1}})
		}
	}
	waiting := lobbyViewLocked(r)
	for _, m := range r.members {
		if m.perms.Moderate && m.c != nil {
			out = append(out, notice{m.c, Outbound{Type: TypeLobbyUpdate, Waiting: waiting}})
		}
	}
	return out
}

// notice is a frame for a connection, sent after the lock is released.
type notice struct {
	c   *conn
	out Outbound
}

func sendAll(ns []notice) {
	for _, n := range ns {
		o := n.out
		n.c.post(event{out: &o})
	}
}

// apart reports whether to must not be told about subject: in a broadcast
// viewers are neither listed to nor told about each other. Hundreds join a
// course at once and only presenters and moderators need them; telling
// every viewer of every other made a join storm quadratic (≈ 10 MB of
// queued frames at 200 viewers).
func apart(subject, to *member) bool {
	return subject.grant.Role == roomtoken.RoleViewer && to.grant.Role == roomtoken.RoleViewer
}

// broadcastAboutLocked tells every other member about subject, except
// those kept apart from it.
func broadcastAboutLocked(r *room, subject *member, out Outbound) []notice {
	var ns []notice
	for id, m := range r.members {
		if id != subject.grant.Identity && m.c != nil && !apart(subject, m) {
			ns = append(ns, notice{m.c, out})
		}
	}
	return ns
}

func broadcastLocked(r *room, except string, out Outbound) []notice {
	var ns []notice
	for id, m := range r.members {
		if id != except && m.c != nil {
			ns = append(ns, notice{m.c, out})
		}
	}
	return ns
}

// removal is a member that left for good: its media to end and who to tell.
type removal struct {
	m       *member
	notices []notice
}

// removeMemberLocked drops a member from its room and returns what to do
// outside the lock.
func (s *Server) removeMemberLocked(r *room, m *member) removal {
	delete(r.members, m.grant.Identity)
	if m.parked != nil {
		m.parked.Stop()
		m.parked = nil
	}
	ns := broadcastAboutLocked(r, m, Outbound{Type: TypeParticipantLeft, ID: m.grant.Identity})
	s.reapLocked(r)
	return removal{m: m, notices: ns}
}

// reapLocked forgets an empty room (an ended room is kept a while so its
// tokens cannot start it again).
func (s *Server) reapLocked(r *room) {
	if r.ended || len(r.members) > 0 || len(r.lobby) > 0 || len(r.admitted) > 0 || len(r.banned) > 0 {
		return
	}
	for _, t := range r.timers {
		t.Stop()
	}
	delete(s.rooms, r.id)
}

// finish runs a removal's call-outs.
func (s *Server) finish(rm removal) {
	rm.m.relay.close()
	rm.m.media.Leave()
	sendAll(rm.notices)
	s.log.Info("participant left", "room", rm.m.grant.Room, "identity", rm.m.grant.Identity)
	if s.cfg.Hooks != nil {
		s.cfg.Hooks.ParticipantLeft(rm.m.grant.Room, rm.m.grant)
	}
}

// park keeps an away member's media for the resume window.
func (s *Server) park(m *member, c *conn) {
	s.mu.Lock()
	r := s.rooms[m.grant.Room]
	if r == nil || r.members[m.grant.Identity] != m || m.c != c {
		s.mu.Unlock()
		return // replaced, removed or ended meanwhile
	}
	if s.closed {
		rm := s.removeMemberLocked(r, m)
		s.mu.Unlock()
		s.finish(rm)
		return
	}
	m.c = nil
	m.parkGen++
	gen := m.parkGen
	m.parked = time.AfterFunc(s.cfg.ResumeWindow, func() { s.parkExpired(m, gen) })
	ns := broadcastAboutLocked(r, m, Outbound{Type: TypeParticipantUpdated, Participant: ptr(m.view())})
	s.mu.Unlock()
	m.relay.detach(c)
	sendAll(ns)
	s.log.Info("participant away; keeping its media for the resume window", "room", m.grant.Room, "identity", m.grant.Identity)
}

func (s *Server) parkExpired(m *member, gen int) {
	s.mu.Lock()
	r := s.rooms[m.grant.Room]
	if r == nil || r.members[m.grant.Identity] != m || m.parked == nil || m.parkGen != gen {
		s.mu.Unlock()
		return
	}
	rm := s.removeMemberLocked(r, m)
	s.mu.Unlock()
	s.finish(rm)
}

// leave removes a member for good (the client said leave).
func (s *Server) leave(m *member, c *conn) {
	s.mu.Lock()
	r := s.rooms[m.grant.Room]
	if r == nil || r.members[m.grant.Identity] != m || m.c != c {
		s.mu.Unlock()
		return
	}
	rm := s.removeMemberLocked(r, m)
	s.mu.Unlock()
	s.finish(rm)
}

// leaveLobby takes a waiter out of the lobby: at once when it left, after
// the resume window when its connection dropped.
func (s *Server) leaveLobby(g roomtoken.Grant, c *conn, now bool) {
	s.mu.Lock()
	r := s.rooms[g.Room]
	if r == nil {
		s.mu.Unlock()
		return
	}
	for _, w := range r.lobby {
		if w.grant.Identity != g.Identity || w.c != c {
			continue
		}
		if now || s.closed {
			ns := s.dropWaiterLocked(r, w)
			s.mu.Unlock()
			sendAll(ns)
			return
		}
		w.c = nil
		w.parkGen++
		gen := w.parkGen
		w.parked = time.AfterFunc(s.cfg.ResumeWindow, func() {
			s.mu.Lock()
			var ns []notice
			if w.parked != nil && w.parkGen == gen {
				ns = s.dropWaiterLocked(r, w)
			}
			s.mu.Unlock()
			sendAll(ns)
		})
		break
	}
	s.mu.Unlock()
}

// dropWaiterLocked takes w out of r's lobby and returns the notices of the
// moved line.
func (s *Server) dropWaiterLocked(r *room, w *waiter) []notice {
	for i, x := range r.lobby {
		if x == w {
			r.lobby = append(r.lobby[:i], r.lobby[i+1:]...)
			ns := lobbyNoticesLocked(r)
			s.reapLocked(r)
			return ns
		}
	}
	return nil
}

// warnRoom tells everyone the session ends soon.
func (s *Server) warnRoom(id string) {
	s.mu.Lock()
	r := s.rooms[id]
	if r == nil || r.ended {
		s.mu.Unlock()
		return
	}
	endsAt := r.endsAt
	ns := broadcastLocked(r, "", Outbound{Type: TypeTimeWarning, Seconds: int(time.Until(endsAt).Round(time.Second).Seconds()), EndsAt: &endsAt})
	s.mu.Unlock()
	sendAll(ns)
}

// endRoom ends a session for everyone: members and waiters get a bye, the
// media sessions end, and the room refuses joins for EndedRetention.
func (s *Server) endRoom(id, reason string) {
	s.mu.Lock()
	r := s.rooms[id]
	if r == nil || r.ended {
		s.mu.Unlock()
		return
	}
	r.ended = true
	for _, t := range r.timers {
		t.Stop()
	}
	var rms []removal
	var conns []*conn
	for _, m := range r.members {
		if m.c != nil {
			conns = append(conns, m.c)
		}
		rm := removal{m: m}
		if m.parked != nil {
			m.parked.Stop()
		}
		rms = append(rms, rm)
	}
	r.members = map[string]*member{}
	for _, w := range r.lobby {
		if w.parked != nil {
			w.parked.Stop()
		}
		if w.c != nil {
			conns = append(conns, w.c)
		}
	}
	r.lobby = nil
	r.timers = []*time.Timer{time.AfterFunc(s.cfg.EndedRetention, func() {
		s.mu.Lock()
		if s.rooms[id] == r {
			delete(s.rooms, id)
		}
		s.mu.Unlock()
	})}
	s.mu.Unlock()
	for _, c := range conns {
		c.kick(reason)
	}
	for _, rm := range rms {
		s.finish(rm)
	}
	s.log.Info("session ended", "room", id, "reason", reason)
}

func ptr[T any](v T) *T { return &v }

// moderation: each call is made by an admitted member with Moderate.

func (s *Server) findLocked(room string) (*room, error) {
	r := s.rooms[room]
	if r == nil || r.ended {
		return nil, apperr.New(apperr.Conflict, "本场已结束 / this session has ended")
	}
	return r, nil
}

// admit lets a waiter in: the one named, or the first in line.
func (s *Server) admit(room, id string) error {
	s.mu.Lock()
	r, err := s.findLocked(room)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	idx := -1
	for i, w := range r.lobby {
		if id == "" || w.grant.Identity == id {
			idx = i
			break
		}
	}
	if idx < 0 {
		s.mu.Unlock()
		if id == "" {
			return apperr.New(apperr.NotFound, "大厅里没有人在等 / nobody is waiting in the lobby")
		}
		return apperr.New(apperr.NotFound, "%s is not waiting in the lobby", id)
	}
	w := r.lobby[idx]
	r.lobby = append(r.lobby[:idx], r.lobby[idx+1:]...)
	if w.parked != nil {
		w.parked.Stop()
	}
	r.admitted[w.grant.Identity] = true // honoured whenever the waiter (re)joins
	ns := lobbyNoticesLocked(r)
	c := w.c
	s.mu.Unlock()
	if c != nil {
		c.post(event{admitted: true})
	}
	sendAll(ns)
	return nil
}

// reject refuses a waiter.
func (s *Server) reject(room, id, reason string) error {
	s.mu.Lock()
	r, err := s.findLocked(room)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	for _, w := range r.lobby {
		if w.grant.Identity != id {
			continue
		}
		if w.parked != nil {
			w.parked.Stop()
		}
		ns := s.dropWaiterLocked(r, w)
		c := w.c
		s.mu.Unlock()
		if c != nil {
			if reason != "" {
				c.post(event{out: &Outbound{Type: TypeError, Code: apperr.Forbidden, Message: reason, Ref: TypeReject}})
			}
			c.kick(ByeRejected)
		}
		sendAll(ns)
		return nil
	}
	s.mu.Unlock()
	return apperr.New(apperr.NotFound, "%s is not waiting in the lobby", id)
}

// kick removes a member for good; it may not come back with the same identity.
func (s *Server) kickMember(room, by, id string) error {
	if id == by {
		return apperr.New(apperr.Invalid, "use leave to leave the room yourself")
	}
	s.mu.Lock()
	r, err := s.findLocked(room)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	m := r.members[id]
	if m == nil {
		s.mu.Unlock()
		return apperr.New(apperr.NotFound, "%s is not in the room", id)
	}
	r.banned[id] = true
	c := m.c
	rm := s.removeMemberLocked(r, m)
	s.mu.Unlock()
	if c != nil {
		c.kick(ByeRemoved)
	}
	s.finish(rm)
	return nil
}

// mute records a moderator's mute and tells the participant to mute.
func (s *Server) mute(room string, by Participant, id, source string) error {
	s.mu.Lock()
	r, err := s.findLocked(room)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	m := r.members[id]
	if m == nil {
		s.mu.Unlock()
		return apperr.New(apperr.NotFound, "%s is not in the room", id)
	}
	if m.muted == nil {
		m.muted = map[string]bool{}
	}
	m.muted[source] = true
	ns := broadcastAboutLocked(r, m, Outbound{Type: TypeParticipantUpdated, Participant: ptr(m.view())})
	if m.c != nil {
		ns = append(ns, notice{m.c, Outbound{Type: TypeMuted, Source: source, From: &by}})
	}
	media := m.media
	s.mu.Unlock()
	if mm, ok := media.(SourceMuter); ok {
		if err := mm.MuteSource(source, true); err != nil {
			s.log.Warn("server-side mute failed", "room", room, "identity", id, "err", err)
		}
	}
	sendAll(ns)
	return nil
}

// muteState records a participant's own mute switch and tells the others.
func (s *Server) muteState(m *member, source string, muted bool) {
	s.mu.Lock()
	r := s.rooms[m.grant.Room]
	if r == nil || r.members[m.grant.Identity] != m {
		s.mu.Unlock()
		return
	}
	if m.muted == nil {
		m.muted = map[string]bool{}
	}
	wasMuted := m.muted[source]
	m.muted[source] = muted
	ns := broadcastAboutLocked(r, m, Outbound{Type: TypeParticipantUpdated, Participant: ptr(m.view())})
	media := m.media
	s.mu.Unlock()
	// Unmuting oneself lifts a moderator's server-side mute as well.
	if wasMuted && !muted {
		if mm, ok := media.(SourceMuter); ok {
			if err := mm.MuteSource(source, false); err != nil {
				s.log.Warn("server-side unmute failed", "room", m.grant.Room, "identity", m.grant.Identity, "err", err)
			}
		}
	}
	sendAll(ns)
}

// maxDeclaredTracks bounds a member's declared tracks (the SFU takes 8).
const maxDeclaredTracks = 8

// declare records which source a member's track is (publish) or drops it
// (unpublish, source ""), and tells the others.
func (s *Server) declare(m *member, track, source string) error {
	s.mu.Lock()
	r := s.rooms[m.grant.Room]
	if r == nil || r.members[m.grant.Identity] != m {
		s.mu.Unlock()
		return nil
	}
	if source == "" {
		if _, ok := m.tracks[track]; !ok {
			s.mu.Unlock()
			return apperr.New(apperr.NotFound, "track %s was not published", track)
		}
		delete(m.tracks, track)
	} else {
		if m.tracks == nil {
			m.tracks = map[string]string{}
		}
		if _, ok := m.tracks[track]; !ok && len(m.tracks) >= maxDeclaredTracks {
			s.mu.Unlock()
			return apperr.New(apperr.TooLarge, "at most %d published tracks", maxDeclaredTracks)
		}
		m.tracks[track] = source
	}
	ns := broadcastAboutLocked(r, m, Outbound{Type: TypeParticipantUpdated, Participant: ptr(m.view())})
	s.mu.Unlock()
	sendAll(ns)
	return nil
}

// chat sends text from a member to everyone in the room, itself included,
// stamped by the server.
func (s *Server) chat(m *member, text string) {
	s.mu.Lock()
	r := s.rooms[m.grant.Room]
	if r == nil || r.members[m.grant.Identity] != m {
		s.mu.Unlock()
		return
	}
	from := Participant{ID: m.grant.Identity, Name: m.grant.Name, Role: m.grant.Role}
	ns := broadcastLocked(r, "", Outbound{Type: TypeChat, From: &from, Text: text, TS: time.Now().UnixMilli()})
	s.mu.Unlock()
	sendAll(ns)
}
