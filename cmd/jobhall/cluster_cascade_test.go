package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"jobhall/cascade"
	"jobhall/sfu"
)

// cascadeStatus is a node's GET /cascade (debug listener).
type cascadeStatus struct {
	Node        string                `json:"node"`
	EdgeRooms   map[string]string     `json:"edge_rooms"`
	Links       []cascade.LinkStatus  `json:"links"`
	Relays      []sfu.RelayTrackStats `json:"relays"`
	RelayInputs int                   `json:"relay_inputs"`
	Published   []sfu.TrackStats      `json:"published"`
}

func (p *proc) cascadeStatus(t *testing.T) cascadeStatus {
	t.Helper()
	st, body := httpGet(p.debug + "/cascade")
	var cs cascadeStatus
	if st != 200 || json.Unmarshal([]byte(body), &cs) != nil {
		t.Fatalf("GET /cascade on %s: %d %s", p.id, st, body)
	}
	return cs
}

// originCounters returns, for room on the origin, the video packets its
// publisher delivered and, per edge node, the video packets relayed and
// dropped.
func originCounters(t *testing.T, origin *proc, room string) (recv uint64, relayed, dropped map[string]uint64) {
	t.Helper()
	cs := origin.cascadeStatus(t)
	relayed, dropped = map[string]uint64{}, map[string]uint64{}
	for _, tr := range cs.Published {
		if tr.Room == room && tr.Kind == "video" && !tr.Relayed {
			recv += tr.Packets
		}
	}
	for _, r := range cs.Relays {
		if r.Room == room && r.Kind == "video" {
			relayed[r.Relay] += r.Packets
			dropped[r.Relay] += r.Dropped
		}
	}
	return recv, relayed, dropped
}

