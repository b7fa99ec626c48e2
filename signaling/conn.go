package signaling

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/internal/mailbox"
	"jobhall/internal/roomtoken"
)

var _ MediaEvents = (*relay)(nil)

const (
	// Channel buffers are allocated up front for every connection, so they
	// are sized for bursts (a renegotiation's candidates), not more: ten
	// thousand idle connections must fit in well under a gigabyte.
	inboxSize  = 16
	outboxSize = 64
	// maxEvents bounds a connection's queued events (room presence, media
	// states); more means the client is too slow. The queue holds only
	// what is pending, so an idle connection costs nothing for it.
	maxEvents = 128
	// hardFrameLimit bounds what the reader will even skip over; a frame
	// larger than this closes the connection.
	hardFrameLimit = 4 << 20
	// maxRateStrikes is how many over-rate frames end a connection.
	maxRateStrikes = 500
	writeWait      = 10 * time.Second
)

// frame is one read result handed from the reader to the owner.
type frame struct {
	data     []byte
	tooLarge int // size of a skipped oversized frame, else 0
	limited  bool
}

// event is something another goroutine asks the owner to do.
type event struct {
	out      *Outbound // forward to the client
	kick     string    // end the connection with this reason
	admitted bool      // a moderator let this waiter in
	// media events
	state       webrtc.PeerConnectionState
	stateTarget Target
}

type conn struct {
	s  *Server
	ws *websocket.Conn

	inbox      chan frame          // reader -> owner
	events     *mailbox.Box[event] // anyone -> owner, never blocks the sender; at most maxEvents
	outbox     chan []byte         // owner -> writer: encoded frames
	readerDone chan struct{}
	done       chan struct{} // closed when the owner has finished
	lastRead   atomic.Int64  // unix nanoseconds of the last frame or pong read
	kickOnce   sync.Once

	// Owned by the owner goroutine.
	hello  bool
	hint   string           // placement note from the ?placement= query parameter
	grant  *roomtoken.Grant // set by a successful join (member or waiter)
	perms  Permissions
	m      *member // set once admitted
	left   bool    // the client said leave: no resume window
	ending bool
}

func newConn(s *Server, ws *websocket.Conn) *conn {
	return &conn{
		s: s, ws: ws,
		inbox:      make(chan frame, inboxSize),
		events:     mailbox.New[event](maxEvents),
		outbox:     make(chan []byte, outboxSize),
		readerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// serve runs the connection until it ends.
func (c *conn) serve() {
	writerDone := make(chan struct{})
	go func() { c.writeLoop(); close(writerDone) }()
	go c.readLoop()
	c.run()
	close(c.outbox)
	<-writerDone
	_ = c.ws.Close()
	<-c.readerDone
}

// post hands an event to the owner without blocking; a connection whose
// mailbox is full is too slow and gets closed.
func (c *conn) post(ev event) {
	select {
	case <-c.done:
		return
	default:
	}
	if !c.events.Push(ev) {
		c.s.framesDropped.Add(1)
		c.kick("too_slow")
	}
}

// kick asks the connection to end; safe from any goroutine.
func (c *conn) kick(reason string) {
	c.kickOnce.Do(func() {
		c.s.kicked.Add(1)
		if !c.events.Push(event{kick: reason}) {
			// Mailbox full: close the socket so the reader fails and the owner ends.
			_ = c.ws.Close()
		}
	})
}

func (c *conn) readLoop() {
	defer close(c.readerDone)
	max := c.s.cfg.MaxMessageBytes
	c.ws.SetReadLimit(hardFrameLimit)
	idle := c.s.cfg.IdleTimeout
	_ = c.ws.SetReadDeadline(time.Now().Add(idle))
	c.ws.SetPongHandler(func(string) error {
		now := time.Now()
		c.lastRead.Store(now.UnixNano())
		return c.ws.SetReadDeadline(now.Add(idle))
	})
	bucket := newTokenBucket(c.s.cfg.RatePerSecond, c.s.cfg.RateBurst)
	strikes := 0
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		now := time.Now()
		c.lastRead.Store(now.UnixNano())
		_ = c.ws.SetReadDeadline(now.Add(idle))
		// Read one byte past the limit to tell an oversized frame, then skip
		// the rest of it without keeping it.
		data, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
		if err != nil {
			return
		}
		f := frame{data: data}
		if len(data) > max {
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				return
			}
			f = frame{tooLarge: len(data) + int(n)}
		}
		if !bucket.take(time.Now()) {
			strikes++
			if strikes > maxRateStrikes {
				c.kick("rate_limited")
				return
			}
			f = frame{limited: true}
		}
		select {
		case c.inbox <- f:
		case <-c.done:
			return
		}
	}
}

