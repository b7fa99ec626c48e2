package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pion/webrtc/v4"

	"jobhall/booking"
	"jobhall/internal/pgtest"
	"jobhall/internal/roomtoken"
	"jobhall/signaling"
)

// These tests run jobhall as separate processes (the binary built once),
// three nodes on loopback ports sharing one PostgreSQL test database and a
// private redis-server, and drive them with Pion clients through the real
// signalling.

const clusterSecret = "cluster-test-secret-cluster-test-secret"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// jobhallBinary builds cmd/jobhall once per test process.
func jobhallBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jobhall-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "jobhall")
		out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Test ports come from below the kernel's ephemeral range (32768 and up on
// Linux), so no ":0" listener and no outgoing connection can take one
// between its choice and the node's bind; each is handed out once per
// process.
var testPorts struct {
	mu   sync.Mutex
	next int
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	testPorts.mu.Lock()
	defer testPorts.mu.Unlock()
	if testPorts.next == 0 {
		testPorts.next = 20000 + rand.IntN(10000)
	}
	for range 2000 {
		p := testPorts.next
		testPorts.next++
		if testPorts.next >= 32000 {
			testPorts.next = 20000
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		return p
	}
	t.Fatal("no free TCP port in 20000-31999")
	return 0
}

// redisProc is a private redis-server (no persistence) on its own port.
type redisProc struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedisServer(t *testing.T, port int) *redisProc {
	t.Helper()
	r := &redisProc{t: t, port: port}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisProc) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

func (r *redisProc) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server (needed for the cluster tests): %v", err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(r.cmd, r.done)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(r.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("private redis-server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisProc) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// proc is one jobhall node process.
type proc struct {
	t      *testing.T
	id     string
	url    string // http://127.0.0.1:port
	debug  string // http://127.0.0.1:port (operator endpoints)
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	err    error // set when exited is closed
}

func (p *proc) wsURL() string { return "ws" + strings.TrimPrefix(p.url, "http") + "/ws" }

// startCluster runs n nodes sharing dbURL and redisURL.
func startCluster(t *testing.T, n int, dbURL, redisURL string, extra map[string]string) []*proc {
	t.Helper()
	bin := jobhallBinary(t)
	var procs []*proc
	for i := range n {
		port, dport := freeTCPPort(t), freeTCPPort(t)
		p := &proc{t: t, id: fmt.Sprintf("n%d", i+1), url: fmt.Sprintf("http://127.0.0.1:%d", port),
			debug: fmt.Sprintf("http://127.0.0.1:%d", dport), logs: &syncBuffer{}, exited: make(chan struct{})}
		env := map[string]string{
			"DATABASE_URL": dbURL, "REDIS_URL": redisURL, "JOBHALL_REDIS_PREFIX": "jhtest:",
			"JOBHALL_LISTEN": fmt.Sprintf("127.0.0.1:%d", port), "JOBHALL_NODE_URL": p.url, "JOBHALL_NODE_ID": p.id,
			"JOBHALL_PUBLIC_URL": p.url, "JOBHALL_DEBUG_LISTEN": fmt.Sprintf("127.0.0.1:%d", dport),
			"JOBHALL_DATA_DIR": t.TempDir(), "JOBHALL_WEBRTC_UDP_PORT": "0", "JOBHALL_WEBRTC_TCP_PORT": "0",
			"JOBHALL_WEBRTC_IP": "127.0.0.1", "JOBHALL_TURN": "false", "JOBHALL_DEMO": "off", "JOBHALL_MATCHING": "false",
			"JOBHALL_TOKEN_SECRET": clusterSecret, "JOBHALL_LOG_LEVEL": "debug", "JOBHALL_DRAIN_TIMEOUT": "0",
		}
		for k, v := range extra {
			env[k] = v
		}
		p.cmd = exec.Command(bin, "serve")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "JOBHALL_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") {
				p.cmd.Env = append(p.cmd.Env, kv)
			}
		}
		for k, v := range env {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.err = p.cmd.Wait(); close(p.exited) }()
		t.Cleanup(func() {
			p.signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(20 * time.Second):
				p.signal(syscall.SIGKILL)
				<-p.exited
			}
			if t.Failed() {
				t.Logf("node %s log:\n%s", p.id, tail(p.logs.String(), 60))
			}
		})
		procs = append(procs, p)
	}
	for _, p := range procs {
		p.waitReady()
	}
	return procs
}

