package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"jobhall/booking"
	"jobhall/cascade"
	"jobhall/internal/apperr"
	"jobhall/internal/bus"
	"jobhall/internal/pgembed"
	"jobhall/internal/roomtoken"
	"jobhall/recorder"
	"jobhall/sfu"
	"jobhall/signaling"
	"jobhall/turnrelay"
	"jobhall/web"
)

// app is one wired jobhall node. newApp connects to the database and
// migrates; start opens the listeners; close undoes everything in reverse.
type app struct {
	cfg    *config
	log    *slog.Logger
	stdout io.Writer

	pg      *pgembed.Cluster // nil with DATABASE_URL
	pool    *pgxpool.Pool
	bus     bus.Bus
	tokens  *roomtoken.Issuer
	booking *booking.Service

	sfu        *sfu.SFU
	recorder   *recorder.Recorder
	interviews *interviews
	archive    *recordingArchive // recordings in booking: consent, rows, jobs, playback, retention
	signaling  *signaling.Server
	turn       *turnrelay.Server // nil when off
	node       *nodeState        // nil without Redis: a single node
	cascade    *cascadeNode      // cascaded broadcasts; nil without Redis

	bgStop func()        // stops the booking sweeper and outbox dispatcher
	bgDone chan struct{} // closed when they have stopped

	httpSrv  *http.Server
	debugSrv *http.Server
	addr     string // actual HTTP address once started
	url      string
}

func newApp(ctx context.Context, cfg *config, stdout, stderr io.Writer) (_ *app, err error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	a := &app{cfg: cfg, log: log, stdout: stdout}
	if cfg.GCPercent > 0 {
		// The media path allocates nothing per packet, so the heap is
		// mostly long-lived per-viewer state and cycles are rare: a goal
		// below Go's 100 % costs little CPU and keeps RSS near the live
		// heap (docs/BENCHMARKS.md, SFU round 4).
		debug.SetGCPercent(cfg.GCPercent)
	}
	if cfg.MemoryLimit > 0 {
		// Media state is many small long-lived objects: near the limit the
		// GC runs more often rather than doubling the heap (docs/BENCHMARKS.md).
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		if a.pg, err = pgembed.Start(ctx, cfg.DataDir+"/postgres", log); err != nil {
			return nil, err
		}
		dbURL = a.pg.URL
	}
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if pcfg.MaxConns < 16 {
		pcfg.MaxConns = 16
	}
	// Our statements are prepared and cached, and nearly every lookup is by
	// key: PostgreSQL's custom plans re-planned them on every execution (a
	// third of its CPU under booking load, measured with perf); the generic
	// plan is as good and planned once per connection.
	if _, set := pcfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		pcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	if a.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := a.pool.Ping(pctx); err != nil {
		return nil, fmt.Errorf("database unreachable: %w", err)
	}
	if err := booking.Migrate(ctx, a.pool); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return a, nil
}

func (a *app) seedDemo(ctx context.Context) error {
	sum, err := booking.SeedDemo(ctx, a.pool, a.cfg.DemoSeed, booking.DemoFairDay(time.Now()))
	if err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	a.log.Info("demo data", "fair", sum.FairID, "employers", sum.Employers, "booths", sum.Booths,
		"job_posts", sum.JobPosts, "seekers", sum.Seekers, "slots", sum.Slots, "already_loaded", sum.AlreadyLoaded)
	return nil
}

