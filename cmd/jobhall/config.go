package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config is everything jobhall reads from flags and the environment. The
// option table below is the only place either is read, and the README's
// configuration table mirrors it (a test checks).
type config struct {
	Listen      string
	PublicURL   string
	DatabaseURL string
	RedisURL    string
	// Cluster (with RedisURL): this node in the registry, and drain.
	NodeID        string
	NodeURL       string // this node's own base URL (redirect target); empty = the public URL
	NodeInternal  string // base URL other nodes reach this node at (cascade relay, liveness probe); empty = NodeURL
	NodeCapacity  int
	RedisPrefix   string
	DrainTimeout  time.Duration
	DataDir       string
	RecordingsDir string
	UDPPort       int
	TCPPort       int
	WebRTCIP      string
	PublicIPs     []string
	Loopback      bool
	TokenSecret   []byte
	LogLevel      slog.Level
	DebugListen   string
	MemoryLimit   int64         // bytes, runtime/debug.SetMemoryLimit; 0 = Go's default (GOMEMLIMIT or none)
	MemoryTrim    time.Duration // how often to look for idle heap to return to the OS; 0 = never
	GCPercent     int           // runtime/debug.SetGCPercent; 0 = leave the runtime's (GOGC is set)
	Demo          string        // "auto", "on" or "off"
	DemoSeed      int64
	AdminLogin    string        // booking administrator created at start
	AdminPassword string        // empty: none
	SweepInterval time.Duration // booking sweeper and outbox cadence
	MonitorEvery  time.Duration // alert rules and training attendance cadence
	Matching      bool          // build the matching index (feed, candidates, pushes)
	MatchRebuild  time.Duration
	PushTop       int
	PushMinScore  float64
	TURN          bool
	TURNPort      int
	TURNTLSPort   int
	TURNTLSCert   string
	TURNTLSKey    string
	TURNHost      string

	// Recording archive (recording_archive.go): S3 when an endpoint is set.
	S3Endpoint    string // host:port, or a URL (https:// = TLS)
	S3Bucket      string
	S3AccessKey   string
	S3SecretKey   string
	S3Region      string
	RetentionDays int // recordings' media kept this many days; 0 = forever
}

// defaultGCPercent is the collector's goal unless GOGC or -gc-percent says
// otherwise (docs/OPERATIONS.md: memory per viewer against CPU).
const defaultGCPercent = 25

type option struct {
	flag, env, def, help string
	set                  func(c *config, v string) error
}

