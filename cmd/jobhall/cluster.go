package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"jobhall/cluster"
	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
	"jobhall/signaling"
)

// edgeJoiner is the seam for cascaded broadcasts (cascade.go): when the
// room lives on another node, the join path asks it before redirecting. An
// edge (fed by the origin node over a server-to-server connection) may
// serve a viewer on this node; true means "serve the join here". Relays
// tells rooms this node only relays (they are not "active here" for
// placement: no claim, and non-viewers go to the origin); Placed says the
// room is placed on this node now. nil = always redirect.
type edgeJoiner interface {
	ServeHere(ctx context.Context, g roomtoken.Grant, origin cluster.Node) (bool, error)
	Relays(room string) bool
	Placed(room string)
}

// placementNoteTTL is how long a redirect URL is good for.
const placementNoteTTL = 30 * time.Second

// nodeState is this node's part in a cluster (nil without Redis). Its
// goroutines: the cluster's heartbeat (package cluster) and, once a drain
// starts, one watcher that closes drained when no room here is active.
type nodeState struct {
	c     *cluster.Cluster
	edge  edgeJoiner // the cascade (cascade.go); nil in tests without it
	drain sync.Once
	// drained is closed when a drain has finished (every room here has
	// ended, or the drain timeout passed): the process then exits.
	drained chan struct{}
	// The alert bridge (alert_bridge.go): stopped before the bus closes.
	bridgeStop func()
	bridgeDone <-chan struct{}
}

// newCluster prepares the cluster registry; the heartbeat starts once
// signalling runs (startHeartbeat).
func (a *app) newCluster() error {
	cfg := a.cfg
	id := cfg.NodeID
	if id == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "node"
		}
		id = strings.ReplaceAll(host, ":", "-") + "-" + portOf(a.addr)
	}
	nodeURL := cfg.NodeURL
	if nodeURL == "" {
		nodeURL = a.url
	}
	media := ""
	if len(cfg.PublicIPs) > 0 {
		media = cfg.PublicIPs[0]
	} else {
		media = cfg.WebRTCIP
	}
	c, err := cluster.New(cluster.Config{
		RedisURL: cfg.RedisURL, Prefix: cfg.RedisPrefix, Logger: a.log,
		Self:     cluster.Node{ID: id, URL: nodeURL, Internal: cfg.NodeInternal, Media: media, Capacity: cfg.NodeCapacity},
		Snapshot: a.clusterSnapshot,
	})
	if err != nil {
		return err
	}
	// go-redis logs every failed dial itself; the cluster reports Redis
	// health once per change, so its lines go to debug.
	redis.SetLogger(redisLog{a.log})
	if cfg.NodeURL == "" {
		a.log.Warn("cluster: no -node-url set: rooms placed here are redirected to the public URL, which behind a load balancer may reach another node")
	}
	if len(cfg.TokenSecret) == 0 {
		a.log.Warn("cluster: no -token-secret set: every node must share one, or redirected joins fail")
	}
	a.node = &nodeState{c: c, drained: make(chan struct{})}
	return nil
}

func (a *app) startHeartbeat(ctx context.Context) {
	if a.node == nil {
		return
	}
	a.node.c.Start(ctx)
	if a.cascade != nil {
		a.cascade.start()
	}
	bctx, stop := context.WithCancel(context.Background())
	a.node.bridgeStop = stop
	a.node.bridgeDone = bridgeAlerts(bctx, a.bus, a.booking, a.node.c.Self(), a.log)
	a.log.Info("cluster: node registered", "node", a.node.c.Self(), "url", a.cfg.NodeURL)
}

// closeCluster leaves the registry and stops the alert bridge; it runs
// first in app.close, so no node redirects here any more.
func (a *app) closeCluster() {
	if a.node == nil {
		return
	}
	a.node.c.Close()
	if a.node.bridgeStop != nil {
		a.node.bridgeStop()
		<-a.node.bridgeDone
	}
}

// clusterSnapshot is what the heartbeat publishes: load and live rooms.
func (a *app) clusterSnapshot() cluster.Local {
	if a.signaling == nil {
		return cluster.Local{}
	}
	var loc cluster.Local
	for _, r := range a.signaling.Live() {
		if a.node != nil && a.node.edge != nil && a.node.edge.Relays(r.Room) {
			// Relayed from its origin: the viewers here are load, but the
			// room is not claimed here and its state is the origin's to write.
			loc.Load += len(r.Members)
			continue
		}
		rs := cluster.RoomState{Room: r.Room}
		for _, p := range r.Members {
			rs.Members = append(rs.Members, cluster.Person{ID: p.ID, Name: p.Name, Role: p.Role, Connected: p.Connected == nil || *p.Connected})
		}
		for _, p := range r.Lobby {
			rs.Lobby = append(rs.Lobby, cluster.Person{ID: p.ID, Name: p.Name, Role: p.Role, Connected: true})
		}
		loc.Load += len(rs.Members)
		loc.Waiting += len(rs.Lobby)
		loc.Rooms = append(loc.Rooms, rs)
	}
	for _, room := range a.signaling.EndedRooms() {
		if a.node == nil || a.node.edge == nil || !a.node.edge.Relays(room) {
			loc.Held = append(loc.Held, room)
		}
	}
	return loc
}

// roomPlacer is signaling.Placer over the cluster.
type roomPlacer struct{ a *app }

