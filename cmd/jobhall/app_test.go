package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"jobhall/booking"
	"jobhall/internal/pgtest"
	"jobhall/internal/roomtoken"
)

// syncBuffer collects a node's output for assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testNode struct {
	*app
	dbURL string
	out   *syncBuffer
	logs  *syncBuffer
}

// startNode runs a full jobhall node on loopback with its own database.
func startNode(t testing.TB, env map[string]string) *testNode {
	t.Helper()
	_, dbURL := pgtest.New(t, booking.Migrate)
	dir := t.TempDir()
	base := map[string]string{
		"DATABASE_URL":            dbURL,
		"JOBHALL_LISTEN":          "127.0.0.1:0",
		"JOBHALL_DATA_DIR":        dir,
		"JOBHALL_WEBRTC_UDP_PORT": "0",
		"JOBHALL_WEBRTC_TCP_PORT": "0",
		"JOBHALL_WEBRTC_IP":       "127.0.0.1",
		"JOBHALL_DEBUG_LISTEN":    "",
		"JOBHALL_DEMO":            "on",
		"JOBHALL_LOG_LEVEL":       "debug",
		"JOBHALL_TOKEN_SECRET":    "test-secret-test-secret-test-secret",
		"JOBHALL_TURN":            "false",
	}
	for k, v := range env {
		base[k] = v
	}
	out, logs := &syncBuffer{}, &syncBuffer{}
	cfg, err := parseConfig("jobhall", nil, mapEnv(base), logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := newApp(ctx, cfg, out, logs)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(ctx); err != nil {
		a.close()
		t.Fatalf("start: %v\n%s", err, logs.String())
	}
	a.url = "http://" + a.addr // the test reaches the listener directly
	t.Cleanup(func() {
		a.close()
		if t.Failed() {
			t.Logf("node log:\n%s", tail(logs.String(), 80))
		}
	})
	return &testNode{app: a, dbURL: dbURL, out: out, logs: logs}
}

// grant issues a one-minute room token on the node.
func (n *testNode) grant(t *testing.T, room, id, role string) string {
	t.Helper()
	return n.grantFor(t, roomtoken.Grant{Room: room, Identity: id, Name: id, Role: role, Expires: time.Now().Add(time.Minute)})
}

func (n *testNode) grantFor(t *testing.T, g roomtoken.Grant) string {
	t.Helper()
	tok, err := n.tokens.Issue(g)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestConfigTableIsInTheREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range options {
		if !bytes.Contains(readme, []byte("`"+o.env+"`")) || !bytes.Contains(readme, []byte("`-"+o.flag+"`")) {
			t.Errorf("README.md configuration table lacks %s / -%s", o.env, o.flag)
		}
	}
}

func TestConfigPrecedenceAndErrors(t *testing.T) {
	env := map[string]string{"JOBHALL_LISTEN": ":9000", "JOBHALL_WEBRTC_UDP_PORT": "40000"}
	c, err := parseConfig("t", []string{"-listen", ":9100"}, mapEnv(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9100" || c.UDPPort != 40000 || c.RecordingsDir != filepath.Join("jobhall-data", "recordings") || !c.demoOn() {
		t.Fatalf("config %+v", c)
	}
	for _, bad := range []map[string]string{
		{"JOBHALL_WEBRTC_UDP_PORT": "70000"}, {"JOBHALL_LOG_LEVEL": "loud"}, {"JOBHALL_DEMO": "maybe"},
		{"JOBHALL_TOKEN_SECRET_FILE": "/nonexistent/secret"},
	} {
		if _, err := parseConfig("t", nil, mapEnv(bad), io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	short := &config{TokenSecret: []byte("short")}
	if _, err := short.loadSecret(); err == nil {
		t.Error("a short secret was accepted")
	}
}

// The collector goal: 25 % by default, Go's GOGC when the operator set it,
// the flag or JOBHALL_GC_PERCENT over both.
func TestConfigGCPercent(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want int
	}{
		{nil, nil, defaultGCPercent},
		{map[string]string{"GOGC": "200"}, nil, 0},
		{map[string]string{"GOGC": "200", "JOBHALL_GC_PERCENT": "80"}, nil, 80},
		{map[string]string{"JOBHALL_GC_PERCENT": "80"}, []string{"-gc-percent", "auto"}, defaultGCPercent},
		{nil, []string{"-gc-percent", "100"}, 100},
	} {
		cfg, err := parseConfig("t", c.args, mapEnv(c.env), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.GCPercent != c.want {
			t.Errorf("env %v args %v: gc percent %d, want %d", c.env, c.args, cfg.GCPercent, c.want)
		}
	}
	for _, bad := range []string{"0", "-5", "lots"} {
		if _, err := parseConfig("t", []string{"-gc-percent", bad}, mapEnv(nil), io.Discard); err == nil {
			t.Errorf("-gc-percent %s accepted", bad)
		}
	}
}

func TestRunRefusesUnknownCommand(t *testing.T) {
	err := run(context.Background(), []string{"frobnicate"}, mapEnv(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("err %v", err)
	}
}