func (c *conn) writeLoop() {
	t := time.NewTicker(c.s.cfg.PingInterval)
	defer t.Stop()
	failed := false
	for {
		select {
		case m, ok := <-c.outbox:
			if !ok {
				if !failed {
					_ = c.ws.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				}
				return
			}
			if failed {
				continue // drain so the owner never blocks
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, m); err != nil {
				failed = true
				_ = c.ws.Close()
			}
		case now := <-t.C:
			// A client that spoke recently is alive: a ping would only cost
			// two syscalls per connection per period.
			if now.UnixNano()-c.lastRead.Load() < int64(c.s.cfg.PingInterval) {
				continue
			}
			if !failed {
				if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
					failed = true
					_ = c.ws.Close()
				}
			}
		}
	}
}

// send queues a frame for the writer; a full queue means the client is not
// reading, and the connection ends.
func (c *conn) send(m Outbound) {
	select {
	case c.outbox <- encode(m):
	default:
		c.s.framesDropped.Add(1)
		c.ending = true
	}
}

func encode(m Outbound) []byte {
	b, err := json.Marshal(m)
	if err != nil { // cannot happen for our own types; never send half a frame
		b, _ = json.Marshal(Outbound{Type: TypeError, Code: apperr.Internal, Message: "internal error"})
	}
	return b
}

// run is the owner loop.
func (c *conn) run() {
	defer close(c.done)
	defer c.cleanup()
	joinTimer := time.NewTimer(c.s.cfg.JoinTimeout)
	defer joinTimer.Stop()
	for !c.ending {
		select {
		case f := <-c.inbox:
			c.s.framesIn.Add(1)
			c.handleFrame(f)
		case <-c.events.Wake():
			for !c.ending {
				ev, ok := c.events.Take()
				if !ok {
					break
				}
				c.handleEvent(ev)
			}
		case <-joinTimer.C:
			if c.grant == nil {
				c.send(Outbound{Type: TypeError, Code: apperr.Unauthorized, Message: "no join within the time limit"})
				c.send(Outbound{Type: TypeBye, Reason: "join_timeout"})
				return
			}
		case <-c.readerDone:
			return
		}
	}
}

func (c *conn) handleEvent(ev event) {
	switch {
	case ev.kick != "":
		c.send(Outbound{Type: TypeBye, Reason: ev.kick})
		c.ending = true
		switch ev.kick {
		case ByeRemoved, ByeRejected, ByeEnded, ByeTimeLimit:
			c.left = true // nothing to come back to
		}
	case ev.admitted:
		if c.grant != nil && c.m == nil {
			if err := c.becomeMember(*c.grant, nil, false); err != nil {
				c.send(errorFrame(err, TypeAdmit))
				c.send(Outbound{Type: TypeBye, Reason: ByeRejected})
				c.ending = true
			}
		}
	case ev.out != nil:
		c.send(*ev.out)
	case ev.state != webrtc.PeerConnectionStateUnknown:
		if c.grant != nil {
			c.s.log.Debug("peer connection state", "room", c.grant.Room, "identity", c.grant.Identity,
				"target", ev.stateTarget, "state", ev.state.String())
		}
	}
}

func (c *conn) handleFrame(f frame) {
	if f.limited {
		c.s.framesBad.Add(1)
		c.send(Outbound{Type: TypeError, Code: apperr.RateLimited, Message: "too many messages; slow down"})
		return
	}
	if f.tooLarge > 0 {
		c.s.framesBad.Add(1)
		c.send(errorFrame(apperr.New(apperr.TooLarge, "message of %d bytes is over the %d-byte limit",
			f.tooLarge, c.s.cfg.MaxMessageBytes), ""))
		return
	}
	m, err := Decode(f.data)
	if err != nil {
		c.s.framesBad.Add(1)
		c.send(errorFrame(err, m.Type))
		return
	}
	if err := c.handle(m); err != nil {
		c.s.framesBad.Add(1)
		c.send(errorFrame(err, m.Type))
	}
}