// TestClusterCascadeBroadcast: a trainer publishes on the broadcast room's
// node (the origin); viewers connect through each of the three nodes and
// are served on the node they reached (the two others relay the room as
// edges); every viewer receives media; the origin's counters show the
// track crossing to each edge exactly once (relayed + dropped = received,
// whatever the number of viewers there); a second trainer entering through
// an edge is sent to the origin; the edges never claim the room. Then a
// kill -9 of the origin: the trainer rejoins (the room is placed again),
// the edges follow it by themselves, and the viewers of the dead node
// rejoin through a live one: everyone has media again. (300 viewers over
// three nodes run in-process in cascade.TestCascadeBroadcast300.)
func TestClusterCascadeBroadcast(t *testing.T) {
	procs := startThreeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	const room = "course-cascade-1"
	const perNode = 4

	trTok := clusterToken(t, room, "trainer-1", "trainer")
	tr := dialPeer(t, ctx, procs[0].url)
	_, at := tr.joinFollow(ctx, procs[0].wsURL(), room, trTok, false)
	origin := nodeAt(t, procs, at)
	edges := othersThan(procs, origin)
	t.Logf("room %s placed on %s; edges %s and %s", room, origin.id, edges[0].id, edges[1].id)
	pubCtx, stopPub := context.WithCancel(ctx)
	tr.publish(pubCtx)
	// The trainer's presence reaches the shared room state (edges list it).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st, body := httpGet(origin.debug + "/cluster/rooms/" + room); st == 200 && strings.Contains(body, `"trainer-1"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the trainer is not in the shared room state")
		}
	}

	type viewer struct {
		p    *peer
		id   string
		tok  string
		node *proc
	}
	var viewers []*viewer
	for k, n := range procs {
		for j := range perNode {
			id := fmt.Sprintf("viewer-%d-%d", k, j)
			v := &viewer{p: dialPeer(t, ctx, n.url), id: id, tok: clusterToken(t, room, id, "viewer"), node: n}
			j, at := v.p.joinFollow(ctx, n.wsURL(), room, v.tok, false)
			if nodeAt(t, procs, at) != n {
				t.Fatalf("%s entered through %s but was served on %s: an edge should serve it", id, n.id, at)
			}
			// On every node the viewer sees whom it watches (on an edge the
			// trainer is a member of the origin only) and no relay input.
			seen := false
			for _, p := range j.Participants {
				seen = seen || (p.ID == "trainer-1" && p.Name == "trainer-1" && p.Role == "trainer")
				if strings.HasPrefix(p.ID, cascade.RelayIDPrefix) {
					t.Fatalf("%s on %s: a relay input in the participants: %+v", id, n.id, j.Participants)
				}
			}
			if !seen {
				t.Fatalf("%s on %s: the trainer is not in the participants: %+v", id, n.id, j.Participants)
			}
			viewers = append(viewers, v)
		}
	}
	t.Cleanup(func() { // on failure: each viewer's subscriber connection, for the log
		if !t.Failed() {
			return
		}
		for _, v := range viewers {
			v.p.mu.Lock()
			sub := v.p.sub
			v.p.mu.Unlock()
			if sub != nil {
				t.Logf("%s on %s: subscriber %s, ICE %s, signalling %s, %d packets received", v.id, v.node.id, sub.ConnectionState(), sub.ICEConnectionState(), sub.SignalingState(), v.p.received.Load())
			}
		}
	})
	for _, v := range viewers {
		waitGrowth(t, "media to "+v.id+" on "+v.node.id, v.p.received.Load)
	}

	// Each edge has one relay input and one connected link to the origin.
	for _, e := range edges {
		cs := e.cascadeStatus(t)
		if cs.RelayInputs != 1 || len(cs.Links) != 1 || !cs.Links[0].Connected || cs.Links[0].Origin != origin.url || cs.EdgeRooms[room] != origin.url {
			t.Fatalf("edge %s: %+v", e.id, cs)
		}
	}
	if cs := origin.cascadeStatus(t); cs.RelayInputs != 0 || len(cs.Links) != 0 {
		t.Fatalf("origin %s relays from elsewhere: %+v", origin.id, cs)
	}

	// Counters over a window with the publisher quiet at both ends (so no
	// packet is in flight when they are read).
	snapshot := func() (uint64, map[string]uint64, map[string]uint64) {
		tr.paused.Store(true)
		time.Sleep(time.Second)
		defer tr.paused.Store(false)
		return originCounters(t, origin, room)
	}
	recv0, rel0, drop0 := snapshot()
	time.Sleep(3 * time.Second)
	recv1, rel1, drop1 := snapshot()
	if len(rel1) != 2 {
		t.Fatalf("origin relays to %d nodes, want 2 (the edges): %v", len(rel1), rel1)
	}
	recv := recv1 - recv0
	for _, e := range edges {
		relayed, dropped := rel1[e.id]-rel0[e.id], drop1[e.id]-drop0[e.id]
		t.Logf("%s: origin received %d video packets, relayed to the edge (%d viewers there) %d, dropped %d", e.id, recv, perNode, relayed, dropped)
		if recv == 0 || relayed+dropped != recv {
			t.Errorf("%s: relayed %d + dropped %d != %d received: the track did not cross exactly once", e.id, relayed, dropped, recv)
		}
	}

	// A publisher entering through an edge goes to the origin, though the
	// room is active on the edge (its viewers).
	co := dialPeer(t, ctx, edges[0].url)
	if _, at := co.joinFollow(ctx, edges[0].wsURL(), room, clusterToken(t, room, "trainer-2", "trainer"), false); nodeAt(t, procs, at) != origin {
		t.Fatalf("a trainer entering through edge %s was served on %s, want the origin %s", edges[0].id, at, origin.id)
	}
	co.send(map[string]any{"type": "leave"})
	co.await("bye")
	// The edges never claim the room: its state stays the origin's.
	for range 3 {
		time.Sleep(time.Second)
		if st, body := httpGet(edges[1].debug + "/cluster/rooms/" + room); st != 200 || !strings.Contains(body, `"node":"`+origin.id+`"`) {
			t.Fatalf("room state: %d %s", st, body)
		}
	}

	// kill -9 of the origin mid-broadcast.
	stopPub()
	origin.signal(syscall.SIGKILL)
	<-origin.exited
	killed := time.Now()
	// Watch every viewer from now on (the edges' viewers keep their
	// connection; the dead node's rejoin below).
	type backAt struct {
		v   *viewer
		got time.Duration
	}
	backs := make(chan backAt, len(viewers))
	for _, v := range viewers {
		go func(v *viewer, base int64) {
			for ctx.Err() == nil {
				if v.p.received.Load() > base+10 {
					backs <- backAt{v, time.Since(killed)}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}(v, v.p.received.Load())
	}
	<-tr.done
	tr.dropMedia()
	tr.redial(ctx, edges[0].wsURL())
	_, at = tr.joinFollow(ctx, edges[0].wsURL(), room, trTok, false)
	newOrigin := nodeAt(t, procs, at)
	t.Logf("trainer back on %s after %v", newOrigin.id, time.Since(killed))
	pub2, stopPub2 := context.WithCancel(ctx)
	defer stopPub2()
	tr.publish(pub2)
	for _, v := range viewers {
		if v.node != origin {
			continue
		}
		// The page reconnects through the load balancer to a live node.
		<-v.p.done
		v.p.dropMedia()
		v.node = edges[0]
		v.p.redial(ctx, v.node.wsURL())
		if _, at := v.p.joinFollow(ctx, v.node.wsURL(), room, v.tok, false); nodeAt(t, procs, at) != v.node {
			t.Fatalf("%s rejoined through %s but was served on %s", v.id, v.node.id, at)
		}
	}
	// Everyone has media again.
	back := map[*viewer]time.Duration{}
	timeout := time.After(30 * time.Second)
	for len(back) < len(viewers) {
		select {
		case b := <-backs:
			back[b.v] = b.got
		case <-timeout:
			for _, v := range viewers {
				if _, ok := back[v]; !ok {
					t.Errorf("%s on %s: no media 30 s after the origin died", v.id, v.node.id)
				}
			}
			t.FailNow()
		}
	}
	var last time.Duration
	for _, v := range viewers {
		t.Logf("%s on %s: media again %v after the kill", v.id, v.node.id, back[v])
		last = max(last, back[v])
	}
	t.Logf("kill -9 of the origin %s to media for all %d viewers: %v", origin.id, len(viewers), last)
	for _, e := range edges {
		if e == newOrigin {
			continue
		}
		cs := e.cascadeStatus(t)
		if cs.EdgeRooms[room] != newOrigin.url {
			t.Fatalf("edge %s did not follow the room to %s: %+v", e.id, newOrigin.id, cs)
		}
	}
}