var options = []option{
	{"listen", "JOBHALL_LISTEN", ":8080", "HTTP listen address (pages, API, WebSocket)", func(c *config, v string) error { c.Listen = v; return nil }},
	{"public-url", "JOBHALL_PUBLIC_URL", "", "base URL users open, used in join links; empty = http://localhost:<port>", func(c *config, v string) error {
		c.PublicURL = strings.TrimRight(v, "/")
		return nil
	}},
	{"database-url", "DATABASE_URL", "", "PostgreSQL URL; empty = start a private cluster from the local PostgreSQL install in <data-dir>/postgres", func(c *config, v string) error { c.DatabaseURL = v; return nil }},
	{"redis-url", "REDIS_URL", "", "Redis URL for multi-node state; empty = single node on an in-process bus", func(c *config, v string) error { c.RedisURL = v; return nil }},
	{"node-id", "JOBHALL_NODE_ID", "", "this node's id in the cluster (with Redis); empty = host name and HTTP port", func(c *config, v string) error {
		if len(v) > 64 || strings.ContainsAny(v, " /:") {
			return errors.New("must be at most 64 characters without spaces, slashes or colons")
		}
		c.NodeID = v
		return nil
	}},
	{"node-url", "JOBHALL_NODE_URL", "", "this node's own base URL that browsers reach directly (rooms placed here are served there); empty = the public URL", func(c *config, v string) error {
		c.NodeURL = strings.TrimRight(v, "/")
		return nil
	}},
	{"node-internal-url", "JOBHALL_NODE_INTERNAL_URL", "", "base URL other nodes reach this node at (cascaded broadcasts dial /cascade/v1/relay there; liveness probe); empty = the node URL", func(c *config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(v) > 512 {
				return errors.New("must be an http(s) base URL")
			}
		}
		c.NodeInternal = strings.TrimRight(v, "/")
		return nil
	}},
	{"node-capacity", "JOBHALL_NODE_CAPACITY", "500", "participants this node takes before new rooms go to other nodes (with Redis)", func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return errors.New("must be an integer from 1 to 100000")
		}
		c.NodeCapacity = n
		return nil
	}},
	{"redis-prefix", "JOBHALL_REDIS_PREFIX", "jobhall:", "prefix of every Redis key and channel of this cluster (several clusters may share one Redis)", func(c *config, v string) error {
		if v == "" || len(v) > 64 {
			return errors.New("must be 1 to 64 characters")
		}
		c.RedisPrefix = v
		return nil
	}},
	{"drain-timeout", "JOBHALL_DRAIN_TIMEOUT", "30m", "with Redis, SIGTERM first drains the node (no new rooms; its rooms finish) and exits when they have ended or after this long; 0 = exit at once", func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 24*time.Hour {
			return errors.New("must be a duration from 0 to 24h")
		}
		c.DrainTimeout = d
		return nil
	}},
	{"data-dir", "JOBHALL_DATA_DIR", "jobhall-data", "folder for the private PostgreSQL cluster, the generated token secret and (by default) recordings", func(c *config, v string) error { c.DataDir = v; return nil }},
	{"recordings-dir", "JOBHALL_RECORDINGS_DIR", "", "recordings folder; empty = <data-dir>/recordings", func(c *config, v string) error { c.RecordingsDir = v; return nil }},
	{"webrtc-udp-port", "JOBHALL_WEBRTC_UDP_PORT", "50000", "the one UDP port for all WebRTC media (ICE UDP mux); 0 = any free port", func(c *config, v string) error {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("must be a port number from 0 to 65535")
		}
		c.UDPPort = p
		return nil
	}},
	{"webrtc-tcp-port", "JOBHALL_WEBRTC_TCP_PORT", "50000", "ICE-TCP port for clients whose UDP is blocked; 0 = off", func(c *config, v string) error {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("must be a port number from 0 to 65535")
		}
		c.TCPPort = p
		return nil
	}},
	{"webrtc-ip", "JOBHALL_WEBRTC_IP", "0.0.0.0", "IP the WebRTC UDP port binds to", func(c *config, v string) error { c.WebRTCIP = v; return nil }},
	{"public-ip", "JOBHALL_PUBLIC_IP", "", "comma-separated public IPs to advertise for media behind 1:1 NAT", func(c *config, v string) error {
		c.PublicIPs = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.PublicIPs = append(c.PublicIPs, s)
			}
		}
		return nil
	}},
	{"webrtc-loopback", "JOBHALL_WEBRTC_LOOPBACK", "true", "also advertise loopback media candidates (a browser on the same machine)", func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		c.Loopback = b
		return err
	}},
	{"token-secret", "JOBHALL_TOKEN_SECRET", "", "secret (≥16 bytes) that signs room and session tokens; empty = generated once and kept in <data-dir>/token-secret", func(c *config, v string) error {
		c.TokenSecret = []byte(v)
		return nil
	}},
	{"token-secret-file", "JOBHALL_TOKEN_SECRET_FILE", "", "file holding the token secret (for container secrets); wins over token-secret", func(c *config, v string) error {
		if v == "" {
			return nil
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return err
		}
		c.TokenSecret = []byte(strings.TrimSpace(string(b)))
		return nil
	}},
	{"log-level", "JOBHALL_LOG_LEVEL", "info", "debug, info, warn or error", func(c *config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{"debug-listen", "JOBHALL_DEBUG_LISTEN", "127.0.0.1:6060", "Prometheus /metrics and /debug/pprof listener (keep it private); empty = off", func(c *config, v string) error { c.DebugListen = v; return nil }},
	{"memory-limit", "JOBHALL_MEMORY_LIMIT", "0", "soft memory limit of the Go heap in MiB (the garbage collector works harder near it instead of letting the heap double); 0 = none, or GOMEMLIMIT", func(c *config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 1<<30 {
			return fmt.Errorf("memory-limit: want MiB between 0 and 2^30, got %q", v)
		}
		c.MemoryLimit = n << 20
		return nil
	}},
	{"memory-trim", "JOBHALL_MEMORY_TRIM", "5s", "how often to check for idle heap (more than 8 MiB and a quarter of the live heap) and return it to the OS at once, as after a join storm; 0 = leave it to Go's scavenger", func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 0 && d < 100*time.Millisecond {
			return fmt.Errorf("memory-trim: want 0 or a duration of at least 100ms, got %q", v)
		}
		c.MemoryTrim = d
		return nil
	}},
	{"gc-percent", "JOBHALL_GC_PERCENT", "auto", "garbage collector goal: the heap may grow this many percent over the live heap before a cycle (Go's GOGC); auto = GOGC when set, else " + strconv.Itoa(defaultGCPercent), func(c *config, v string) error {
		if v == "auto" {
			c.GCPercent = -1 // resolved after parsing: GOGC or defaultGCPercent
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("gc-percent: want auto or a percentage between 1 and 10000, got %q", v)
		}
		c.GCPercent = n
		return nil
	}},
	{"demo", "JOBHALL_DEMO", "auto", "demo data and demo sign-in: on, off, or auto (on with the private PostgreSQL)", func(c *config, v string) error {
		if v != "auto" && v != "on" && v != "off" {
			return errors.New(`must be "auto", "on" or "off"`)
		}
		c.Demo = v
		return nil
	}},
	{"demo-seed", "JOBHALL_DEMO_SEED", "20240301", "seed of the deterministic demo data", func(c *config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		c.DemoSeed = n
		return err
	}},
	{"admin-login", "JOBHALL_ADMIN_LOGIN", "admin", "login of the administrator account created at start when admin-password is set", func(c *config, v string) error { c.AdminLogin = v; return nil }},
	{"admin-password", "JOBHALL_ADMIN_PASSWORD", "", "creates the administrator account with this password (≥10 bytes) if its login does not exist; empty = none", func(c *config, v string) error {
		if v != "" && len(v) < 10 {
			return errors.New("must be at least 10 bytes")
		}
		c.AdminPassword = v
		return nil
	}},
	{"sweep-interval", "JOBHALL_SWEEP_INTERVAL", "1s", "how often expired holds and no-shows are swept and the outbox (reminders, webhooks) is delivered", func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > time.Hour {
			return errors.New("must be a duration from 100ms to 1h")
		}
		c.SweepInterval = d
		return nil
	}},
	{"monitor-interval", "JOBHALL_MONITOR_INTERVAL", "30s", "how often the monitoring rules are evaluated (alerts) and ended training sessions' attendance is taken", func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > time.Hour {
			return errors.New("must be a duration from 1s to 1h")
		}
		c.MonitorEvery = d
		return nil
	}},
	{"matching", "JOBHALL_MATCHING", "true", "load the matching index (job feed, candidate lists, new-job pushes); off saves its memory", func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		c.Matching = b
		return err
	}},
	{"match-rebuild-interval", "JOBHALL_MATCH_REBUILD_INTERVAL", "30m", "how often the matching index is rebuilt from the database (new posts and profile edits reach it at once)", func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 7*24*time.Hour {
			return errors.New("must be a duration from 1m to 168h")
		}
		c.MatchRebuild = d
		return nil
	}},
	{"match-push-top", "JOBHALL_MATCH_PUSH_TOP", "50", "how many best-matching seekers a new job post is pushed to (outbox event job.recommended)", func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errors.New("must be an integer from 1 to 1000")
		}
		c.PushTop = n
		return nil
	}},
	{"match-push-min-score", "JOBHALL_MATCH_PUSH_MIN_SCORE", "0.55", "least match score (0 to 1) for pushing a new job post to a seeker", func(c *config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1) {
			return errors.New("must be a number above 0 and at most 1")
		}
		c.PushMinScore = f
		return nil
	}},
	{"turn", "JOBHALL_TURN", "true", "run the embedded TURN relay (UDP and TCP, plus TLS with a certificate)", func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		c.TURN = b
		return err
	}},
	{"turn-port", "JOBHALL_TURN_PORT", "3478", "TURN port, UDP and TCP; 0 = any free port", func(c *config, v string) error { return parsePort(&c.TURNPort, v) }},
	{"turn-tls-port", "JOBHALL_TURN_TLS_PORT", "5349", "TURN over TLS port (only with a certificate)", func(c *config, v string) error { return parsePort(&c.TURNTLSPort, v) }},
	{"turn-tls-cert", "JOBHALL_TURN_TLS_CERT", "", "PEM certificate file for TURN over TLS; empty = no TLS", func(c *config, v string) error { c.TURNTLSCert = v; return nil }},
	{"turn-tls-key", "JOBHALL_TURN_TLS_KEY", "", "PEM key file for TURN over TLS", func(c *config, v string) error { c.TURNTLSKey = v; return nil }},
	{"s3-endpoint", "JOBHALL_S3_ENDPOINT", "", "S3-compatible object store for archived recordings (host:port, or https://host); empty = recordings stay in the local folder only", func(c *config, v string) error { c.S3Endpoint = v; return nil }},
	{"s3-bucket", "JOBHALL_S3_BUCKET", "jobhall-recordings", "bucket for archived recordings (created if missing)", func(c *config, v string) error { c.S3Bucket = v; return nil }},
	{"s3-access-key", "JOBHALL_S3_ACCESS_KEY", "", "S3 access key", func(c *config, v string) error { c.S3AccessKey = v; return nil }},
	{"s3-secret-key", "JOBHALL_S3_SECRET_KEY", "", "S3 secret key", func(c *config, v string) error { c.S3SecretKey = v; return nil }},
	{"s3-secret-key-file", "JOBHALL_S3_SECRET_KEY_FILE", "", "file holding the S3 secret key (for container secrets); wins over s3-secret-key", func(c *config, v string) error {
		if v == "" {
			return nil
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return err
		}
		c.S3SecretKey = strings.TrimSpace(string(b))
		return nil
	}},
	{"s3-region", "JOBHALL_S3_REGION", "us-east-1", "S3 region", func(c *config, v string) error { c.S3Region = v; return nil }},
	{"recording-retention-days", "JOBHALL_RECORDING_RETENTION_DAYS", "0", "delete recordings' media (local and archived) this many days after recording, except those on legal hold; 0 = keep forever", func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 36500 {
			return errors.New("must be a number of days from 0 to 36500")
		}
		c.RetentionDays = n
		return nil
	}},
	{"turn-host", "JOBHALL_TURN_HOST", "", "host name or IP browsers reach TURN at; empty = the first public IP, else the public URL's host", func(c *config, v string) error { c.TURNHost = v; return nil }},
}

