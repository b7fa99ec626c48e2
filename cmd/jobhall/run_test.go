package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunEmbeddedDefault is the quick start's first command: no
// DATABASE_URL, no Redis; jobhall starts its own PostgreSQL, loads the demo
// day, serves, and shuts everything down when told to.
func TestRunEmbeddedDefault(t *testing.T) {
	base, err := os.MkdirTemp("", "jobhall-run-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	if err := os.Chmod(base, 0o755); err != nil { // the postgres user must reach it under root
		t.Fatal(err)
	}
	env := map[string]string{
		"JOBHALL_DATA_DIR": filepath.Join(base, "data"), "JOBHALL_LISTEN": "127.0.0.1:0",
		"JOBHALL_WEBRTC_UDP_PORT": "0", "JOBHALL_DEBUG_LISTEN": "127.0.0.1:0", "JOBHALL_TURN_PORT": "0", "JOBHALL_WEBRTC_TCP_PORT": "0",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(runCtx, []string{"serve"}, mapEnv(env), out, logs) }()

	re := regexp.MustCompile(`open (http://\S+)`)
	var url string
	for url == "" {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	get := func(path string) string {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if !strings.Contains(get("/readyz"), "ready") || !strings.Contains(get("/api/v1/fairs/current"), `"booths":241`) ||
		!strings.Contains(get("/seeker"), "seeker.js") {
		t.Fatal("the embedded default does not serve the demo")
	}
	if !strings.Contains(get("/api/v1/demo/people"), `"seekers":[{`) {
		t.Fatal("no demo people")
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("run did not stop")
	}
	if !strings.Contains(logs.String(), "private PostgreSQL stopped") {
		t.Fatalf("the private PostgreSQL was not stopped:\n%s", tail(logs.String(), 20))
	}
	if _, err := os.Stat(filepath.Join(base, "data", "token-secret")); err != nil {
		t.Fatalf("no generated token secret: %v", err)
	}
}
