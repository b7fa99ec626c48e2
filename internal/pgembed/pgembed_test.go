package pgembed

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartStopRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The postgres user must be able to reach the folder when we are root.
	base, err := os.MkdirTemp("", "pgembed-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "data", "db")
	for i := 0; i < 2; i++ { // the second start reuses the initialised cluster
		c, err := Start(ctx, dir, nil)
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		conn, err := pgx.Connect(ctx, c.URL)
		if err != nil {
			c.Stop()
			t.Fatalf("connect %d: %v", i, err)
		}
		var n int
		if err := conn.QueryRow(ctx, "select 41+1").Scan(&n); err != nil || n != 42 {
			t.Fatalf("query: %v %d", err, n)
		}
		conn.Close(ctx)
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
}

func TestNotInstalledSaysWhatToDo(t *testing.T) {
	defer func(g string, l func(string) (string, error)) { binGlob, lookPath = g, l }(binGlob, lookPath)
	binGlob = filepath.Join(t.TempDir(), "none", "*", "bin")
	lookPath = func(string) (string, error) { return "", os.ErrNotExist }
	_, err := Start(context.Background(), t.TempDir(), nil)
	if err != ErrNotInstalled {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"apt-get install postgresql", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}