// start wires the serving parts and opens the listeners.
func (a *app) start(ctx context.Context) (err error) {
	cfg := a.cfg
	if cfg.demoOn() {
		if err := a.seedDemo(ctx); err != nil {
			return err
		}
	}
	secret, err := cfg.loadSecret()
	if err != nil {
		return fmt.Errorf("token secret: %w", err)
	}
	if a.tokens, err = roomtoken.NewIssuer(secret); err != nil {
		return err
	}
	if cfg.RedisURL != "" {
		rb, err := bus.NewRedisPrefix(cfg.RedisURL, cfg.RedisPrefix)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		a.bus = rb
	} else {
		a.bus = bus.NewLocal()
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	a.addr = ln.Addr().String()
	a.url = cfg.PublicURL
	if a.url == "" {
		a.url = "http://localhost:" + portOf(a.addr)
	}

	if a.archive, err = newRecordingArchive(ctx, cfg, a.log); err != nil {
		ln.Close()
		return err
	}
	if a.booking, err = booking.NewService(booking.Config{
		Pool: a.pool, Tokens: a.tokens, SessionSecret: append([]byte("session:"), secret...),
		PublicURL: a.url, Demo: cfg.demoOn(), Logger: a.log,
		MatchRebuild: cfg.MatchRebuild, PushTop: cfg.PushTop, PushMinScore: cfg.PushMinScore,
		Recordings: a.archive, // playback and legal holds
	}); err != nil {
		ln.Close()
		return err
	}
	a.archive.bind(a.booking)
	if cfg.AdminPassword != "" {
		if err := a.booking.EnsureAdmin(ctx, cfg.AdminLogin, cfg.AdminPassword); err != nil {
			ln.Close()
			return fmt.Errorf("admin account: %w", err)
		}
	}
	bgCtx, bgStop := context.WithCancel(context.Background())
	a.bgStop, a.bgDone = bgStop, make(chan struct{})
	go func() {
		defer close(a.bgDone)
		monitor := make(chan struct{})
		go func() { defer close(monitor); a.booking.RunMonitor(bgCtx, cfg.MonitorEvery) }()
		matching := make(chan struct{})
		go func() {
			defer close(matching)
			if cfg.Matching { // loads in the background: the feed answers 503 until ready
				a.booking.RunMatching(bgCtx)
			}
		}()
		trim := make(chan struct{})
		go func() {
			defer close(trim)
			if cfg.MemoryTrim > 0 {
				trimMemory(bgCtx, cfg.MemoryTrim)
			}
		}()
		a.booking.RunBackground(bgCtx, cfg.SweepInterval)
		<-monitor
		<-matching
		<-trim
	}()
	if a.sfu, err = sfu.New(sfu.Config{ListenIP: cfg.WebRTCIP, UDPPort: cfg.UDPPort, TCPPort: cfg.TCPPort, PublicIPs: cfg.PublicIPs,
		IncludeLoopback: cfg.Loopback, Logger: a.log}); err != nil {
		ln.Close()
		return fmt.Errorf("webrtc: %w", err)
	}
	if a.recorder, err = recorder.New(recorder.Config{Dir: cfg.RecordingsDir, Logger: a.log, OnAlert: recordingAlert(a)}); err != nil {
		ln.Close()
		return fmt.Errorf("recordings: %w", err)
	}
	if cfg.TURN {
		if err := a.startTURN(secret); err != nil {
			ln.Close()
			return err
		}
	}
	a.interviews = newInterviews(a.log, a.booking, a.bus, a.recorder, mediaRooms{a.sfu}, isInterviewRoom)
	a.interviews.arch = a.archive
	a.archive.start() // post-processing runner and retention
	// Files a crashed process left open: finalize them before recording anew.
	if files, err := a.recorder.Recover(bgCtx); err != nil {
		a.log.Error("recovering unfinished recordings", "err", err)
	} else {
		a.interviews.recovered(files)
	}
	var placer signaling.Placer
	if cfg.RedisURL != "" {
		if err := a.newCluster(); err != nil {
			ln.Close()
			return err
		}
		placer = roomPlacer{a}
		if err := a.newCascade(secret); err != nil {
			ln.Close()
			return err
		}
	}
	scfg := signaling.Config{
		Tokens: a.tokens, Engine: sfuEngine{a.sfu}, Hooks: a.interviews, Recording: a.interviews.Recording, Logger: a.log,
		ICEServers: a.iceServers, Placer: placer,
	}
	if a.cascade != nil {
		scfg.RemoteMembers = a.cascade.remoteMembers // the trainer, on an edge
	}
	if a.signaling, err = signaling.NewServer(scfg); err != nil {
		ln.Close()
		return err
	}
	a.startHeartbeat(ctx)

	mux := http.NewServeMux()
	api := a.booking.Handler()
	mux.Handle("/api/v1/", web.GzipJSON(api))
	mux.Handle("GET /ws", a.signaling)
	mux.Handle("POST /api/v1/selftest", newSelfTest(a.tokens))
	mux.Handle("/whip", a.signaling.WHIPHandler())
	mux.Handle("/whip/", a.signaling.WHIPHandler())
	mux.Handle("/whep", a.signaling.WHEPHandler())
	mux.Handle("/whep/", a.signaling.WHEPHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", a.readyz)
	if a.cascade != nil {
		mux.Handle(cascade.OriginPath, a.cascade.origin) // node to node
	}
	// A signed-in seeker's page carries its first API answers (page_boot.go).
	boot := &pageBoot{api: api, timeout: 2 * time.Second, log: a.log}
	mux.Handle("/", web.NewHandler(web.Options{SessionCookie: booking.SessionCookie, Boot: boot.boot}))
	a.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	a.httpSrv.RegisterOnShutdown(a.booking.CloseStreams) // alert streams would hold Shutdown
	go func() {
		if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "err", err)
		}
	}()
	if cfg.DebugListen != "" {
		if err := a.startDebug(); err != nil {
			return err
		}
	}
	a.log.Info("jobhall is serving", "url", a.url, "listen", a.addr, "webrtc_udp_port", a.sfu.UDPPort(),
		"recordings", cfg.RecordingsDir, "redis", cfg.RedisURL != "", "demo", cfg.demoOn())
	fmt.Fprintf(a.stdout, "jobhall is running: open %s\n", a.url)
	return nil
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return p
}