func (p *proc) signal(s syscall.Signal) {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(s)
	}
}

func (p *proc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, _ := httpGet(p.url + "/readyz"); st == 200 {
			return
		}
		select {
		case <-p.exited:
			p.t.Fatalf("node %s exited: %v\n%s", p.id, p.err, tail(p.logs.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("node %s not ready\n%s", p.id, tail(p.logs.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(url string) (int, string) {
	c := http.Client{Timeout: 3 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func httpPost(url, token string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest("POST", url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func clusterToken(t *testing.T, room, id, role string) string {
	t.Helper()
	is, err := roomtoken.NewIssuer([]byte(clusterSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := is.Issue(roomtoken.Grant{Room: room, Identity: id, Name: id, Role: role, Expires: time.Now().Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// await returns the next frame of one of the types, skipping others.
func (p *peer) await(types ...string) signaling.Outbound {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-p.frames:
			for _, typ := range types {
				if m.Type == typ {
					return m
				}
			}
		case <-timeout:
			p.t.Fatalf("no %v frame", types)
			return signaling.Outbound{}
		}
	}
}

// redial drops the WebSocket and connects to wsu.
func (p *peer) redial(ctx context.Context, wsu string) {
	p.t.Helper()
	p.ws.Close()
	<-p.done
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, wsu, nil)
	if err != nil {
		p.t.Fatalf("dial %s: %v", wsu, err)
	}
	p.wmu.Lock()
	p.ws = ws
	p.wmu.Unlock()
	p.done = make(chan struct{})
	go p.readLoop()
}

// joinFollow joins on the current WebSocket (connected to at), following
// redirects as the room page does; it returns the joined frame and the
// WebSocket URL of the node that served it.
func (p *peer) joinFollow(ctx context.Context, at, room, token string, resume bool) (signaling.Outbound, string) {
	p.t.Helper()
	for range 4 {
		p.send(map[string]any{"type": "hello", "version": 1})
		p.await("welcome")
		p.send(map[string]any{"type": "join", "room": room, "token": token, "resume": resume})
		m := p.await("joined", "redirect", "error", "lobby")
		switch m.Type {
		case "joined":
			return m, at
		case "redirect":
			p.await("bye")
			at = m.URL
			p.redial(ctx, at)
		default:
			b, _ := json.Marshal(m)
			p.t.Fatalf("join %s via %s: %s", room, at, b)
		}
	}
	p.t.Fatalf("join %s: too many redirects", room)
	return signaling.Outbound{}, ""
}

// dropMedia closes the PeerConnections (their server side is gone).
func (p *peer) dropMedia() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range []*webrtc.PeerConnection{p.pub, p.sub} {
		if pc != nil {
			pc.Close()
		}
	}
	p.pub, p.sub = nil, nil
}

func nodeAt(t *testing.T, procs []*proc, wsu string) *proc {
	t.Helper()
	for _, p := range procs {
		if strings.HasPrefix(wsu, p.wsURL()) {
			return p
		}
	}
	t.Fatalf("no node serves %s", wsu)
	return nil
}

func waitAbove(t *testing.T, what string, limit time.Duration, v func() int64, above int64) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for v() <= above {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d after %s", what, v(), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterMeetAndFailover: a seeker and an interviewer whose
// WebSockets reach different nodes meet in one room (on the node it was
// placed on) with media both ways; the room's presence is visible from
// another node; after a kill -9 of the room's node both rejoin through a
// live node and have media both ways again within 5 s.
func TestClusterMeetAndFailover(t *testing.T) {
	procs := startThreeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const room = "meet-1"
	tokS, tokI := clusterToken(t, room, "seeker-1", "seeker"), clusterToken(t, room, "interviewer-1", "interviewer")

	entry := map[string]*proc{"seeker": procs[0], "interviewer": procs[1]}
	s := dialPeer(t, ctx, procs[0].url)
	_, atS := s.joinFollow(ctx, procs[0].wsURL(), room, tokS, false)
	i := dialPeer(t, ctx, procs[1].url)
	_, atI := i.joinFollow(ctx, procs[1].wsURL(), room, tokI, false)
	if nodeAt(t, procs, atS) != nodeAt(t, procs, atI) {
		t.Fatalf("the two parties are on different nodes: %s and %s", atS, atI)
	}
	host := nodeAt(t, procs, atS)
	t.Logf("room %s placed on %s", room, host.id)

	pubCtx, stopPub := context.WithCancel(ctx)
	s.publish(pubCtx)
	i.publish(pubCtx)
	waitGrowth(t, "media to the seeker", s.received.Load)
	waitGrowth(t, "media to the interviewer", i.received.Load)

	// Presence is shared: another node sees both in the room.
	other := othersThan(procs, host)[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := httpGet(other.debug + "/cluster/rooms/" + room)
		if st == 200 && strings.Contains(body, `"seeker-1"`) && strings.Contains(body, `"interviewer-1"`) && strings.Contains(body, `"node":"`+host.id+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room state from %s: %d %s", other.id, st, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, body := httpGet(other.debug + "/cluster"); st != 200 || !strings.Contains(body, `"Participants":2`) {
		t.Fatalf("cluster totals from %s: %d %s", other.id, st, body)
	}

	// kill -9 of the room's node mid-interview.
	stopPub()
	baseS, baseI := s.received.Load(), i.received.Load()
	killed := time.Now()
	host.signal(syscall.SIGKILL)
	<-host.exited
	for _, pr := range []struct {
		p    *peer
		role string
		tok  string
	}{{s, "seeker", tokS}, {i, "interviewer", tokI}} {
		e := entry[pr.role]
		if e == host { // the load balancer sends it to a live node
			e = other
		}
		<-pr.p.done // the WebSocket died with the node
		pr.p.dropMedia()
		pr.p.redial(ctx, e.wsURL())
		j, at := pr.p.joinFollow(ctx, e.wsURL(), room, pr.tok, true)
		if j.Resumed {
			t.Fatal("resumed on a new node: the media session died with the old one")
		}
		if nodeAt(t, procs, at) == host {
			t.Fatal("rejoined on the dead node")
		}
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		pr.p.publish(pctx)
	}
	waitAbove(t, "media to the seeker after failover", 10*time.Second, s.received.Load, baseS+5)
	waitAbove(t, "media to the interviewer after failover", 10*time.Second, i.received.Load, baseI+5)
	took := time.Since(killed)
	t.Logf("kill -9 of %s to media both ways on another node: %v", host.id, took)
	if took > 5*time.Second { // the issue's requirement
		t.Fatalf("failover took %v, over 5 s", took)
	}
}

// startThreeNodes starts three jobhall nodes on one fresh database and a
// private Redis.
func startThreeNodes(t *testing.T) []*proc {
	_, dbURL := pgtest.New(t, booking.Migrate)
	rds := startRedisServer(t, freeTCPPort(t))
	return startCluster(t, 3, dbURL, rds.url(), nil)
}

// othersThan is procs without p.
func othersThan(procs []*proc, p *proc) []*proc {
	var out []*proc
	for _, q := range procs {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// TestClusterDrain: a node told to drain keeps its room going (even new
// participants of that room are sent to it), places no new room, reports
// itself not ready, and exits on its own once its room has ended.
func TestClusterDrain(t *testing.T) {
	procs := startThreeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const room = "drain-1"
	s := dialPeer(t, ctx, procs[0].url)
	_, at := s.joinFollow(ctx, procs[0].wsURL(), room, clusterToken(t, room, "seeker-1", "seeker"), false)
	host := nodeAt(t, procs, at)
	i := dialPeer(t, ctx, procs[1].url)
	i.joinFollow(ctx, procs[1].wsURL(), room, clusterToken(t, room, "interviewer-1", "interviewer"), false)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	i.publish(pubCtx)
	waitGrowth(t, "media to the seeker", s.received.Load)

	if st, body := httpPost(host.debug+"/drain", "", nil); st != 200 {
		t.Fatalf("drain: %d %s", st, body)
	}
	if st, body := httpGet(host.url + "/readyz"); st != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("readyz of a draining node: %d %s", st, body)
	}
	// New rooms, even when asked on the draining node, go elsewhere.
	for k := range 6 {
		r := fmt.Sprintf("drain-new-%d", k)
		v := dialPeer(t, ctx, host.url)
		if _, at := v.joinFollow(ctx, host.wsURL(), r, clusterToken(t, r, "viewer-1", "viewer"), false); nodeAt(t, procs, at) == host {
			t.Fatalf("new room %s placed on the draining node", r)
		}
		v.close()
	}
	// Its own room goes on: a newcomer through another node is sent to it.
	other := othersThan(procs, host)[0]
	o := dialPeer(t, ctx, other.url)
	if _, at := o.joinFollow(ctx, other.wsURL(), room, clusterToken(t, room, "officer-1", "officer"), false); nodeAt(t, procs, at) != host {
		t.Fatalf("a participant of the draining node's room was served on %s", at)
	}
	waitGrowth(t, "media while draining", s.received.Load)
	select {
	case <-host.exited:
		t.Fatalf("the draining node exited with its room open: %v", host.err)
	default:
	}
	// The room ends: everyone leaves; the node exits by itself. The
	// publisher leaves last: its leaving renegotiates the others, and an
	// offer racing a departed peer's DTLS close would fail its answer.
	for _, p := range []*peer{o, s, i} {
		p.send(map[string]any{"type": "leave"})
		p.await("bye")
	}
	select {
	case <-host.exited:
		if host.err != nil {
			t.Fatalf("drained node exit: %v", host.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the drained node did not exit after its room ended")
	}
	if !strings.Contains(host.logs.String(), "drained: every room here has ended") {
		t.Fatal("no drained log line")
	}
}

// TestClusterRedisRestart: Redis goes away mid-interview and comes back
// empty: the room's media goes on, its node still admits to it, bookings
// on every node succeed and are all in PostgreSQL, a new room's placement
// fails clearly (unavailable) while Redis is away and works after, /readyz
// says so and recovers, and no node crashes.
func TestClusterRedisRestart(t *testing.T) {
	pool, dbURL := pgtest.New(t, booking.Migrate)
	rds := startRedisServer(t, freeTCPPort(t))
	procs := startCluster(t, 3, dbURL, rds.url(), map[string]string{"JOBHALL_DEMO": "on"})
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()

	// Seekers and free slots for bookings made while Redis is down and after.
	var fair int64
	if err := pool.QueryRow(ctx, `SELECT fair_id FROM booths GROUP BY fair_id ORDER BY count(*) DESC, fair_id DESC LIMIT 1`).Scan(&fair); err != nil {
		t.Fatal(err)
	}
	slots := queryIDs(t, ctx, pool, `SELECT s.id FROM slots s JOIN booths b ON b.id = s.booth_id
		WHERE b.fair_id = $1 AND s.open AND lower(s.during) > now() + interval '10 minutes'
		  AND NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.slot_id = s.id AND bk.status IN ('held', 'booked'))
		ORDER BY s.booth_id, s.id LIMIT 200`, fair)
	seekers := queryIDs(t, ctx, pool, `SELECT id FROM seekers s WHERE NOT EXISTS (SELECT 1 FROM bookings b WHERE b.seeker_id = s.id)
		ORDER BY id DESC LIMIT 6`)
	if len(seekers) < 6 || len(slots) < 60 {
		t.Fatalf("demo data: %d seekers, %d slots", len(seekers), len(slots))
	}
	toks := make([]string, len(seekers))
	for k, id := range seekers {
		st, body := httpPost(procs[k%3].url+"/api/v1/session/demo", "", map[string]any{"role": "seeker", "id": id})
		var out struct{ Token string }
		if st != 200 || json.Unmarshal(body, &out) != nil || out.Token == "" {
			t.Fatalf("demo sign-in: %d %s", st, body)
		}
		toks[k] = out.Token
	}
	book := func(k int) {
		t.Helper()
		// Different booths (slots are ordered by booth): one seeker each.
		st, body := httpPost(procs[k%3].url+"/api/v1/bookings", toks[k], map[string]any{"slot_id": slots[k*10]})
		if st != 201 {
			t.Fatalf("booking %d on %s: %d %s", k, procs[k%3].id, st, body)
		}
	}

	const room = "redis-1"
	s := dialPeer(t, ctx, procs[0].url)
	_, at := s.joinFollow(ctx, procs[0].wsURL(), room, clusterToken(t, room, "seeker-1", "seeker"), false)
	host := nodeAt(t, procs, at)
	i := dialPeer(t, ctx, procs[1].url)
	i.joinFollow(ctx, procs[1].wsURL(), room, clusterToken(t, room, "interviewer-1", "interviewer"), false)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	i.publish(pubCtx)
	s.publish(pubCtx)
	waitGrowth(t, "media to the seeker", s.received.Load)

	rds.stop()
	for _, p := range procs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, body := httpGet(p.url + "/readyz")
			if st == 503 && strings.Contains(body, "redis") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz of %s without Redis: %d %s", p.id, st, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitGrowth(t, "media to the seeker without Redis", s.received.Load)
	waitGrowth(t, "media to the interviewer without Redis", i.received.Load)
	for k := range 3 {
		book(k)
	}
	// The room's node still admits to the room it has.
	o := dialPeer(t, ctx, host.url)
	o.joinFollow(ctx, host.wsURL(), room, clusterToken(t, room, "officer-1", "officer"), false)
	// A new room cannot be placed: a clear error, the connection stays.
	n := dialPeer(t, ctx, procs[2].url)
	n.send(map[string]any{"type": "hello", "version": 1})
	n.await("welcome")
	n.send(map[string]any{"type": "join", "room": "redis-2", "token": clusterToken(t, "redis-2", "viewer-1", "viewer")})
	if m := n.await("error", "joined", "redirect"); m.Type != "error" || m.Code != "unavailable" {
		t.Fatalf("join of a new room without Redis: %+v", m)
	}

	rds.start()
	for _, p := range procs {
		p.waitReady()
	}
	for k := 3; k < 6; k++ {
		book(k)
	}
	n.joinFollow(ctx, procs[2].wsURL(), "redis-2", clusterToken(t, "redis-2", "viewer-1", "viewer"), false)
	// The room came back to its node's placement: a newcomer goes there.
	v := dialPeer(t, ctx, procs[2].url)
	if _, at := v.joinFollow(ctx, procs[2].wsURL(), room, clusterToken(t, room, "viewer-2", "viewer"), false); nodeAt(t, procs, at) != host {
		t.Fatalf("after Redis came back the room was served on %s, want %s", at, host.id)
	}
	waitGrowth(t, "media after Redis came back", s.received.Load)

	var booked int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM bookings WHERE seeker_id = ANY($1) AND status IN ('held', 'booked')`, seekers).Scan(&booked); err != nil {
		t.Fatal(err)
	}
	if booked != 6 {
		t.Fatalf("%d bookings in PostgreSQL, want 6", booked)
	}
	for _, p := range procs {
		select {
		case <-p.exited:
			t.Fatalf("node %s exited: %v", p.id, p.err)
		default:
		}
	}
}

func queryIDs(t *testing.T, ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) []int64 {
	t.Helper()
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestClusterPagesFollowRedirectAndFailover: the real room page in two
// headless Chromiums, opened on two nodes that do not hold the room,
// follows the redirect to the room's node by itself; after a kill -9 of
// that node both pages rejoin on a live node on their own.
func TestClusterPagesFollowRedirectAndFailover(t *testing.T) {
	procs := startThreeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	const room = "meet-web"
	// An officer places the room (on whichever node has the least load).
	o := dialPeer(t, ctx, procs[0].url)
	_, at := o.joinFollow(ctx, procs[0].wsURL(), room, clusterToken(t, room, "officer-1", "officer"), false)
	host := nodeAt(t, procs, at)
	homes := othersThan(procs, host)
	t.Logf("room %s placed on %s; pages open on %s and %s", room, host.id, homes[0].id, homes[1].id)

	pages := []context.Context{newBrowser(t, ctx), newBrowser(t, ctx)}
	for k, role := range []string{"interviewer", "booth_host"} {
		navigate(t, pages[k], homes[k].url+"/room?token="+clusterToken(t, room, role+"-1", role))
	}
	onHost := fmt.Sprintf(`window.jh && jh.ws && jh.ws.url.startsWith(%q) && jh.state === 'connected'`, host.wsURL())
	for k, p := range pages {
		waitJS(t, p, onHost, 30*time.Second)
		waitMedia(t, p, fmt.Sprintf("page %d", k))
	}

	killed := time.Now()
	host.signal(syscall.SIGKILL)
	<-host.exited
	// Media again on a new subscriber connection, on a live node.
	back := fmt.Sprintf(`window.jh && jh.ws && !jh.ws.url.startsWith(%q) && jh.state === 'connected'`, host.wsURL())
	var took []time.Duration
	for k, p := range pages {
		waitJS(t, p, back, 20*time.Second)
		waitMedia(t, p, fmt.Sprintf("page %d after failover", k))
		took = append(took, time.Since(killed))
	}
	t.Logf("kill -9 of %s to decoded video and audio in both pages: %v, %v", host.id, took[0], took[1])
	if took[1] > 5*time.Second {
		t.Fatalf("the pages took %v to be back in media, over 5 s", took[1])
	}
}
