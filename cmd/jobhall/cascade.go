package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"jobhall/cascade"
	"jobhall/cluster"
	"jobhall/internal/roomtoken"
	"jobhall/signaling"
)

// cascadeNode is this node's part in cascaded broadcasts (cluster mode
// only): the Origin handler other nodes dial for rooms placed here, and an
// Edge that relays rooms placed elsewhere to viewers who joined here.
//
// Goroutines: the Edge's (package cascade) and one follower goroutine that,
// every followEvery, re-resolves the origin of each relayed room whose link
// is down (the origin died and the room was placed again) and moves the
// link there. Locks: mu guards rooms; it is never held while calling the
// Edge, the cluster or signalling.
type cascadeNode struct {
	a      *app
	origin *cascade.Origin
	edge   *cascade.Edge
	stop   context.CancelFunc // set by start
	done   chan struct{}      // closed when the follower has exited

	mu sync.Mutex
	// rooms this node serves only as an edge: room -> origin base URL, and
	// when the room was last seen active here (for pruning).
	rooms map[string]*edgeRoom
}

type edgeRoom struct {
	origin string
	seen   time.Time
}

const (
	followEvery = 500 * time.Millisecond
	// edgeForget drops a relayed room's mark once it has had no member here
	// this long (the Edge's own idle timeout ends the link at 30 s).
	edgeForget = 35 * time.Second
)

// cascadeSecret derives the node-to-node relay secret from the token
// secret, so operators configure one secret and neither leaks the other.
func cascadeSecret(tokenSecret []byte) []byte {
	m := hmac.New(sha256.New, tokenSecret)
	m.Write([]byte("cascade"))
	return m.Sum(nil)
}

// newCascade wires the origin handler (mounted by the caller at
// cascade.OriginPath) and the edge; it needs a.node and a.sfu.
func (a *app) newCascade(tokenSecret []byte) error {
	sec := cascadeSecret(tokenSecret)
	o, err := cascade.NewOrigin(a.sfu, sec, a.log)
	if err != nil {
		return err
	}
	e, err := cascade.NewEdge(cascade.EdgeConfig{SFU: a.sfu, Secret: sec, NodeID: a.node.c.Self(), Logger: a.log})
	if err != nil {
		o.Close()
		return err
	}
	c := &cascadeNode{a: a, origin: o, edge: e, rooms: map[string]*edgeRoom{}}
	a.cascade = c
	a.node.edge = c
	return nil
}

// start runs the follower; signalling must exist by then.
func (c *cascadeNode) start() {
	ctx, stop := context.WithCancel(context.Background())
	c.stop, c.done = stop, make(chan struct{})
	go c.follow(ctx)
}

// close stops following, then the edge links, then the origin's relays.
func (c *cascadeNode) close() {
	if c.stop != nil {
		c.stop()
		<-c.done
	}
	c.edge.Close()
	c.origin.Close()
}

// ServeHere implements edgeJoiner: a viewer of a training broadcast
// (a course room) placed on another node watches it here, relayed once per
// node; everyone else goes to the origin. Other rooms are never relayed:
// interviews are recorded on their node, and meetings are two-way.
func (c *cascadeNode) ServeHere(ctx context.Context, g roomtoken.Grant, origin cluster.Node) (bool, error) {
	if g.Role != roomtoken.RoleViewer || !isCourseRoom(g.Room) || c.a.node.c.Draining() {
		return false, nil
	}
	base := strings.TrimRight(origin.Peer(), "/")
	c.mu.Lock()
	old := ""
	if r := c.rooms[g.Room]; r != nil {
		old = r.origin
	}
	c.rooms[g.Room] = &edgeRoom{origin: base, seen: time.Now()}
	c.mu.Unlock()
	if old != "" && old != base {
		// The room moved: the old link would keep dialling a dead origin.
		c.a.log.Info("cascade: room moved; relaying from its new origin", "room", g.Room, "from", old, "to", base)
		c.edge.Stop(g.Room, old)
	}
	if err := c.edge.EnsureEdge(ctx, g.Room, base); err != nil {
		return false, err
	}
	return true, nil
}

// Relays implements edgeJoiner: whether room is here only as an edge.
func (c *cascadeNode) Relays(room string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rooms[room] != nil
}

// Placed implements edgeJoiner: room is placed on this node now (its
// origin died and it came here): stop relaying it from elsewhere.
func (c *cascadeNode) Placed(room string) {
	c.mu.Lock()
	r := c.rooms[room]
	delete(c.rooms, room)
	c.mu.Unlock()
	if r != nil {
		c.a.log.Info("cascade: room placed here; no longer an edge for it", "room", room, "was", r.origin)
		c.edge.Stop(room, r.origin)
	}
}

