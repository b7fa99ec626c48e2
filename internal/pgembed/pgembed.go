// Package pgembed runs a private PostgreSQL cluster from the local
// PostgreSQL installation, so that jobhall starts with no database set up.
package pgembed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Where PostgreSQL is looked for; variables so tests can hide it.
var (
	binGlob  = "/usr/lib/postgresql/*/bin"
	lookPath = exec.LookPath
)

// ErrNotInstalled means no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("PostgreSQL is not installed: install it (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL to an existing server")

// Cluster is a running private cluster.
type Cluster struct {
	URL     string // connection URL of the "jobhall" database
	dir     string
	bin     string
	cred    *syscall.Credential
	log     *slog.Logger
	stopped bool
}

// FindBin returns the folder holding initdb, pg_ctl and postgres: the
// newest /usr/lib/postgresql/*/bin, else from PATH.
func FindBin() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	if p, err := lookPath("pg_ctl"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		ok := true
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start initialises dir on first use and starts PostgreSQL on a free
// loopback port with password authentication. PostgreSQL refuses to run as
// root, so under root the cluster runs as the "postgres" system user.
func Start(ctx context.Context, dir string, log *slog.Logger) (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, log: log}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgembed: running as root needs the postgres system user to own the cluster: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Parents stay traversable for the postgres user; the cluster folder
	// itself is private.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	pgdata := filepath.Join(dir, "pgdata")
	pwfile := filepath.Join(dir, "password")
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); err != nil {
		if err := c.initdb(ctx, pgdata, pwfile); err != nil {
			return nil, err
		}
	}
	pw, err := os.ReadFile(pwfile)
	if err != nil {
		return nil, fmt.Errorf("pgembed: read password: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// A cluster left running by a killed jobhall would block the start.
	if err := c.cmd(ctx, "pg_ctl", "status", "-D", pgdata).Run(); err == nil {
		log.Warn("stopping a private PostgreSQL left running by an earlier run")
		if out, err := c.cmd(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", pgdata).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("pgembed: stop the old cluster: %v: %s", err, out)
		}
	}
	logfile := filepath.Join(dir, "postgres.log")
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200", port)
	if out, err := c.cmd(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", pgdata, "-l", logfile, "-o", opts).CombinedOutput(); err != nil {
		tail, _ := os.ReadFile(logfile)
		return nil, fmt.Errorf("pgembed: pg_ctl start: %v: %s\n%s", err, out, lastLines(tail, 10))
	}
	password := strings.TrimSpace(string(pw))
	base := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d", password, port)
	if err := createDB(ctx, base); err != nil {
		_ = c.Stop()
		return nil, err
	}
	c.URL = base + "/jobhall?sslmode=disable"
	log.Info("private PostgreSQL started", "dir", pgdata, "port", port)
	return c, nil
}

func (c *Cluster) initdb(ctx context.Context, pgdata, pwfile string) error {
	buf := make([]byte, 18)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	if err := os.WriteFile(pwfile, []byte(hex.EncodeToString(buf)+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if c.cred != nil {
		for _, p := range []string{c.dir, pwfile} {
			if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				return fmt.Errorf("pgembed: %w", err)
			}
		}
	}
	c.log.Info("initialising a private PostgreSQL cluster", "dir", pgdata)
	out, err := c.cmd(ctx, "initdb", "-D", pgdata, "-U", "postgres", "--auth=scram-sha-256",
		"--pwfile="+pwfile, "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(pgdata)
		return fmt.Errorf("pgembed: initdb: %v: %s", err, lastLines(out, 10))
	}
	return nil
}

// createDB makes the jobhall database if it is missing.
func createDB(ctx context.Context, base string) error {
	conn, err := pgx.Connect(ctx, base+"/postgres?sslmode=disable")
	if err != nil {
		return fmt.Errorf("pgembed: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "select exists(select 1 from pg_database where datname = 'jobhall')").Scan(&exists); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "create database jobhall"); err != nil {
			return fmt.Errorf("pgembed: create database: %w", err)
		}
	}
	return nil
}

// Stop shuts the cluster down (fast mode: open sessions are ended).
func (c *Cluster) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.cmd(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", filepath.Join(c.dir, "pgdata")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgembed: pg_ctl stop: %v: %s", err, out)
	}
	c.log.Info("private PostgreSQL stopped")
	return nil
}

func (c *Cluster) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgembed: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