func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	if err := a.pool.Ping(ctx); err != nil {
		problems = append(problems, "database: "+err.Error())
	}
	if err := a.bus.Ping(ctx); err != nil {
		problems = append(problems, "redis: "+err.Error())
	}
	problems = append(problems, a.clusterReady()...)
	if len(problems) > 0 {
		apperr.WriteHTTP(w, r, apperr.New(apperr.Unavailable, "not ready: %s", strings.Join(problems, "; ")))
		return
	}
	w.Write([]byte("ready\n"))
}

// recent returns f's value, computed again only when the last one is
// older than maxAge.
func recent[T any](maxAge time.Duration, f func() T) func() T {
	var mu sync.Mutex
	var at time.Time
	var v T
	return func() T {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(at) >= maxAge {
			v, at = f(), now
		}
		return v
	}
}

func (a *app) startDebug() error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "jobhall", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "jobhall", Name: name, Help: help}, f))
	}
	// One SFU snapshot serves a whole scrape: Stats walks every room under
	// its lock and lists every track, and a scrape reads ~30 values of it.
	sfuStats := recent(50*time.Millisecond, a.sfu.Stats)
	gauge("sfu_rooms", "Media rooms open.", func() float64 { return float64(sfuStats().Rooms) })
	gauge("sfu_participants", "Participants in media rooms (cascade relay inputs left out).", func() float64 {
		st := sfuStats()
		return float64(st.Participants - st.RelayInputs)
	})
	gauge("sfu_tracks", "Published tracks.", func() float64 { return float64(sfuStats().Tracks) })
	gauge("sfu_paused_layers", "Simulcast layers publishers were told to stop because nobody watches them (dynacast).", func() float64 { return float64(sfuStats().PausedLayers) })
	counter("memory_trims_total", "Times idle heap was returned to the OS after a burst (-memory-trim).", func() float64 { return float64(memoryTrims.Load()) })
	counter("sfu_packets_forwarded_total", "RTP packets handed to subscribers.", func() float64 { return float64(sfuStats().PacketsForwarded) })
	counter("sfu_packets_dropped_total", "RTP packets dropped, all reasons (see sfu_drops_*_total).", func() float64 { return float64(sfuStats().PacketsDropped) })
	for name, f := range map[string]func(sfu.Stats) uint64{
		"drops_video_queue_total":   func(s sfu.Stats) uint64 { return s.Drops.VideoQueueFull },
		"drops_audio_queue_total":   func(s sfu.Stats) uint64 { return s.Drops.AudioQueueFull },
		"drops_local_sink_total":    func(s sfu.Stats) uint64 { return s.Drops.LocalSinkFull },
		"drops_malformed_total":     func(s sfu.Stats) uint64 { return s.Drops.Malformed },
		"drops_oversized_total":     func(s sfu.Stats) uint64 { return s.Drops.Oversized },
		"drops_rtcp_flood_total":    func(s sfu.Stats) uint64 { return s.Drops.RTCPFlood },
		"drops_socket_queue_total":  func(s sfu.Stats) uint64 { return s.Drops.SocketQueue },
		"retransmits_total":         func(s sfu.Stats) uint64 { return s.Retransmits },
		"nacks_total":               func(s sfu.Stats) uint64 { return s.NACKsReceived },
		"keyframe_requests_total":   func(s sfu.Stats) uint64 { return s.KeyframeRequests },
		"layer_switches_total":      func(s sfu.Stats) uint64 { return s.LayerSwitches },
		"relay_packets_total":       func(s sfu.Stats) uint64 { return s.RelayPackets },
		"relay_bytes_total":         func(s sfu.Stats) uint64 { return s.RelayBytes },
		"drops_relay_queue_total":   func(s sfu.Stats) uint64 { return s.Drops.RelayQueueFull },
		"udp_datagrams_total":       func(s sfu.Stats) uint64 { return s.UDPDatagrams },
		"udp_messages_total":        func(s sfu.Stats) uint64 { return s.UDPMessages },
		"udp_send_calls_total":      func(s sfu.Stats) uint64 { return s.UDPSendCalls },
		"udp_send_yields_total":     func(s sfu.Stats) uint64 { return s.UDPSendYields },
		"udp_receive_drops_total":   func(s sfu.Stats) uint64 { return s.UDPReceiveDrops },
		"udp_read_calls_total":      func(s sfu.Stats) uint64 { return s.UDPReadCalls },
		"udp_reads_total":           func(s sfu.Stats) uint64 { return s.UDPReads },
		"direct_rtp_total":          func(s sfu.Stats) uint64 { return s.DirectRTP },
		"direct_rtx_total":          func(s sfu.Stats) uint64 { return s.DirectRTX },
		"direct_rtcp_total":         func(s sfu.Stats) uint64 { return s.DirectRTCP },
		"drops_ingress_queue_total": func(s sfu.Stats) uint64 { return s.Drops.IngressQueue },
	} {
		counter("sfu_"+name, "SFU counter "+name+" (sfu.Stats).", func() float64 { return float64(f(sfuStats())) })
	}
	for name, f := range map[string]func(booking.BatchStats) booking.BatchCount{
		"bookings":   func(b booking.BatchStats) booking.BatchCount { return b.Bookings },
		"key_claims": func(b booking.BatchStats) booking.BatchCount { return b.KeyClaims },
		"key_stores": func(b booking.BatchStats) booking.BatchCount { return b.KeyStores },
	} {
		counter("booking_batch_"+name+"_statements_total", "Statements that wrote more than one "+name+" at once (group commit).",
			func() float64 { return float64(f(a.booking.BatchStats()).Statements) })
		counter("booking_batch_"+name+"_total", "The "+name+" those statements carried.",
			func() float64 { return float64(f(a.booking.BatchStats()).Carried) })
	}
	gauge("signaling_connections", "Open signalling WebSockets.", func() float64 { return float64(a.signaling.Stats().Connections) })
	counter("signaling_frames_total", "Signalling frames received.", func() float64 { return float64(a.signaling.Stats().FramesIn) })
	counter("signaling_frames_refused_total", "Signalling frames refused with an error frame.", func() float64 { return float64(a.signaling.Stats().FramesBad) })
	gauge("db_connections_in_use", "PostgreSQL connections in use.", func() float64 { return float64(a.pool.Stat().AcquiredConns()) })
	reg.MustRegister(monitorFigures{a.booking, a.log})

	if a.cascade != nil {
		gauge("cascade_edge_links", "Cascade links this node (as an edge) keeps to origins.", func() float64 { return float64(len(a.cascade.edge.Links())) })
		gauge("sfu_relay_inputs", "Relay inputs (cascade edges) in media rooms.", func() float64 { return float64(sfuStats().RelayInputs) })
	}
	mux := http.NewServeMux()
	a.clusterHandlers(mux)
	if a.cascade != nil {
		mux.HandleFunc("GET /cascade", a.cascade.status)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", a.cfg.DebugListen)
	if err != nil {
		return fmt.Errorf("debug listener %s: %w", a.cfg.DebugListen, err)
	}
	a.debugSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go a.debugSrv.Serve(ln)
	a.log.Info("debug listener", "addr", ln.Addr().String())
	return nil
}