// follow moves the links of relayed rooms whose origin went away: the
// viewers here keep their connection to this node, so nobody rejoins to
// trigger ServeHere; the room's new origin is read from the registry
// (without placing it: the trainer's rejoin does that).
func (c *cascadeNode) follow(ctx context.Context) {
	defer close(c.done)
	every(ctx, followEvery, func() { c.followOnce(ctx) })
}

func (c *cascadeNode) followOnce(ctx context.Context) {
	up := map[string]bool{} // room|origin -> connected
	for _, l := range c.edge.Links() {
		up[l.Room+"|"+l.Origin] = l.Connected
	}
	c.mu.Lock()
	rooms := make([]string, 0, len(c.rooms))
	for room := range c.rooms {
		rooms = append(rooms, room)
	}
	c.mu.Unlock()
	active := make(map[string]bool, len(rooms))
	for _, room := range rooms {
		active[room] = c.a.signaling.RoomActive(room)
	}
	now := time.Now()
	type item struct{ room, origin string }
	var check []item
	c.mu.Lock()
	for room, r := range c.rooms {
		a, known := active[room]
		if !known {
			continue // marked since the snapshot: next round
		}
		if a {
			r.seen = now
		} else if now.Sub(r.seen) > edgeForget {
			delete(c.rooms, room)
			continue
		}
		if a && !up[room+"|"+r.origin] {
			check = append(check, item{room, r.origin})
		}
	}
	c.mu.Unlock()
	for _, it := range check {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n, ok, err := c.a.node.c.Holder(hctx, it.room)
		cancel()
		if err != nil || !ok {
			continue // not placed again yet (or Redis away): the link keeps retrying
		}
		if n.ID == c.a.node.c.Self() {
			c.Placed(it.room)
			continue
		}
		base := strings.TrimRight(n.Peer(), "/")
		if base == it.origin {
			if _, exists := up[it.room+"|"+it.origin]; exists {
				continue // same origin: the link reconnects on its own
			}
			// The link gave up (the origin refused it): try again, at this
			// loop's pace, while viewers are here.
		} else {
			c.a.log.Info("cascade: origin moved; following", "room", it.room, "from", it.origin, "to", base)
		}
		c.mu.Lock()
		if r := c.rooms[it.room]; r != nil && r.origin == it.origin {
			r.origin = base
		}
		c.mu.Unlock()
		c.edge.Stop(it.room, it.origin)
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := c.edge.EnsureEdge(ectx, it.room, base); err != nil {
			lvl := slog.LevelWarn
			if base == it.origin {
				lvl = slog.LevelDebug // a refusal repeats at this loop's pace
			}
			c.a.log.Log(ctx, lvl, "cascade: origin not reached", "room", it.room, "origin", base, "err", err)
		}
		cancel()
	}
}

// remoteMembers is signaling.Config.RemoteMembers: on an edge, the room's
// publishers (trainers) as the origin's shared room state lists them, so
// viewers here see who they watch (the tracks come under the same ids). A
// snapshot at join; nil on the origin or without Redis.
func (c *cascadeNode) remoteMembers(room string) []signaling.Participant {
	if !c.Relays(room) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rs, ok, err := c.a.node.c.RoomState(ctx, room)
	if err != nil || !ok || rs.Node == c.a.node.c.Self() {
		return nil
	}
	var out []signaling.Participant
	for _, p := range rs.Members {
		if p.Role == roomtoken.RoleViewer || strings.HasPrefix(p.ID, cascade.RelayIDPrefix) {
			continue // viewers on other nodes are not listed; relay inputs never
		}
		connected := p.Connected
		out = append(out, signaling.Participant{ID: p.ID, Name: p.Name, Role: p.Role, Connected: &connected})
	}
	return out
}

// status is the debug listener's GET /cascade: this node's links (as an
// edge) and relay counters (as an origin), and what each track delivered.
func (c *cascadeNode) status(w http.ResponseWriter, _ *http.Request) {
	st := c.a.sfu.Stats()
	c.mu.Lock()
	rooms := make(map[string]string, len(c.rooms))
	for room, r := range c.rooms {
		rooms[room] = r.origin
	}
	c.mu.Unlock()
	writeJSON(w, map[string]any{
		"node": c.a.node.c.Self(), "edge_rooms": rooms, "links": c.edge.Links(),
		"relays": st.Relays, "relay_inputs": st.RelayInputs, "published": st.Published,
	})
}

var _ edgeJoiner = (*cascadeNode)(nil)
