package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"jobhall/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// jobhallBinary builds cmd/jobhall once per test run: loadgen measures the
// SFU as a separate process (CPU and RSS from /proc), as in BENCHMARKS.md.
func jobhallBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "loadgen-smoke-"); buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "jobhall"), "jobhall/cmd/jobhall").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "jobhall")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type server struct {
	url, metrics, secret string
	pid                  int
}

const smokeSecret = "loadgen-smoke-secret-0123456789"

// startServer runs `jobhall serve` on a fresh database, loopback only, and
// stops it when the test ends.
func startServer(t *testing.T) server {
	t.Helper()
	bin := jobhallBinary(t)
	_, dbURL := pgtest.New(t, nil)
	port, dbg := freePort(t), freePort(t)
	cmd := exec.Command(bin, "serve", "-listen", fmt.Sprintf("127.0.0.1:%d", port), "-database-url", dbURL,
		"-data-dir", t.TempDir(), "-demo", "off", "-turn=false", "-matching=false", "-webrtc-udp-port", "0",
		"-webrtc-tcp-port", "0", "-webrtc-ip", "127.0.0.1", "-token-secret", smokeSecret,
		"-debug-listen", fmt.Sprintf("127.0.0.1:%d", dbg), "-log-level", "warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	s := server{url: fmt.Sprintf("http://127.0.0.1:%d", port), metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", dbg),
		secret: smokeSecret, pid: cmd.Process.Pid}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("jobhall exited early:\n%s", logs.String())
		default:
		}
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobhall not ready after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// smoke runs one media scenario briefly with a tiny N and checks the
// summary's fields: present, and sane for a loopback run.
func smoke(t *testing.T, scenario string, n int) mediaSummary {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	err := run(ctx, []string{scenario, "-n", strconv.Itoa(n), "-url", s.url, "-token-secret", s.secret,
		"-sfu-pid", strconv.Itoa(s.pid), "-metrics-url", s.metrics, "-bitrate", "300000",
		"-warmup", "2s", "-duration", "3s"}, &out, &errs)
	if err != nil {
		t.Fatalf("loadgen %s: %v\n%s", scenario, err, errs.String())
	}
	// Every field the issue asks for is in the JSON.
	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"sfu_cpu_seconds", "packets_forwarded", "sfu_cpu_us_per_forwarded_packet", "loss_percent",
		"added_latency_p50_ms", "added_latency_p99_ms", "join_to_first_packet_p50_ms", "nacks_sent_by_subscribers",
		"plis_received_by_publishers", "sfu_rss_per_subscriber_bytes", "added_latency_at", "reader_latency_p99_ms",
		"twcc_feedback_sent_by_subscribers", "packets_received_direct"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	var sum mediaSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", out.String())
	switch {
	case sum.JoinFailures != 0:
		t.Errorf("%d joins failed", sum.JoinFailures)
	case sum.PacketsForwarded <= 0 || sum.ForwardedSource != "sfu metrics":
		t.Errorf("forwarded packets %d (from %s)", sum.PacketsForwarded, sum.ForwardedSource)
	case sum.PacketsReceived <= 0 || sum.BadPayloads != 0:
		t.Errorf("subscribers received %d packets, %d bad", sum.PacketsReceived, sum.BadPayloads)
	case sum.LossPercent > 5:
		t.Errorf("loss %.1f%% on loopback", sum.LossPercent)
	case sum.SFUCPUSeconds <= 0 || sum.CPUusPerForwarded <= 0:
		t.Errorf("SFU CPU %.3f s, %.2f µs per forwarded packet", sum.SFUCPUSeconds, sum.CPUusPerForwarded)
	case sum.SFURSSPerSubscriber <= 0:
		t.Errorf("SFU RSS per subscriber %d bytes", sum.SFURSSPerSubscriber)
	case sum.JoinToFirstP50ms <= 0 || sum.LatencyP99ms < sum.LatencyP50ms:
		t.Errorf("join to first packet p50 %.1f ms, latency p50 %.1f p99 %.1f ms", sum.JoinToFirstP50ms, sum.LatencyP50ms, sum.LatencyP99ms)
	case sum.LatencyAt != "socket" || sum.ReaderLatencyP50ms < sum.LatencyP50ms || sum.ReaderLatencyP99ms < sum.LatencyP99ms:
		// A packet reaches loadgen's reader after its socket, never before.
		t.Errorf("latency at %q: p50 %.1f p99 %.1f ms, at the reader p50 %.1f p99 %.1f ms", sum.LatencyAt,
			sum.LatencyP50ms, sum.LatencyP99ms, sum.ReaderLatencyP50ms, sum.ReaderLatencyP99ms)
	case sum.FeedbackSent <= 0:
		t.Errorf("subscribers sent no transport-wide feedback from their stamped arrivals")
	case sum.ReceivedDirect*2 < sum.PacketsReceived:
		// Pion measures only each stream's first packets (until OnTrack).
		t.Errorf("the direct path measured %d of %d packets received", sum.ReceivedDirect, sum.PacketsReceived)
	case sum.NACKsSent < 0 || sum.NACKsAtPublishers < 0 || sum.PLIsAtPublishers < 0:
		// Counted in the window only: on a clean loopback run they may be 0.
		t.Errorf("NACKs %d (%d at publishers), PLIs at publishers %d", sum.NACKsSent, sum.NACKsAtPublishers, sum.PLIsAtPublishers)
	}
	return sum
}

func TestSmokeInterviews(t *testing.T) {
	if sum := smoke(t, "interviews", 2); sum.Rooms != 2 || sum.Publishers != 4 || sum.Subscribers != 4 {
		t.Errorf("rooms %d, publishers %d, subscribers %d", sum.Rooms, sum.Publishers, sum.Subscribers)
	}
}

func TestSmokePanel(t *testing.T) {
	if sum := smoke(t, "panel", 1); sum.Rooms != 1 || sum.Publishers != 4 || sum.Subscribers != 4 {
		t.Errorf("rooms %d, publishers %d, subscribers %d", sum.Rooms, sum.Publishers, sum.Subscribers)
	}
}

func TestSmokeBroadcast(t *testing.T) {
	if sum := smoke(t, "broadcast", 4); sum.Rooms != 1 || sum.Publishers != 1 || sum.Subscribers != 4 {
		t.Errorf("rooms %d, publishers %d, subscribers %d", sum.Rooms, sum.Publishers, sum.Subscribers)
	}
}