func (p roomPlacer) Place(ctx context.Context, g roomtoken.Grant, hint string) (string, error) {
	a, n := p.a, p.a.node
	if hint != "" {
		// Sent here by the node that placed the room: trust its note (it
		// also lets a redirected join through while Redis is down).
		if room, node, err := a.tokens.VerifyPlacement(hint); err == nil && room == g.Room && node == n.c.Self() {
			if n.edge != nil {
				n.edge.Placed(g.Room)
			}
			return "", nil
		}
	}
	// A room active here stays here, with or without Redis; but a room
	// this node only relays is active here because of its viewers: ask
	// the registry where its origin is (it may have moved).
	relayed := n.edge != nil && n.edge.Relays(g.Room)
	active := a.signaling.RoomActive(g.Room)
	if active && !relayed {
		return "", nil
	}
	target, err := n.c.Place(ctx, g.Room)
	if err != nil {
		if active && relayed && g.Role == roomtoken.RoleViewer {
			return "", nil // Redis away: watch what the link still relays
		}
		return "", err
	}
	if target.ID == n.c.Self() {
		if n.edge != nil {
			n.edge.Placed(g.Room)
		}
		return "", nil
	}
	if n.edge != nil {
		if ok, err := n.edge.ServeHere(ctx, g, target); err != nil {
			a.log.Warn("cluster: edge join failed; redirecting", "room", g.Room, "origin", target.ID, "err", err)
		} else if ok {
			return "", nil
		}
	}
	note, err := a.tokens.IssuePlacement(g.Room, target.ID, placementNoteTTL)
	if err != nil {
		return "", apperr.Wrap(err, apperr.Internal, "placement note")
	}
	a.log.Debug("cluster: redirecting a join", "room", g.Room, "identity", g.Identity, "node", target.ID)
	return wsURL(target.URL) + "/ws?placement=" + url.QueryEscape(note), nil
}

// wsURL turns a node's http(s) base URL into its ws(s) one.
func wsURL(base string) string {
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(base, "http://")
}

// startDrain stops new rooms coming here and closes node.drained once
// every room here has ended (or after the drain timeout).
func (a *app) startDrain(why string) {
	n := a.node
	if n == nil {
		return
	}
	n.drain.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n.c.Drain(ctx)
		cancel()
		a.log.Info("draining: no new rooms; exiting when the rooms here have ended", "why", why,
			"rooms", len(a.signaling.Live()), "timeout", a.cfg.DrainTimeout)
		go func() {
			defer close(n.drained)
			limit := a.cfg.DrainTimeout
			if limit <= 0 { // 0 only turns off draining on SIGTERM
				limit = 24 * time.Hour
			}
			deadline := time.Now().Add(limit)
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for range t.C {
				if len(a.signaling.Live()) == 0 {
					a.log.Info("drained: every room here has ended")
					return
				}
				if time.Now().After(deadline) {
					a.log.Warn("drain timeout: exiting with rooms still open", "rooms", len(a.signaling.Live()))
					return
				}
			}
		}()
	})
}

// drained is closed when a drain has finished; nil without a cluster.
func (a *app) drained() <-chan struct{} {
	if a.node == nil {
		return nil
	}
	return a.node.drained
}

// clusterHandlers are the operator endpoints on the debug listener:
// POST /drain, GET /cluster (nodes and fair-wide counters) and
// GET /cluster/rooms/{room} (a room's presence and lobby order).
func (a *app) clusterHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) {
		if a.node == nil {
			apperr.WriteHTTP(w, r, apperr.New(apperr.Conflict, "not in a cluster (no REDIS_URL): stop the process instead"))
			return
		}
		a.startDrain("admin endpoint")
		w.Write([]byte("draining\n"))
	})
	mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, r *http.Request) {
		if a.node == nil {
			apperr.WriteHTTP(w, r, apperr.New(apperr.NotFound, "not in a cluster (no REDIS_URL)"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		nodes, err := a.node.c.Nodes(ctx)
		if err != nil {
			apperr.WriteHTTP(w, r, apperr.Wrap(err, apperr.Unavailable, "redis: %v", err))
			return
		}
		tot, _ := a.node.c.Totals(ctx)
		writeJSON(w, map[string]any{"self": a.node.c.Self(), "draining": a.node.c.Draining(), "nodes": nodes, "totals": tot})
	})
	mux.HandleFunc("GET /cluster/rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		if a.node == nil {
			apperr.WriteHTTP(w, r, apperr.New(apperr.NotFound, "not in a cluster (no REDIS_URL)"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		rs, ok, err := a.node.c.RoomState(ctx, r.PathValue("room"))
		if err != nil {
			apperr.WriteHTTP(w, r, apperr.Wrap(err, apperr.Unavailable, "redis: %v", err))
			return
		}
		if !ok {
			apperr.WriteHTTP(w, r, apperr.New(apperr.NotFound, "no live room %q", r.PathValue("room")))
			return
		}
		writeJSON(w, rs)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// clusterReady adds the cluster's state to /readyz.
func (a *app) clusterReady() []string {
	if a.node == nil {
		return nil
	}
	var out []string
	if a.node.c.Draining() {
		out = append(out, "draining: this node takes no new rooms")
	}
	if err := a.node.c.Healthy(); err != nil {
		out = append(out, fmt.Sprintf("cluster: %v (rooms on this node go on; new cross-node placement waits for Redis)", err))
	}
	return out
}

var _ signaling.Placer = roomPlacer{}

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "go-redis")
}
