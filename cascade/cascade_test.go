package cascade_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"jobhall/cascade"
	"jobhall/sfu"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One origin and two edges on a vnet: the trainer publishes three simulcast
// layers on the origin; viewers on the edges receive media, a 300 kbit/s
// viewer gets the low layer while its unconstrained neighbour gets the high
// one, each track crosses to each edge once whatever the viewer count, and
// when the origin drops its relays the edges reconnect and media resumes.
func TestCascadeLayersCountersAndReconnect(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorld(t, 90*time.Second, true)
	defer w.close()
	origin := w.addNode("origin", cascade.EdgeConfig{})
	e1 := w.addNode("edge-1", cascade.EdgeConfig{})
	e2 := w.addNode("edge-2", cascade.EdgeConfig{})
	w.start()
	const room = "course-1"

	// The edges connect before the trainer publishes, so every packet the
	// origin receives is counted on the relays.
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	for _, e := range []*node{e1, e2} {
		if err := e.edge.EnsureEdge(ctx, room, origin.srv.URL); err != nil {
			t.Fatalf("%s: EnsureEdge: %v", e.name, err)
		}
	}
	trainer := w.join(origin, room, "trainer", true, link{}, false)
	local := w.join(origin, room, "v-origin", false, link{}, false)
	trainer.publish(simulcast3)
	high := w.join(e1, room, "v-high", false, link{}, false)
	low := w.join(e1, room, "v-low", false, link{rateBps: 300_000, queueBytes: 40_000}, false)
	far := w.join(e2, room, "v-far", false, link{}, false)
	var extra []*peer
	for i := 0; i < 4; i++ { // more viewers on edge 1 must not add crossings
		extra = append(extra, w.join(e1, room, "v-extra-"+string(rune('a'+i)), false, link{}, false))
	}
	all := append([]*peer{local, high, low, far}, extra...)
	w.waitFor("every viewer to receive the trainer", func() bool {
		for _, v := range all {
			if !v.receiving("trainer", 20) {
				return false
			}
		}
		return true
	})
	// Relayed tracks keep the publisher's identity: stream id = participant.
	if rt := far.track("trainer", webrtc.RTPCodecTypeVideo); rt.trackID != "cam-trainer" {
		t.Errorf("edge viewer sees track %q, want cam-trainer", rt.trackID)
	}

	// Layer choice per viewer on the same edge.
	w.sleep(6 * time.Second)
	hv, lv := high.track("trainer", webrtc.RTPCodecTypeVideo), low.track("trainer", webrtc.RTPCodecTypeVideo)
	hb, lb := hv.layers(), lv.layers()
	w.sleep(3 * time.Second)
	// A constrained viewer's video may be paused for a while when its
	// estimate dips on a loaded machine: judge at least 60 packets each.
	got := func(now, base [3]int64) int64 { return now[0] + now[1] + now[2] - base[0] - base[1] - base[2] }
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && (got(hv.layers(), hb) < 60 || got(lv.layers(), lb) < 60); {
		w.sleep(250 * time.Millisecond)
	}
	hs, ls, lh := share(hv.layers(), hb, 2), share(lv.layers(), lb, 0), share(lv.layers(), lb, 2)
	t.Logf("edge-1: unconstrained viewer high-layer share %.2f, 300 kbit/s viewer low-layer share %.2f (high %.2f)", hs, ls, lh)
	// Ratios within the run, with margins for a loaded shared machine
	// (a starved vnet router delays feedback and the estimate dips).
	if hs < 0.5 { // 0.59 seen at load 7 with a healthy estimator
		t.Errorf("unconstrained edge viewer got the high layer for only %.0f%% of packets", 100*hs)
	}
	if ls < 0.9 || lh > 0.05 {
		t.Errorf("300 kbit/s edge viewer got the low layer for %.0f%% and the high one for %.0f%% of packets", 100*ls, 100*lh)
	}

	// Each track crosses to each edge exactly once: over a window between
	// two pauses of the trainer (queues drained), every relay counter grows
	// by what the origin received (no viewer multiplies it), and each edge
	// receives that much.
	type snap struct {
		pub   map[string]sfu.TrackStats
		relay map[string]map[string]sfu.RelayTrackStats
		in    map[string]map[string]sfu.TrackStats
	}
	take := func() snap {
		trainer.paused.Store(true)
		w.sleep(time.Second)
		sn := snap{pub: published(origin.sfu, room), relay: relayStats(origin.sfu, room), in: map[string]map[string]sfu.TrackStats{}}
		for _, e := range []*node{e1, e2} {
			sn.in[e.name] = published(e.sfu, room)
		}
		trainer.paused.Store(false)
		return sn
	}
	a := take()
	w.sleep(3 * time.Second)
	b := take()
	if len(b.relay) != 2 {
		t.Fatalf("origin has relays to %d edges, want 2: %+v", len(b.relay), b.relay)
	}
	for _, e := range []*node{e1, e2} {
		per := b.relay[e.name]
		if len(per) != 2 {
			t.Fatalf("relay to %s carries %d tracks, want 2", e.name, len(per))
		}
		for _, kind := range []string{"video", "audio"} {
			r0, r1 := a.relay[e.name][kind], per[kind]
			recv := b.pub[kind].Packets - a.pub[kind].Packets
			relayed, dropped := r1.Packets-r0.Packets, r1.Dropped-r0.Dropped
			got := b.in[e.name][kind].Packets - a.in[e.name][kind].Packets
			t.Logf("%s %s over the window: origin received %d, relayed %d (dropped %d, retransmitted %d), edge received %d; layers %d",
				e.name, kind, recv, relayed, dropped, r1.Retransmits-r0.Retransmits, got, r1.Layers)
			if recv == 0 || relayed+dropped != recv {
				t.Errorf("%s %s: relayed %d + dropped %d != %d received from the trainer", e.name, kind, relayed, dropped, recv)
			}
			if got > relayed+r1.Retransmits-r0.Retransmits || float64(got) < 0.99*float64(relayed) {
				t.Errorf("%s %s: edge received %d of %d relayed", e.name, kind, got, relayed)
			}
			if it := b.in[e.name][kind]; !it.Relayed || it.ParticipantID != "trainer" {
				t.Errorf("%s %s: edge track %+v is not the trainer's relayed track", e.name, kind, it)
			}
		}
		if per["video"].Layers != 3 {
			t.Errorf("relay to %s carries %d video layers, want 3", e.name, per["video"].Layers)
		}
	}

	// Kill the relays: the edges reconnect and every edge viewer resumes.
	if n := origin.origin.CloseRoom(room); n != 2 {
		t.Fatalf("CloseRoom dropped %d relays, want 2", n)
	}
	w.waitFor("both edges to reconnect", func() bool {
		for _, e := range []*node{e1, e2} {
			ls := e.edge.Links()
			if len(ls) != 1 || ls[0].Sessions < 2 || !ls[0].Connected {
				return false
			}
		}
		return true
	})
	w.waitFor("edge viewers to receive the trainer again", func() bool {
		for _, v := range []*peer{high, far} {
			if !v.receiving("trainer", 40) {
				return false
			}
		}
		return true
	})
	if n := len(relayStats(origin.sfu, room)); n != 2 {
		t.Errorf("after reconnect the origin has %d relays, want 2", n)
	}
}