// close shuts down in reverse order of start: stop taking requests, end
// signalling, finalize recordings, close media, then the database.
func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if a.httpSrv != nil {
		a.httpSrv.SetKeepAlivesEnabled(false)
	}
	a.closeCluster() // leave the registry first: no more redirects to us
	if a.cascade != nil {
		a.cascade.close() // edge links, then the relays to other nodes
	}
	if a.signaling != nil {
		if err := a.signaling.Close(ctx); err != nil {
			a.log.Warn("signalling close", "err", err)
		}
	}
	if a.httpSrv != nil {
		if err := a.httpSrv.Shutdown(ctx); err != nil {
			a.log.Warn("http shutdown", "err", err)
		}
	}
	if a.debugSrv != nil {
		a.debugSrv.Close()
	}
	if a.booking != nil {
		a.booking.Close() // background scheduler runs
	}
	if a.interviews != nil {
		a.interviews.Close()
	}
	if a.archive != nil {
		a.archive.close()
	}
	if a.turn != nil {
		a.turn.Close()
	}
	if a.sfu != nil {
		a.sfu.Close()
	}
	if a.bus != nil {
		a.bus.Close()
	}
	if a.bgStop != nil {
		a.bgStop()
		<-a.bgDone
	}
	if a.pool != nil {
		a.pool.Close()
	}
	if a.pg != nil {
		if err := a.pg.Stop(); err != nil {
			a.log.Warn("private PostgreSQL stop", "err", err)
		}
	}
}

