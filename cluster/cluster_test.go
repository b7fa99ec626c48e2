package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"jobhall/internal/apperr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func redisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// testNode is a Cluster whose URL points at a real TCP listener (so the
// liveness probe succeeds) and whose load the test sets.
type testNode struct {
	*Cluster
	ln    net.Listener
	load  atomic.Int64
	rooms atomic.Pointer[[]RoomState]
}

func newTestNode(t *testing.T, url, prefix, id string, capacity int) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	n := &testNode{ln: ln}
	c, err := New(Config{RedisURL: url, Prefix: prefix, Heartbeat: 100 * time.Millisecond, TTL: 300 * time.Millisecond,
		Self:   Node{ID: id, URL: "http://" + ln.Addr().String(), Capacity: capacity},
		Logger: testLogger(),
		Snapshot: func() Local {
			l := Local{Load: int(n.load.Load())}
			if r := n.rooms.Load(); r != nil {
				l.Rooms = *r
			}
			return l
		}})
	if err != nil {
		t.Fatal(err)
	}
	n.Cluster = c
	c.Start(context.Background())
	t.Cleanup(func() { c.Close(); ln.Close() })
	return n
}

func prefix(t *testing.T) string {
	return fmt.Sprintf("test-cluster-%s-%d:", t.Name(), time.Now().UnixNano())
}

// TestPlacementSerializedAndByLoad: many concurrent joins of one room on
// three nodes place it once; new rooms go to the least loaded node; a
// draining node takes none; a node whose port refuses is passed over.
func TestPlacementSerializedAndByLoad(t *testing.T) {
	pfx := prefix(t)
	a := newTestNode(t, redisURL(), pfx, "a", 100)
	b := newTestNode(t, redisURL(), pfx, "b", 100)
	c := newTestNode(t, redisURL(), pfx, "c", 100)
	nodes := []*testNode{a, b, c}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s is not reachable (set TEST_REDIS_URL): %v", redisURL(), err)
	}

	var wg sync.WaitGroup
	got := make([]string, 60)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := nodes[i%3].Place(ctx, "interview-1")
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = n.ID
		}()
	}
	wg.Wait()
	for _, id := range got {
		if id != got[0] {
			t.Fatalf("one room placed on several nodes: %v", got)
		}
	}

	// Load: a and b are busy; new rooms go to c.
	a.load.Store(90)
	b.load.Store(50)
	time.Sleep(250 * time.Millisecond) // a heartbeat carries the load
	for i := range 5 {
		n, err := a.Place(ctx, fmt.Sprintf("room-load-%d", i))
		if err != nil || n.ID != "c" {
			t.Fatalf("room %d placed on %q (%v), want the least loaded c", i, n.ID, err)
		}
	}
	// c drains: b is next.
	c.Drain(ctx)
	if n, err := a.Place(ctx, "room-drain"); err != nil || n.ID != "b" {
		t.Fatalf("with c draining the room went to %q (%v), want b", n.ID, err)
	}
	// A room placed on c stays there while c drains (it finishes there).
	if n, err := b.Place(ctx, "room-load-0"); err != nil || n.ID != "c" {
		t.Fatalf("a draining node's room moved to %q (%v)", n.ID, err)
	}
	// b's port refuses (killed): its room is placed again, on a.
	b.ln.Close()
	time.Sleep(400 * time.Millisecond) // past the probe cache
	if n, err := a.Place(ctx, "room-drain"); err != nil || n.ID != "a" {
		t.Fatalf("room of a refusing node placed on %q (%v), want a", n.ID, err)
	}
	tot, err := a.Totals(ctx)
	if err != nil || tot.Participants < 90 {
		t.Fatalf("totals %+v %v", tot, err)
	}
}

// TestRoomStatePublished: presence and lobby order reach Redis from the
// heartbeat and go when the room does.
func TestRoomStatePublished(t *testing.T) {
	pfx := prefix(t)
	a := newTestNode(t, redisURL(), pfx, "a", 100)
	b := newTestNode(t, redisURL(), pfx, "b", 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rooms := []RoomState{{Room: "booth-5", Members: []Person{{ID: "host-1", Role: "booth_host", Connected: true}},
		Lobby: []Person{{ID: "seeker-1", Role: "seeker"}, {ID: "seeker-2", Role: "seeker"}}}}
	a.rooms.Store(&rooms)
	waitFor(t, "room state on b", func() bool {
		rs, ok, err := b.RoomState(ctx, "booth-5")
		return err == nil && ok && rs.Node == "a" && len(rs.Lobby) == 2 && rs.Lobby[1].ID == "seeker-2"
	})
	// The room is held by a: b's placement finds it there.
	if n, err := b.Place(ctx, "booth-5"); err != nil || n.ID != "a" {
		t.Fatalf("active room placed on %q (%v), want a", n.ID, err)
	}
	a.rooms.Store(&[]RoomState{})
	waitFor(t, "room state gone", func() bool {
		_, ok, err := b.RoomState(ctx, "booth-5")
		return err == nil && !ok
	})
}

// TestRedisDownAndBack: without Redis placement fails clearly (apperr
// Unavailable) and Healthy says so; when Redis returns empty, the
// heartbeat re-registers the node and re-claims its active rooms.
func TestRedisDownAndBack(t *testing.T) {
	port := freePort(t)
	stop := startRedis(t, port)
	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	a := newTestNode(t, url, "jh:", "a", 100)
	b := newTestNode(t, url, "jh:", "b", 100)
	rooms := []RoomState{{Room: "interview-9", Members: []Person{{ID: "s", Role: "seeker", Connected: true}}}}
	a.rooms.Store(&rooms)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	time.Sleep(300 * time.Millisecond) // a's heartbeat claims its active room
	waitFor(t, "placement of a's room", func() bool { n, err := b.Place(ctx, "interview-9"); return err == nil && n.ID == "a" })

	stop()
	waitFor(t, "unhealthy", func() bool { return a.Healthy() != nil })
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	_, err := b.Place(pctx, "interview-10")
	pcancel()
	if apperr.CodeOf(err) != apperr.Unavailable || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("placement without Redis: %v", err)
	}

	startRedis(t, port)
	// Close the nodes while Redis is up: a client closed while it cannot
	// dial leaves go-redis's redial goroutine behind for a second.
	defer func() { a.Close(); b.Close() }()
	waitFor(t, "healthy again", func() bool { return a.Healthy() == nil && b.Healthy() == nil })
	waitFor(t, "a's room re-claimed", func() bool { n, err := b.Place(ctx, "interview-9"); return err == nil && n.ID == "a" })
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRedis runs a private redis-server (no persistence) and returns a
// function that kills it.
func startRedis(t *testing.T, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server (needed for this test): %v", err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("private redis-server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