func (c *conn) handle(m Inbound) error {
	switch m.Type {
	case TypePing:
		c.send(Outbound{Type: TypePong, TS: m.TS})
		return nil
	case TypeHello:
		if m.Version != ProtocolVersion {
			return apperr.New(apperr.Invalid, "protocol version %d is not supported; this server speaks %d", m.Version, ProtocolVersion)
		}
		c.hello = true
		c.send(Outbound{Type: TypeWelcome, Version: ProtocolVersion, Server: "jobhall"})
		return nil
	}
	if !c.hello {
		return apperr.New(apperr.Invalid, "send hello first")
	}
	if m.Type == TypeJoin {
		return c.join(m.Room, m.Token, m.Resume)
	}
	if c.grant == nil {
		return apperr.New(apperr.Invalid, "join a room first")
	}
	if m.Type == TypeLeave {
		c.send(Outbound{Type: TypeBye, Reason: ByeLeft})
		c.left, c.ending = true, true
		return nil
	}
	if c.m == nil {
		return apperr.New(apperr.Forbidden, "您还在等候大厅中，请等待主持人请您进入 / you are still in the lobby: wait until the host admits you")
	}
	g := *c.grant
	media := c.m.media
	switch m.Type {
	case TypeOffer:
		if len(c.perms.Publish) == 0 {
			return apperr.New(apperr.Forbidden, "your role (%s) may not publish", g.Role)
		}
		ans, err := media.Publish(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP})
		if err != nil {
			return err
		}
		c.send(Outbound{Type: TypeAnswer, Target: TargetPublisher, SDP: ans.SDP})
	case TypeAnswer:
		if err := media.SetSubscriberAnswer(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			return err
		}
		c.m.relay.answered()
	case TypeCandidate:
		if m.Target == TargetPublisher && len(c.perms.Publish) == 0 {
			return apperr.New(apperr.Forbidden, "your role (%s) may not publish", g.Role)
		}
		return media.AddICECandidate(m.Target, *m.Candidate)
	case TypeMuteState:
		c.s.muteState(c.m, m.Source, *m.Muted)
	case TypePublish:
		if !slices.Contains(c.perms.Publish, m.Source) {
			return apperr.New(apperr.Forbidden, "your role (%s) may not publish %s", g.Role, m.Source)
		}
		return c.s.declare(c.m, m.Track, m.Source)
	case TypeUnpublish:
		return c.s.declare(c.m, m.Track, "")
	case TypeRestartICE:
		ir, ok := media.(ICERestarter)
		if !ok {
			return apperr.New(apperr.Invalid, "this server cannot restart ICE; rejoin instead")
		}
		return ir.RestartICE()
	case TypeSubscribe:
		vp, ok := media.(VideoPreferrer)
		if !ok {
			return apperr.New(apperr.Invalid, "this server does not choose video sizes per viewer")
		}
		return vp.SetVideoPreference(m.ID, m.Track, m.MaxWidth, m.MaxHeight)
	case TypeChat:
		if !c.perms.Chat {
			return apperr.New(apperr.Forbidden, "your role (%s) may not chat", g.Role)
		}
		c.s.chat(c.m, m.Text)
	case TypeAdmit, TypeReject, TypeKick, TypeMute, TypeEnd:
		if !c.perms.Moderate {
			return apperr.New(apperr.Forbidden, "只有主持人可以这样做 / only a host may %s (your role: %s)", m.Type, g.Role)
		}
		switch m.Type {
		case TypeAdmit:
			return c.s.admit(g.Room, m.ID)
		case TypeReject:
			return c.s.reject(g.Room, m.ID, m.Reason)
		case TypeKick:
			return c.s.kickMember(g.Room, g.Identity, m.ID)
		case TypeMute:
			return c.s.mute(g.Room, Participant{ID: g.Identity, Name: g.Name, Role: g.Role}, m.ID, m.Source)
		case TypeEnd:
			c.s.endRoom(g.Room, ByeEnded)
		}
	}
	return nil
}

