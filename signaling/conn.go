package signaling

import (
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

const (
	inboxSize  = 32
	eventsSize = 512
	outboxSize = 256
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
	out  *Outbound // forward to the client
	kick string    // end the connection with this reason
	// media events
	state       webrtc.PeerConnectionState
	stateTarget Target
}

type conn struct {
	s  *Server
	ws *websocket.Conn

	inbox      chan frame    // reader -> owner
	events     chan event    // anyone -> owner, never blocks the sender
	outbox     chan Outbound // owner -> writer
	readerDone chan struct{}
	done       chan struct{} // closed when the owner has finished
	kickOnce   sync.Once

	// Owned by the owner goroutine.
	hello  bool
	grant  *roomtoken.Grant
	media  MediaSession
	perms  Permissions
	ending bool
}

func newConn(s *Server, ws *websocket.Conn) *conn {
	return &conn{
		s: s, ws: ws,
		inbox:      make(chan frame, inboxSize),
		events:     make(chan event, eventsSize),
		outbox:     make(chan Outbound, outboxSize),
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
	case c.events <- ev:
	case <-c.done:
	default:
		c.s.framesDropped.Add(1)
		c.kick("too_slow")
	}
}

// kick asks the connection to end; safe from any goroutine.
func (c *conn) kick(reason string) {
	c.kickOnce.Do(func() {
		c.s.kicked.Add(1)
		select {
		case c.events <- event{kick: reason}:
		default:
			// Mailbox full: close the socket so the reader fails and the owner ends.
			_ = c.ws.Close()
		}
	})
}

// MediaEvents, called from engine goroutines.

func (c *conn) SubscriberOffer(offer webrtc.SessionDescription) {
	c.post(event{out: &Outbound{Type: TypeOffer, Target: TargetSubscriber, SDP: offer.SDP}})
}

func (c *conn) ICECandidate(target Target, cand webrtc.ICECandidateInit) {
	c.post(event{out: &Outbound{Type: TypeCandidate, Target: target, Candidate: &cand}})
}

func (c *conn) ConnectionState(target Target, state webrtc.PeerConnectionState) {
	c.post(event{state: state, stateTarget: target})
}

func (c *conn) readLoop() {
	defer close(c.readerDone)
	max := c.s.cfg.MaxMessageBytes
	c.ws.SetReadLimit(hardFrameLimit)
	idle := c.s.cfg.IdleTimeout
	_ = c.ws.SetReadDeadline(time.Now().Add(idle))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(idle)) })
	bucket := newTokenBucket(c.s.cfg.RatePerSecond, c.s.cfg.RateBurst)
	strikes := 0
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(idle))
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
			if err := c.ws.WriteJSON(m); err != nil {
				failed = true
				_ = c.ws.Close()
			}
		case <-t.C:
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
	case c.outbox <- m:
	default:
		c.s.framesDropped.Add(1)
		c.ending = true
	}
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
		case ev := <-c.events:
			c.handleEvent(ev)
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
		return c.join(m.Room, m.Token)
	}
	if c.grant == nil {
		return apperr.New(apperr.Invalid, "join a room first")
	}
	switch m.Type {
	case TypeOffer:
		if len(c.perms.Publish) == 0 {
			return apperr.New(apperr.Forbidden, "your role (%s) may not publish", c.grant.Role)
		}
		ans, err := c.media.Publish(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP})
		if err != nil {
			return err
		}
		c.send(Outbound{Type: TypeAnswer, Target: TargetPublisher, SDP: ans.SDP})
	case TypeAnswer:
		return c.media.SetSubscriberAnswer(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
	case TypeCandidate:
		if m.Target == TargetPublisher && len(c.perms.Publish) == 0 {
			return apperr.New(apperr.Forbidden, "your role (%s) may not publish", c.grant.Role)
		}
		return c.media.AddICECandidate(m.Target, *m.Candidate)
	case TypeLeave:
		c.send(Outbound{Type: TypeBye, Reason: "left"})
		c.ending = true
	}
	return nil
}

func (c *conn) join(room, token string) error {
	if c.grant != nil {
		return apperr.New(apperr.Conflict, "already joined room %s", c.grant.Room)
	}
	g, err := c.s.cfg.Tokens.Verify(token, room)
	if err != nil {
		return err
	}
	perms := permissionsFor(g.Role)
	self := Participant{ID: g.Identity, Name: g.Name, Role: g.Role}
	old, others, err := c.s.register(g.Room, self, c)
	if err != nil {
		return err
	}
	if old != nil {
		old.kick("replaced") // resume: the newer connection wins
	}
	media, err := c.s.cfg.Engine.Join(g.Room, MediaParticipant{
		ID: g.Identity, Name: g.Name, CanPublish: len(perms.Publish) > 0, CanSubscribe: perms.Subscribe,
	}, c)
	if err != nil {
		c.s.unregister(g.Room, g.Identity, c)
		return apperr.Wrap(err, apperr.CodeOf(err), "could not join the media room")
	}
	c.grant, c.media, c.perms = &g, media, perms
	list := make([]Participant, 0, len(others))
	for _, o := range others {
		list = append(list, o.p)
	}
	rec := c.s.cfg.Recording != nil && c.s.cfg.Recording(g.Room)
	c.send(Outbound{Type: TypeJoined, Room: g.Room, Self: &self, Participants: list, Permissions: &perms, Recording: &rec})
	if old == nil {
		for _, o := range others {
			o.c.post(event{out: &Outbound{Type: TypeParticipantJoined, Participant: &self}})
		}
	}
	c.s.log.Info("participant joined", "room", g.Room, "identity", g.Identity, "role", g.Role, "resumed", old != nil)
	if c.s.cfg.Hooks != nil && old == nil {
		c.s.cfg.Hooks.ParticipantJoined(g.Room, g)
	}
	return nil
}

func (c *conn) cleanup() {
	if c.grant == nil {
		return
	}
	g := *c.grant
	c.media.Leave()
	others, ok := c.s.unregister(g.Room, g.Identity, c)
	if !ok {
		return // replaced by a newer connection: it carries on
	}
	for _, o := range others {
		o.c.post(event{out: &Outbound{Type: TypeParticipantLeft, ID: g.Identity}})
	}
	c.s.log.Info("participant left", "room", g.Room, "identity", g.Identity)
	if c.s.cfg.Hooks != nil {
		c.s.cfg.Hooks.ParticipantLeft(g.Room, g)
	}
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
