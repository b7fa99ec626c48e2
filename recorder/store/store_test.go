package store

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"jobhall/internal/apperr"
)

const versitygwModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

func guard(t *testing.T) func() {
	timer := time.AfterFunc(90*time.Second, func() { panic("test " + t.Name() + " timed out") })
	return func() { timer.Stop() }
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startVersityGW builds versitygw from the module proxy into a temp dir and
// serves a temp folder on a loopback port: a real S3 server, not a fake.
func startVersityGW(t *testing.T) (endpoint, access, secret string, stop func()) {
	t.Helper()
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "install", versitygwModule)
	build.Dir = bin // outside our module: @version installs ignore it anyway
	build.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building versitygw (needs the Go module proxy or a warm module cache): %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	access, secret = "jobhall", "jobhall-test-secret"
	root := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "versitygw"), "--access", access, "--secret", secret,
		"--port", addr, "--quiet", "posix", root)
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errs := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		errs <- b.String()
	}()
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-errs
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return addr, access, secret, stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("versitygw did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomFile(t *testing.T, size int) (string, string) {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	p := filepath.Join(t.TempDir(), "rec.webm")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return p, hex.EncodeToString(h[:])
}

// exercise runs the behaviour every Store must have.
func exercise(t *testing.T, s Store) {
	ctx := context.Background()
	// 12 MiB with 5 MiB parts: a three-part multipart upload on S3.
	path, sum := randomFile(t, 12<<20)
	o, err := s.Put(ctx, "room-1/alice.webm", path)
	if err != nil {
		t.Fatal(err)
	}
	if o.SHA256 != sum || o.Size != 12<<20 {
		t.Fatalf("Put = %+v, want sha256 %s and 12 MiB", o, sum)
	}
	rc, err := s.Open(ctx, "room-1/alice.webm")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	_, err = io.Copy(h, rc)
	_ = rc.Close()
	if err != nil || hex.EncodeToString(h.Sum(nil)) != sum {
		t.Fatalf("read back: %v, checksum match %v", err, hex.EncodeToString(h.Sum(nil)) == sum)
	}
	small, _ := randomFile(t, 1000)
	for _, k := range []string{"room-1/bob.webm", "room-2/carol.webm"} {
		if _, err := s.Put(ctx, k, small); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetLegalHold(ctx, "room-1/bob.webm", true); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Stat(ctx, "room-1/bob.webm"); err != nil || !o.LegalHold {
		t.Fatalf("Stat after hold: %+v, %v", o, err)
	}
	if err := s.Delete(ctx, "room-1/bob.webm"); !errors.Is(err, ErrLegalHold) {
		t.Fatalf("Delete on hold = %v, want ErrLegalHold", err)
	}
	if l, err := s.List(ctx, "room-1/"); err != nil || len(l) != 2 {
		t.Fatalf("List room-1/ = %+v, %v", l, err)
	}
	// Retention: nothing is old yet; two days later everything but the held one goes.
	if del, err := ApplyRetention(ctx, s, 24*time.Hour, time.Now()); err != nil || len(del) != 0 {
		t.Fatalf("retention now deleted %v, %v", del, err)
	}
	del, err := ApplyRetention(ctx, s, 24*time.Hour, time.Now().Add(48*time.Hour))
	if err != nil || len(del) != 2 {
		t.Fatalf("retention deleted %v, %v; want the two not on hold", del, err)
	}
	left, err := s.List(ctx, "")
	if err != nil || len(left) != 1 || left[0].Key != "room-1/bob.webm" {
		t.Fatalf("left %+v, %v; want only the held object", left, err)
	}
	if _, err := s.Stat(ctx, "room-1/alice.webm"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("Stat of a deleted object = %v, want not found", err)
	}
	if err := s.SetLegalHold(ctx, "room-1/bob.webm", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "room-1/bob.webm"); err != nil {
		t.Fatalf("Delete after releasing the hold: %v", err)
	}
}

func TestLocal(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	exercise(t, &Local{Root: t.TempDir()})
}

// TestLocalInPlace: a recording already at its key's path is only checksummed.
func TestLocalInPlace(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "room", "a.webm")
	_ = os.MkdirAll(filepath.Dir(p), 0o750)
	_ = os.WriteFile(p, []byte("media"), 0o600)
	o, err := (&Local{Root: root}).Put(context.Background(), "room/a.webm", p)
	if err != nil || o.Size != 5 || o.SHA256 == "" {
		t.Fatalf("Put in place = %+v, %v", o, err)
	}
}

func TestS3(t *testing.T) {
	defer goleak.VerifyNone(t)
	// The guard starts after the build: on a fresh machine fetching and
	// compiling versitygw alone can take minutes (it has its own bound).
	ep, access, secret, stop := startVersityGW(t)
	defer guard(t)()
	defer stop()
	s, err := NewS3(context.Background(), S3Config{Endpoint: ep, Bucket: "recordings", AccessKey: access,
		SecretKey: secret, Region: "us-east-1", PartSize: 5 << 20, Prefix: "jobhall/", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, s)
	s.Close()
}

// TestS3Unreachable: a store nobody listens on fails within the retry
// bounds with an "unavailable" error.
func TestS3Unreachable(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer guard(t)()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	_ = l.Close()
	start := time.Now()
	_, err := NewS3(context.Background(), S3Config{Endpoint: addr, Bucket: "bucket", AccessKey: "a", SecretKey: "s",
		Attempts: 3, Backoff: 10 * time.Millisecond, Logger: quiet()})
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err %v does not name the cause", err)
	}
	t.Logf("gave up after %v", time.Since(start))
}