// startTURN runs the embedded relay. It may relay only to the SFU's
// addresses: the configured public IPs, the WebRTC bind address, or every
// local address when that is unspecified.
func (a *app) startTURN(secret []byte) error {
	cfg := a.cfg
	var allowed []net.IP
	for _, p := range cfg.PublicIPs {
		if ip := net.ParseIP(p); ip != nil {
			allowed = append(allowed, ip)
		}
	}
	if ip := net.ParseIP(cfg.WebRTCIP); ip != nil && !ip.IsUnspecified() {
		allowed = append(allowed, ip)
	} else if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok {
				allowed = append(allowed, n.IP)
			}
		}
	}
	tc := turnrelay.Config{ListenIP: "0.0.0.0", Port: cfg.TURNPort, TLSPort: cfg.TURNTLSPort, AllowedPeers: allowed,
		Secret: append([]byte("turn:"), secret...), Logger: a.log}
	if len(cfg.PublicIPs) > 0 {
		tc.RelayIP = net.ParseIP(cfg.PublicIPs[0])
	}
	if cfg.TURNTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TURNTLSCert, cfg.TURNTLSKey)
		if err != nil {
			return fmt.Errorf("TURN TLS certificate: %w", err)
		}
		tc.TLSCert = &cert
	}
	t, err := turnrelay.New(tc)
	if err != nil {
		return err
	}
	a.turn = t
	return nil
}

// iceServers gives each participant the relay's URLs with credentials
// that live as long as its room token (at most 12 hours).
func (a *app) iceServers(g roomtoken.Grant) []signaling.ICEServer {
	if a.turn == nil {
		return nil
	}
	host := a.cfg.TURNHost
	if host == "" && len(a.cfg.PublicIPs) > 0 {
		host = a.cfg.PublicIPs[0]
	}
	if host == "" {
		if u, err := url.Parse(a.url); err == nil {
			host = u.Hostname()
		}
		if host == "localhost" {
			host = "127.0.0.1"
		}
	}
	ttl := time.Until(g.Expires)
	if ttl <= 0 || ttl > 12*time.Hour {
		ttl = 12 * time.Hour
	}
	var out []signaling.ICEServer
	for _, s := range a.turn.ICEServers(host, g.Identity, ttl) {
		out = append(out, signaling.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// mediaRooms lets the interview tracker attach a recorder to a room.
type mediaRooms struct{ s *sfu.SFU }

func (m mediaRooms) attachRecorder(room string, s *recorder.Session) func() {
	return m.s.Room(room).AddLocalSubscriber(recordingSubscriber{s})
}
