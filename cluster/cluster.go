// Package cluster lets several jobhall nodes share one Redis: a registry of
// live nodes (heartbeat with a TTL), the placement of each room on one
// node, and the live state other nodes may show (presence, lobby order,
// fair-wide counters). PostgreSQL stays the record: nothing here decides a
// booking, and everything here is rebuilt from the nodes within a few
// heartbeats after Redis loses it.
//
// Goroutines: one heartbeat loop per Cluster (started by Start, stopped by
// Close); Place runs on its caller's goroutine. Locks: Cluster.mu guards
// the draining flag, the health state, the last published room states and
// the liveness-probe cache; nothing holds it across a Redis call.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"jobhall/internal/apperr"
)

// Node is what a node publishes about itself on every heartbeat.
type Node struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`             // public HTTP base URL of this node (redirect target)
	Media     string    `json:"media,omitempty"` // media address (ip:udp-port) browsers reach
	Capacity  int       `json:"capacity"`        // participants it is sized for
	Load      int       `json:"load"`            // participants now
	Rooms     int       `json:"rooms"`           // active rooms now
	Waiting   int       `json:"waiting"`         // people in its rooms' lobbies
	Draining  bool      `json:"draining,omitempty"`
	Heartbeat time.Time `json:"heartbeat"`
	// Internal is the base URL other nodes reach it at; empty = URL.
	Internal string `json:"internal,omitempty"`
}

// Peer is the base URL other nodes reach n at.
func (n Node) Peer() string {
	if n.Internal != "" {
		return n.Internal
	}
	return n.URL
}

// RoomState is one room's live state, written by the node that holds it.
type RoomState struct {
	Room    string   `json:"room"`
	Node    string   `json:"node"`
	Members []Person `json:"members"`
	Lobby   []Person `json:"lobby,omitempty"` // in queue order: position = index+1
}

// Person is a participant as other nodes see it.
type Person struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Role      string `json:"role"`
	Connected bool   `json:"connected"`
}

// Local is what the heartbeat reads from this node.
type Local struct {
	Load, Waiting int
	Rooms         []RoomState // active rooms (members or waiters)
	// Held are rooms that are not active but must stay placed here (ended
	// rooms that refuse joins for a while).
	Held []string
}

// Config configures a Cluster.
type Config struct {
	RedisURL  string
	Prefix    string        // key prefix; default "jobhall:"
	Self      Node          // ID, URL, Media, Capacity
	Heartbeat time.Duration // default 1 s
	TTL       time.Duration // a node whose heartbeat is older is dead; default 3 s
	// Snapshot reports the node's load and active rooms; called on the
	// heartbeat goroutine, it must not block.
	Snapshot func() Local
	Logger   *slog.Logger
}

// ErrUnavailable is returned (wrapped in an *apperr.Error) when Redis does
// not answer and a room cannot be placed.
var ErrUnavailable = errors.New("cluster: redis unavailable")

const (
	placementTTL   = 60 * time.Second // refreshed by the holder while the room is active
	roomStateTTL   = 30 * time.Second
	lockTTL        = 5 * time.Second
	probeTimeout   = 400 * time.Millisecond
	probeCacheTime = 300 * time.Millisecond
	maxRoomLen     = 128
)

// Cluster is this node's view of the cluster.
type Cluster struct {
	cfg Config
	log *slog.Logger
	rdb *redis.Client
	pfx string

	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	draining  bool
	healthErr error                // last heartbeat's Redis error; nil = healthy
	published map[string]string    // room -> JSON last written
	refreshed map[string]time.Time // room -> when its state was last written
	probes    map[string]probe     // address -> recent liveness result
}

type probe struct {
	ok bool
	at time.Time
}

// New checks the configuration and connects (lazily) to Redis.
func New(cfg Config) (*Cluster, error) {
	if cfg.Self.ID == "" || len(cfg.Self.ID) > 64 {
		return nil, errors.New("cluster: node id must be 1 to 64 characters")
	}
	u, err := url.Parse(cfg.Self.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cluster: node URL %q must be an http(s) URL", cfg.Self.URL)
	}
	if cfg.Self.Capacity <= 0 {
		return nil, errors.New("cluster: node capacity must be positive")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "jobhall:"
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 3 * cfg.Heartbeat
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Snapshot == nil {
		cfg.Snapshot = func() Local { return Local{} }
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: REDIS_URL: %w", err)
	}
	// Short timeouts: a join waits on these, and a dead Redis must be told
	// apart quickly from a slow one.
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
	opt.MaxRetries = 0
	return &Cluster{cfg: cfg, log: cfg.Logger, rdb: redis.NewClient(opt), pfx: cfg.Prefix,
		stop: make(chan struct{}), done: make(chan struct{}),
		healthErr: errors.New("no heartbeat yet"),
		published: map[string]string{}, refreshed: map[string]time.Time{}, probes: map[string]probe{}}, nil
}

// Self is this node's id.
func (c *Cluster) Self() string { return c.cfg.Self.ID }

// Start publishes the first heartbeat (its error is only logged: a node
// starts without Redis and joins the cluster when Redis answers) and runs
// the heartbeat loop until Close.
func (c *Cluster) Start(ctx context.Context) {
	c.beat(ctx)
	go c.loop()
}

// Close stops the heartbeat and withdraws this node from the registry.
func (c *Cluster) Close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	<-c.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.rdb.Del(ctx, c.nodeKey(c.cfg.Self.ID)).Err()
	_ = c.rdb.Close()
}

func (c *Cluster) loop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Heartbeat)
			c.beat(ctx)
			cancel()
		}
	}
}

func (c *Cluster) nodeKey(id string) string   { return c.pfx + "node:" + id }
func (c *Cluster) roomKey(room string) string { return c.pfx + "room:" + room }
func (c *Cluster) lockKey(room string) string { return c.pfx + "lock:room:" + room }
func (c *Cluster) stateKey(room string) string {
	return c.pfx + "roomstate:" + room
}
func (c *Cluster) nodesKey() string { return c.pfx + "nodes" }

// beat publishes this node, refreshes the placement of its active rooms
// and writes the room states that changed.
func (c *Cluster) beat(ctx context.Context) {
	loc := c.cfg.Snapshot()
	n := c.cfg.Self
	n.Load, n.Waiting, n.Rooms = loc.Load, loc.Waiting, len(loc.Rooms)
	n.Heartbeat = time.Now().UTC()
	c.mu.Lock()
	n.Draining = c.draining
	c.mu.Unlock()
	b, _ := json.Marshal(n)

	pipe := c.rdb.Pipeline()
	pipe.Set(ctx, c.nodeKey(n.ID), b, c.cfg.TTL)
	pipe.SAdd(ctx, c.nodesKey(), n.ID)
	// A room active here stays placed here: re-assert the placement (it
	// also comes back this way after Redis lost its data).
	var claims []*redis.Cmd
	for _, rs := range loc.Rooms {
		// EVAL, not EVALSHA: a Redis that restarted empty has no scripts,
		// and a NOSCRIPT inside the pipeline would fail the whole beat.
		claims = append(claims, pipe.Eval(ctx, claimSrc, []string{c.roomKey(rs.Room)}, n.ID, placementTTL.Milliseconds()))
	}
	for _, room := range loc.Held {
		pipe.Eval(ctx, claimSrc, []string{c.roomKey(room)}, n.ID, placementTTL.Milliseconds())
	}
	writes := c.roomStatesToWrite(loc.Rooms)
	for room, js := range writes {
		if js == "" {
			pipe.Del(ctx, c.stateKey(room))
		} else {
			pipe.Set(ctx, c.stateKey(room), js, roomStateTTL)
		}
	}
	_, err := pipe.Exec(ctx)
	c.mu.Lock()
	was := c.healthErr
	c.healthErr = err
	if err == nil {
		now := time.Now()
		for room, js := range writes {
			if js == "" {
				delete(c.published, room)
				delete(c.refreshed, room)
			} else {
				c.published[room], c.refreshed[room] = js, now
			}
		}
	}
	c.mu.Unlock()
	switch {
	case err != nil && was == nil:
		c.log.Error("cluster: redis unreachable; serving the rooms this node has, new placements wait", "err", err)
	case err == nil && was != nil:
		c.log.Info("cluster: heartbeat published", "node", n.ID, "rooms", n.Rooms, "load", n.Load)
	}
	for i, cmd := range claims {
		if v, err := cmd.Text(); err == nil && v != n.ID {
			// Another node holds a room we also have: a split after Redis
			// lost its data. Log it; the newer participants will be
			// redirected there, ours finish here.
			c.log.Warn("cluster: room placed on another node while active here", "room", loc.Rooms[i].Room, "other", v)
		}
	}
}

// roomStatesToWrite returns room -> JSON for states that changed or are
// due for a refresh, and room -> "" for rooms no longer active here.
func (c *Cluster) roomStatesToWrite(rooms []RoomState) map[string]string {
	out := map[string]string{}
	active := map[string]bool{}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range rooms {
		rs.Node = c.cfg.Self.ID
		active[rs.Room] = true
		b, _ := json.Marshal(rs)
		js := string(b)
		if c.published[rs.Room] != js || now.Sub(c.refreshed[rs.Room]) > roomStateTTL/3 {
			out[rs.Room] = js
		}
	}
	for room := range c.published {
		if !active[room] {
			out[room] = ""
		}
	}
	return out
}

// claimScript keeps or takes a room's placement for this node: it returns
// the holder after the call.
const claimSrc = `
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return v`

// releaseScript deletes a lock only if it still holds our token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Healthy reports whether the last heartbeat reached Redis.
func (c *Cluster) Healthy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.healthErr
}

// Drain stops this node from taking new rooms; rooms placed here stay.
func (c *Cluster) Drain(ctx context.Context) {
	c.mu.Lock()
	already := c.draining
	c.draining = true
	c.mu.Unlock()
	if !already {
		c.log.Info("cluster: draining: no new rooms are placed on this node", "node", c.cfg.Self.ID)
		c.beat(ctx) // tell the others now, not at the next tick
	}
}

// Draining reports whether Drain was called.
func (c *Cluster) Draining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// Nodes lists the live nodes (heartbeat within the TTL), pruning the ids
// of dead ones from the index.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	ids, err := c.rdb.SMembers(ctx, c.nodesKey()).Result()
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = c.nodeKey(id)
	}
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out []Node
	var dead []any
	for i, v := range vals {
		s, ok := v.(string)
		var n Node
		if !ok || json.Unmarshal([]byte(s), &n) != nil {
			dead = append(dead, ids[i])
			continue
		}
		out = append(out, n)
	}
	if len(dead) > 0 {
		_ = c.rdb.SRem(ctx, c.nodesKey(), dead...).Err()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Totals are the fair-wide live counters, summed over the live nodes.
type Totals struct {
	Nodes, Rooms, Participants, Waiting int
}

// Totals sums the live nodes' counters.
func (c *Cluster) Totals(ctx context.Context) (Totals, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Totals{}, err
	}
	t := Totals{Nodes: len(nodes)}
	for _, n := range nodes {
		t.Rooms += n.Rooms
		t.Participants += n.Load
		t.Waiting += n.Waiting
	}
	return t, nil
}

// RoomState returns a room's live state as its node last wrote it.
func (c *Cluster) RoomState(ctx context.Context, room string) (RoomState, bool, error) {
	s, err := c.rdb.Get(ctx, c.stateKey(room)).Result()
	if errors.Is(err, redis.Nil) {
		return RoomState{}, false, nil
	}
	if err != nil {
		return RoomState{}, false, err
	}
	var rs RoomState
	if err := json.Unmarshal([]byte(s), &rs); err != nil {
		return RoomState{}, false, err
	}
	return rs, true, nil
}

// Place returns the node the room lives on, placing it (on the live,
// not draining node with the lowest load for its capacity) when it has no
// live node. Placement is serialized by a Redis lock with an expiry, so
// two nodes never place one room twice. A placed node counts as dead when
// its heartbeat has expired or its address refuses connections. Errors:
// apperr Unavailable when Redis does not answer or no node can take it.
func (c *Cluster) Place(ctx context.Context, room string) (Node, error) {
	if room == "" || len(room) > maxRoomLen {
		return Node{}, apperr.New(apperr.Invalid, "room id must be 1 to %d characters", maxRoomLen)
	}
	backoff := 25 * time.Millisecond
	for {
		n, err := c.placeOnce(ctx, room)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, errBusy) {
			return Node{}, err
		}
		select {
		case <-ctx.Done():
			return Node{}, apperr.Wrap(ctx.Err(), apperr.Unavailable, "房间分配繁忙，请重试 / placing the room timed out; try again")
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

var errBusy = errors.New("cluster: room lock busy")

func (c *Cluster) unavailable(err error) error {
	return apperr.Wrap(fmt.Errorf("%w: %w", ErrUnavailable, err), apperr.Unavailable,
		"服务暂时无法分配房间，请稍候重试 / rooms cannot be placed right now (Redis unavailable); try again shortly")
}

func (c *Cluster) placeOnce(ctx context.Context, room string) (Node, error) {
	if n, ok, err := c.holder(ctx, room); err != nil {
		return Node{}, c.unavailable(err)
	} else if ok {
		return n, nil
	}
	tok := randomToken()
	got, err := c.rdb.SetNX(ctx, c.lockKey(room), tok, lockTTL).Result()
	if err != nil {
		return Node{}, c.unavailable(err)
	}
	if !got {
		return Node{}, errBusy
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = releaseScript.Run(rctx, c.rdb, []string{c.lockKey(room)}, tok).Err()
	}()
	// Someone may have placed it between our read and our lock.
	if n, ok, err := c.holder(ctx, room); err != nil {
		return Node{}, c.unavailable(err)
	} else if ok {
		return n, nil
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Node{}, c.unavailable(err)
	}
	for {
		n, ok := c.choose(nodes)
		if !ok {
			return Node{}, apperr.New(apperr.Unavailable, "没有可用的服务节点 / no node can take a new room now (all draining or full)")
		}
		if n.ID != c.cfg.Self.ID && !c.reachable(ctx, n) {
			c.markDead(ctx, n.ID)
			nodes = withoutNode(nodes, n.ID)
			continue
		}
		if err := c.rdb.Set(ctx, c.roomKey(room), n.ID, placementTTL).Err(); err != nil {
			return Node{}, c.unavailable(err)
		}
		c.log.Info("cluster: room placed", "room", room, "node", n.ID, "load", n.Load, "capacity", n.Capacity)
		return n, nil
	}
}

func withoutNode(nodes []Node, id string) []Node {
	out := nodes[:0:0]
	for _, n := range nodes {
		if n.ID != id {
			out = append(out, n)
		}
	}
	return out
}

// Holder returns the room's live node without placing it: ok is false
// when the room is not placed or its node is dead (an edge of a cascaded
// broadcast asks this to follow its origin without claiming the room).
func (c *Cluster) Holder(ctx context.Context, room string) (n Node, ok bool, err error) {
	if room == "" || len(room) > maxRoomLen {
		return Node{}, false, apperr.New(apperr.Invalid, "room id must be 1 to %d characters", maxRoomLen)
	}
	n, ok, err = c.holder(ctx, room)
	if err != nil {
		return Node{}, false, c.unavailable(err)
	}
	return n, ok, nil
}

// holder returns the room's live node, if it has one. A dead holder's
// placement is left for the caller to overwrite under the lock.
func (c *Cluster) holder(ctx context.Context, room string) (Node, bool, error) {
	id, err := c.rdb.Get(ctx, c.roomKey(room)).Result()
	if errors.Is(err, redis.Nil) {
		return Node{}, false, nil
	}
	if err != nil {
		return Node{}, false, err
	}
	if id == c.cfg.Self.ID {
		return c.selfNode(), true, nil
	}
	s, err := c.rdb.Get(ctx, c.nodeKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return Node{}, false, nil // heartbeat expired
	}
	if err != nil {
		return Node{}, false, err
	}
	var n Node
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		return Node{}, false, nil
	}
	if !c.reachable(ctx, n) {
		c.markDead(ctx, n.ID)
		return Node{}, false, nil
	}
	return n, true, nil
}

func (c *Cluster) selfNode() Node {
	n := c.cfg.Self
	c.mu.Lock()
	n.Draining = c.draining
	c.mu.Unlock()
	return n
}

// choose picks the live, not draining node with the most room left for
// its capacity; this node is always a candidate (its own heartbeat may not
// be back in Redis yet) unless it drains.
func (c *Cluster) choose(nodes []Node) (Node, bool) {
	self := c.selfNode()
	haveSelf := false
	best, bestScore, found := Node{}, math.Inf(1), false
	consider := func(n Node) {
		if n.Draining || n.Load >= n.Capacity {
			return
		}
		score := float64(n.Load)/float64(n.Capacity) + mrand.Float64()*1e-3 // ties broken at random
		if score < bestScore {
			best, bestScore, found = n, score, true
		}
	}
	for _, n := range nodes {
		if n.ID == self.ID {
			haveSelf = true
			n.Draining = self.Draining
		}
		consider(n)
	}
	if !haveSelf {
		self.Load = c.cfg.Snapshot().Load
		consider(self)
	}
	return best, found
}

// reachable reports whether the node's HTTP address accepts a TCP
// connection (cached briefly): a node killed a moment ago still has
// a heartbeat for up to the TTL, but its port refuses at once.
func (c *Cluster) reachable(ctx context.Context, n Node) bool {
	u, err := url.Parse(n.Peer())
	if err != nil || u.Host == "" {
		return false
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	c.mu.Lock()
	p, ok := c.probes[addr]
	c.mu.Unlock()
	if ok && time.Since(p.at) < probeCacheTime {
		return p.ok
	}
	d := net.Dialer{Timeout: probeTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	alive := err == nil
	if alive {
		conn.Close()
	}
	c.mu.Lock()
	if len(c.probes) > 1024 {
		c.probes = map[string]probe{}
	}
	c.probes[addr] = probe{ok: alive, at: time.Now()}
	c.mu.Unlock()
	return alive
}

// markDead removes a node that refuses connections from the registry
// before its TTL would (it would come back with its next heartbeat if it
// were alive after all).
func (c *Cluster) markDead(ctx context.Context, id string) {
	c.log.Warn("cluster: node refuses connections; treating it as dead", "node", id)
	_ = c.rdb.Del(ctx, c.nodeKey(id)).Err()
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