// An edge whose room has no viewers lets its link go after IdleTimeout.
func TestEdgeIdlesOut(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorld(t, 30*time.Second, false)
	defer w.close()
	origin := w.addNode("origin", cascade.EdgeConfig{})
	edge := w.addNode("edge", cascade.EdgeConfig{IdleTimeout: 500 * time.Millisecond})
	w.start()
	if err := edge.edge.EnsureEdge(w.ctx, "r-idle", origin.srv.URL); err != nil {
		t.Fatal(err)
	}
	if origin.sfu.LookupRoom("r-idle") == nil || edge.sfu.LookupRoom("r-idle") == nil {
		t.Fatal("a connected link keeps the room on both nodes")
	}
	w.waitFor("the link to idle out", func() bool { return len(edge.edge.Links()) == 0 })
	w.waitFor("both rooms to be reaped", func() bool {
		return origin.sfu.LookupRoom("r-idle") == nil && edge.sfu.LookupRoom("r-idle") == nil
	})
}

// The origin handler refuses bad requests with clear errors, and an edge
// with the wrong secret gets a permanent error from EnsureEdge.
func TestOriginRefuses(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorld(t, 30*time.Second, false)
	defer w.close()
	origin := w.addNode("origin", cascade.EdgeConfig{})
	w.start()
	base := origin.srv.URL + cascade.OriginPath
	tok := cascade.Token(testSecret, "r", "e", time.Now().Add(time.Minute))
	cases := []struct {
		name, url, auth string
		status          int
		want            string
	}{
		{"no token", base + "?room=r&edge=e", "", 401, "token missing"},
		{"bad token", base + "?room=r&edge=e", "Bearer v1.1.xx", 401, "bad cascade token"},
		{"token for another room", base + "?room=r2&edge=e", "Bearer " + tok, 401, "bad cascade token"},
		{"expired", base + "?room=r&edge=e", "Bearer " + cascade.Token(testSecret, "r", "e", time.Now().Add(-time.Second)), 401, "expired"},
		{"far future", base + "?room=r&edge=e", "Bearer " + cascade.Token(testSecret, "r", "e", time.Now().Add(time.Hour)), 401, "too far"},
		{"bad room", base + "?room=a%20b&edge=e", "Bearer " + tok, 400, "printable"},
		{"no upgrade", base + "?room=r&edge=e", "Bearer " + tok, 400, "WebSocket upgrade"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, c.url, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s: %d %s, want %d containing %q", c.name, resp.StatusCode, b.String(), c.status, c.want)
		}
	}
	http.DefaultClient.CloseIdleConnections()

	bad, err := cascade.NewEdge(cascade.EdgeConfig{SFU: origin.sfu, Secret: []byte("another-secret-of-enough-bytes"), NodeID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.EnsureEdge(w.ctx, "r", origin.srv.URL)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("EnsureEdge with a wrong secret: %v, want a 401", err)
	}
	w.waitFor("the refused link to end", func() bool { return len(bad.Links()) == 0 })

	// A frame over the bound ends the connection.
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"?room=r&edge=e", h)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"answer","sdp":"`+strings.Repeat("x", 2<<20)+`"}`))
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	w.waitFor("the relay to close", func() bool { return len(origin.sfu.Stats().Relays) == 0 && origin.sfu.LookupRoom("r") == nil })
}

// One trainer, 300 lightweight viewers spread over three nodes (100 on the
// origin, 100 on each edge; 20 each under -race): every viewer gets media,
// and each track crosses to each edge exactly once.
func TestCascadeBroadcast300(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorld(t, 150*time.Second, false)
	defer w.close()
	origin := w.addNode("origin", cascade.EdgeConfig{})
	e1 := w.addNode("edge-1", cascade.EdgeConfig{})
	e2 := w.addNode("edge-2", cascade.EdgeConfig{})
	w.start()
	const room = "course-300"
	for _, e := range []*node{e1, e2} {
		if err := e.edge.EnsureEdge(w.ctx, room, origin.srv.URL); err != nil {
			t.Fatalf("%s: EnsureEdge: %v", e.name, err)
		}
	}
	trainer := w.join(origin, room, "trainer", true, link{}, false)
	trainer.publish([]layerSpec{{"q", 40_000}, {"h", 120_000}, {"f", 300_000}})
	var viewers []*peer
	for i := 0; i < 3*viewersPerNode; i++ {
		n := []*node{origin, e1, e2}[i%3]
		viewers = append(viewers, w.join(n, room, "viewer-"+strconvI(i), false, link{}, true))
		if i%30 == 29 || i == 3*viewersPerNode-1 {
			// Joins in batches, each connected before the next starts: a
			// few hundred simultaneous DTLS handshakes on a shared 2-core
			// machine (under -race) starve ICE into failure.
			w.waitFor("a batch of viewers to connect", func() bool {
				for _, v := range viewers[i-i%30:] {
					if v.sub.ConnectionState() != webrtc.PeerConnectionStateConnected {
						return false
					}
				}
				return true
			})
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var missing [3]int
		for i, v := range viewers {
			if !v.receiving("trainer", 10) {
				missing[i%3]++
			}
		}
		if missing == [3]int{} {
			break
		}
		if time.Now().After(deadline) {
			for _, v := range viewers {
				if !v.receiving("trainer", 10) {
					v.mu.Lock()
					n := len(v.recv)
					v.mu.Unlock()
					t.Logf("%s: sub PC %s, ICE %s, signaling %s, tracks %d", v.id, v.sub.ConnectionState(), v.sub.ICEConnectionState(), v.sub.SignalingState(), n)
				}
			}
			t.Fatalf("viewers not receiving after 60 s: origin %d, edge-1 %d, edge-2 %d", missing[0], missing[1], missing[2])
		}
		w.sleep(500 * time.Millisecond)
	}
	snapshot := func() (map[string]sfu.TrackStats, map[string]map[string]sfu.RelayTrackStats) {
		trainer.paused.Store(true)
		w.sleep(time.Second)
		defer trainer.paused.Store(false)
		return published(origin.sfu, room), relayStats(origin.sfu, room)
	}
	p0, r0 := snapshot()
	w.sleep(3 * time.Second)
	p1, r1 := snapshot()
	if len(r1) != 2 {
		t.Fatalf("origin relays to %d edges, want 2", len(r1))
	}
	for _, e := range []*node{e1, e2} {
		if len(r1[e.name]) != 2 {
			t.Fatalf("relay to %s carries %d tracks, want 2", e.name, len(r1[e.name]))
		}
		for _, kind := range []string{"video", "audio"} {
			recv := p1[kind].Packets - p0[kind].Packets
			relayed := r1[e.name][kind].Packets - r0[e.name][kind].Packets
			dropped := r1[e.name][kind].Dropped - r0[e.name][kind].Dropped
			t.Logf("%s %s: origin received %d, relayed once to the edge's %d viewers: %d (dropped %d)", e.name, kind, recv, viewersPerNode, relayed, dropped)
			if recv == 0 || relayed+dropped != recv {
				t.Errorf("%s %s: relayed %d + dropped %d != %d received", e.name, kind, relayed, dropped, recv)
			}
		}
	}
	for _, n := range []*node{origin, e1, e2} {
		st := n.sfu.Stats()
		t.Logf("%s: participants %d, forwarded %d, relay packets out %d, relay inputs %d, drops %+v",
			n.name, st.Participants, st.PacketsForwarded, st.RelayPackets, st.RelayInputs, st.Drops)
	}
}

func strconvI(i int) string { return strconv.Itoa(i) }

// Tracks come and go on the edge with the origin's: a trainer who leaves
// ends the relayed tracks for edge viewers, one who comes back is relayed
// again over the same link.
func TestCascadeFollowsPublishes(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorld(t, 60*time.Second, false)
	defer w.close()
	origin := w.addNode("origin", cascade.EdgeConfig{})
	edge := w.addNode("edge", cascade.EdgeConfig{})
	w.start()
	const room = "course-follow"
	if err := edge.edge.EnsureEdge(w.ctx, room, origin.srv.URL); err != nil {
		t.Fatal(err)
	}
	viewer := w.join(edge, room, "viewer", false, link{}, false)
	trainer := w.join(origin, room, "trainer", true, link{}, false)
	trainer.publish(simulcast3)
	w.waitFor("the edge viewer to receive the trainer", func() bool { return viewer.receiving("trainer", 20) })
	if n := len(edge.sfu.Stats().Published); n != 2 {
		t.Fatalf("edge publishes %d relayed tracks, want 2", n)
	}

	trainer.close()
	w.waitFor("the relayed tracks to end on the edge", func() bool {
		return viewer.track("trainer", webrtc.RTPCodecTypeVideo) == nil && viewer.track("trainer", webrtc.RTPCodecTypeAudio) == nil &&
			len(edge.sfu.Stats().Published) == 0
	})

	again := w.join(origin, room, "trainer", true, link{}, false)
	again.publish(simulcast3)
	w.waitFor("the edge viewer to receive the returning trainer", func() bool { return viewer.receiving("trainer", 20) })
	if ls := edge.edge.Links(); len(ls) != 1 || ls[0].Sessions != 1 {
		t.Errorf("links %+v: the same session should carry the new tracks", ls)
	}
	if plis := again.plis.Load(); plis == 0 {
		t.Error("no keyframe request reached the publisher")
	}
}