func (c *conn) join(room, token string, resume bool) error {
	if c.grant != nil {
		return apperr.New(apperr.Conflict, "already joined room %s", c.grant.Room)
	}
	g, err := c.s.cfg.Tokens.Verify(token, room)
	if err != nil {
		return err
	}
	if c.s.cfg.Placer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), placeTimeout)
		url, err := c.s.cfg.Placer.Place(ctx, g, c.hint)
		cancel()
		if err != nil {
			return err
		}
		if url != "" {
			// The room lives on another node: the client reconnects there
			// (media then goes straight to that node).
			c.send(Outbound{Type: TypeRedirect, URL: url})
			c.send(Outbound{Type: TypeBye, Reason: ByeRedirect})
			c.ending = true
			return nil
		}
	}
	perms := permissionsFor(g.Role)
	res, err := c.s.enter(g, perms, c, resume)
	if err != nil {
		return err
	}
	if res.oldConn != nil && res.oldConn != c {
		res.oldConn.kick(ByeReplaced) // the newer connection wins
	}
	c.grant, c.perms = &g, perms
	switch res.kind {
	case enterLobby:
		c.send(Outbound{Type: TypeLobby, Room: g.Room, Self: &Participant{ID: g.Identity, Name: g.Name, Role: g.Role},
			Position: res.position, Permissions: &perms})
		c.s.mu.Lock()
		var ns []notice
		for _, n := range lobbyNoticesLocked(c.s.roomLocked(g.Room)) {
			if n.c != c { // it has just been told its position
				ns = append(ns, n)
			}
		}
		c.s.mu.Unlock()
		sendAll(ns)
		c.s.log.Info("participant waiting in the lobby", "room", g.Room, "identity", g.Identity, "position", res.position)
		if c.s.cfg.Hooks != nil && res.oldConn == nil {
			c.s.cfg.Hooks.ParticipantWaiting(g.Room, g)
		}
		return nil
	case enterResume:
		c.m = res.m
		catchUp := res.m.relay.attach(c)
		c.s.mu.Lock()
		r := c.s.roomLocked(g.Room)
		var list []Participant
		for id, o := range r.members {
			if id != g.Identity && !apart(res.m, o) {
				list = append(list, o.view())
			}
		}
		ns := broadcastAboutLocked(r, res.m, Outbound{Type: TypeParticipantUpdated, Participant: ptr(res.m.view())})
		endsAt := r.endsAt
		c.s.mu.Unlock()
		c.sendJoined(g, perms, list, endsAt, true)
		for _, o := range catchUp {
			c.send(o)
		}
		sendAll(ns)
		c.s.log.Info("participant resumed", "room", g.Room, "identity", g.Identity)
		return nil
	}
	if res.oldMedia != nil {
		res.oldMedia.Leave()
	}
	return c.becomeMember(g, nil, res.replaced)
}

// becomeMember creates the media session and registers the member.
func (c *conn) becomeMember(g roomtoken.Grant, _ *member, replaced bool) error {
	rl := &relay{c: c}
	media, err := c.s.cfg.Engine.Join(g.Room, MediaParticipant{
		ID: g.Identity, Name: g.Name, CanPublish: len(c.perms.Publish) > 0, CanSubscribe: c.perms.Subscribe,
	}, rl)
	if err != nil {
		return apperr.Wrap(err, apperr.CodeOf(err), "could not join the media room")
	}
	m := &member{grant: g, perms: c.perms, media: media, relay: rl, c: c}
	others, list, waiting, endsAt, err := c.s.addMember(m, replaced)
	if err != nil {
		media.Leave()
		return err
	}
	c.m = m
	c.sendJoined(g, c.perms, list, endsAt, false)
	if len(waiting) > 0 {
		c.send(Outbound{Type: TypeLobbyUpdate, Waiting: waiting})
	}
	if !replaced {
		self := m.view()
		for _, o := range others {
			o.post(event{out: &Outbound{Type: TypeParticipantJoined, Participant: &self}})
		}
	}
	c.s.log.Info("participant joined", "room", g.Room, "identity", g.Identity, "role", g.Role, "replaced", replaced)
	if c.s.cfg.Hooks != nil && !replaced {
		c.s.cfg.Hooks.ParticipantJoined(g.Room, g)
	}
	return nil
}

func (c *conn) sendJoined(g roomtoken.Grant, perms Permissions, list []Participant, endsAt time.Time, resumed bool) {
	self := Participant{ID: g.Identity, Name: g.Name, Role: g.Role}
	rec := c.s.cfg.Recording != nil && c.s.cfg.Recording(g.Room)
	out := Outbound{Type: TypeJoined, Room: g.Room, Self: &self, Participants: list, Permissions: &perms, Recording: &rec, Resumed: resumed}
	if c.s.cfg.RemoteMembers != nil {
		for _, p := range c.s.cfg.RemoteMembers(g.Room) {
			if p.ID != g.Identity && !slices.ContainsFunc(out.Participants, func(q Participant) bool { return q.ID == p.ID }) {
				out.Participants = append(out.Participants, p)
			}
		}
	}
	if out.Participants == nil {
		out.Participants = []Participant{}
	}
	if !endsAt.IsZero() {
		out.EndsAt = &endsAt
	}
	if c.s.cfg.ICEServers != nil {
		out.ICEServers = c.s.cfg.ICEServers(g)
	}
	c.send(out)
}

// cleanup runs when the owner ends: a member that left goes for good; one
// whose connection dropped is parked for the resume window.
func (c *conn) cleanup() {
	if c.grant == nil {
		return
	}
	if c.m == nil {
		c.s.leaveLobby(*c.grant, c, c.left)
		return
	}
	if c.left {
		c.s.leave(c.m, c)
		return
	}
	c.s.park(c.m, c)
}

// tokenBucket is a plain rate limiter owned by one reader goroutine.
type tokenBucket struct {
	rate, tokens, burst float64
	last                time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, tokens: float64(burst), burst: float64(burst)}
}

func (b *tokenBucket) take(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