func parsePort(dst *int, v string) error {
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("must be a port number from 0 to 65535")
	}
	*dst = p
	return nil
}

// parseConfig applies defaults, then the environment, then flags.
// An environment variable that is set, even to "", overrides the default
// (JOBHALL_DEBUG_LISTEN= turns the debug listener off).
func parseConfig(name string, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, o := range options {
		v := o.def
		if e, ok := lookupEnv(o.env); ok {
			v = e
		}
		if err := o.set(c, v); err != nil {
			return nil, fmt.Errorf("%s=%q: %w", o.env, v, err)
		}
		o := o
		fs.Func(o.flag, fmt.Sprintf("%s (env %s, default %q)", o.help, o.env, o.def), func(v string) error { return o.set(c, v) })
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.RecordingsDir == "" {
		c.RecordingsDir = filepath.Join(c.DataDir, "recordings")
	}
	if c.GCPercent < 0 {
		c.GCPercent = defaultGCPercent
		if v, ok := lookupEnv("GOGC"); ok && v != "" {
			c.GCPercent = 0 // the runtime has read it already
		}
	}
	return c, nil
}

// demoOn tells whether demo data and demo sign-in are enabled.
func (c *config) demoOn() bool {
	return c.Demo == "on" || (c.Demo == "auto" && c.DatabaseURL == "")
}

// loadSecret returns the token secret, generating and keeping one in the
// data folder when none is configured, so that links survive restarts.
func (c *config) loadSecret() ([]byte, error) {
	if len(c.TokenSecret) > 0 {
		if len(c.TokenSecret) < 16 {
			return nil, errors.New("the token secret must be at least 16 bytes")
		}
		return c.TokenSecret, nil
	}
	path := filepath.Join(c.DataDir, "token-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []byte(s), nil
}
