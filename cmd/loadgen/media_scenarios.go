package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"jobhall/internal/roomtoken"
)

func init() {
	scenarios["interviews"] = scenario{help: "N two-party rooms, both sides publishing video and audio", run: runMediaScenario("interviews")}
	scenarios["panel"] = scenario{help: "N panel rooms: three interviewers and one seeker, all publishing", run: runMediaScenario("panel")}
	scenarios["broadcast"] = scenario{help: "one trainer publishing to N viewers", run: runMediaScenario("broadcast")}
}

// mediaSummary is the JSON a media scenario prints.
type mediaSummary struct {
	Scenario          string  `json:"scenario"`
	Rooms             int     `json:"rooms"`
	Publishers        int     `json:"publishers"`
	Subscribers       int     `json:"subscribers"`
	JoinFailures      int64   `json:"join_failures"`
	Seconds           float64 `json:"measured_seconds"`
	SFUCPUSeconds     float64 `json:"sfu_cpu_seconds"`
	SFUCores          float64 `json:"sfu_cpu_cores"`
	PacketsSent       int64   `json:"packets_sent_by_publishers"`
	PacketsForwarded  int64   `json:"packets_forwarded"`
	ForwardedSource   string  `json:"packets_forwarded_source"`
	PacketsReceived   int64   `json:"packets_received_by_subscribers"`
	CPUusPerForwarded float64 `json:"sfu_cpu_us_per_forwarded_packet"`
	CPUusPerHandled   float64 `json:"sfu_cpu_us_per_handled_packet"`
	LossPercent       float64 `json:"loss_percent"`
	LatencyP50ms      float64 `json:"added_latency_p50_ms"`
	LatencyP99ms      float64 `json:"added_latency_p99_ms"`
	// LatencyAt says where latency ends: "socket" (the kernel's receive
	// stamp at the subscriber's socket) or "reader" (when loadgen's reader
	// got the packet). ReaderLatency* always end at the reader: they add
	// loadgen's own backlog on its core.
	LatencyAt          string  `json:"added_latency_at"`
	ReaderLatencyP50ms float64 `json:"reader_latency_p50_ms"`
	ReaderLatencyP99ms float64 `json:"reader_latency_p99_ms"`
	JoinToFirstP50ms   float64 `json:"join_to_first_packet_p50_ms"`
	JoinToFirstP95ms   float64 `json:"join_to_first_packet_p95_ms"`
	JoinToFirstP99ms   float64 `json:"join_to_first_packet_p99_ms"`
	JoinToFirstMaxms   float64 `json:"join_to_first_packet_max_ms"`
	NACKsSent          int64   `json:"nacks_sent_by_subscribers"`
	FeedbackSent       int64   `json:"twcc_feedback_sent_by_subscribers"` // counted with -stamp-arrivals only
	// ReceivedDirect are the received packets the subscribers' socket
	// readers measured themselves (-direct-receive), not Pion's.
	ReceivedDirect      int64   `json:"packets_received_direct"`
	NACKsAtPublishers   int64   `json:"nacks_received_by_publishers"`
	PLIsAtPublishers    int64   `json:"plis_received_by_publishers"`
	SFURSSBeforeBytes   int64   `json:"sfu_rss_before_bytes"`
	SFURSSAfterBytes    int64   `json:"sfu_rss_after_bytes"`
	SFURSSPerSubscriber int64   `json:"sfu_rss_per_subscriber_bytes"`
	BadPayloads         int64   `json:"bad_payloads"`
	SequenceJumps       int64   `json:"sequence_jumps"`
	LoadgenCPUSeconds   float64 `json:"loadgen_cpu_seconds"`
}

func runMediaScenario(name string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		url := fs.String("url", "http://127.0.0.1:8080", "jobhall base URL")
		secret := fs.String("token-secret", os.Getenv("JOBHALL_TOKEN_SECRET"), "the server's token secret (mints room tokens)")
		secretFile := fs.String("token-secret-file", "", "file holding the token secret")
		pid := fs.Int("sfu-pid", 0, "jobhall's process id, for CPU and RSS from /proc (0 = not measured)")
		metrics := fs.String("metrics-url", "", "jobhall's Prometheus URL (debug listener), for the forwarded-packet counter")
		n := fs.Int("n", 0, "rooms (interviews, panel) or viewers (broadcast); default 50, 5, 200")
		bitrate := fs.Int("bitrate", 0, "video bitrate of the top layer in bit/s; default 1 Mbit/s (1.5 for broadcast)")
		simulcast := fs.Bool("simulcast", true, "publish three simulcast layers (q, h, f)")
		warmup := fs.Duration("warmup", 4*time.Second, "time after the last join before measuring")
		duration := fs.Duration("duration", 15*time.Second, "measured time")
		joinRate := fs.Int("join-rate", 50, "joins per second")
		prefix := fs.String("room-prefix", "load", "room id prefix (not interview-: no recordings)")
		twcc := fs.Bool("twcc", true, "subscribers send TWCC feedback (the SFU then estimates bandwidth per subscriber)")
		cpuProfile := fs.String("cpuprofile", "", "write loadgen's own CPU profile over the measured window to this file")
		stamp := fs.Bool("stamp-arrivals", true, "stamp arrivals at the subscribers' sockets (kernel receive time) for latency and TWCC feedback; false: when loadgen's reader gets them")
		direct := fs.Bool("direct-receive", true, "subscribers decrypt and measure media on their socket readers instead of through Pion's receive path (needs -stamp-arrivals; NACKs then come from loadgen's own generator)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *duration > 2*time.Minute {
			return fmt.Errorf("duration is bounded to 2m")
		}
		tokens, err := issuerFrom(*secret, *secretFile)
		if err != nil {
			return fmt.Errorf("token secret: %w", err)
		}
		if *n <= 0 {
			*n = map[string]int{"interviews": 50, "panel": 5, "broadcast": 200}[name]
		}
		if *bitrate <= 0 {
			*bitrate = 1_000_000
			if name == "broadcast" {
				*bitrate = 1_500_000
			}
		}
		layers := []mediaLayer{{"", *bitrate}}
		if *simulcast {
			layers = []mediaLayer{{"q", *bitrate / 10}, {"h", *bitrate / 3}, {"f", *bitrate}}
		}
		return runMedia(ctx, mediaOpts{name: name, url: *url, tokens: tokens, pid: *pid, metrics: *metrics, n: *n,
			layers: layers, warmup: *warmup, duration: *duration, joinRate: *joinRate, prefix: *prefix, twcc: *twcc, stampArrivals: *stamp, direct: *direct && *stamp, cpuProfile: *cpuProfile}, stdout, stderr)
	}
}

type mediaOpts struct {
	name, url, metrics, prefix  string
	cpuProfile                  string
	tokens                      *roomtoken.Issuer
	pid, n, joinRate            int
	layers                      []mediaLayer
	warmup, duration            time.Duration
	twcc, stampArrivals, direct bool
}

type joinPlan struct {
	room, id, role string
	publish        bool
}

func planMedia(o mediaOpts) (plan []joinPlan, rooms int) {
	switch o.name {
	case "interviews":
		for r := 0; r < o.n; r++ {
			room := fmt.Sprintf("%s-iv-%d", o.prefix, r)
			plan = append(plan, joinPlan{room, fmt.Sprintf("interviewer-%d", r), roomtoken.RoleInterviewer, true},
				joinPlan{room, fmt.Sprintf("seeker-%d", r), roomtoken.RoleSeeker, true})
		}
		return plan, o.n
	case "panel":
		for r := 0; r < o.n; r++ {
			room := fmt.Sprintf("%s-panel-%d", o.prefix, r)
			for i := 0; i < 3; i++ {
				plan = append(plan, joinPlan{room, fmt.Sprintf("interviewer-%d-%d", r, i), roomtoken.RoleInterviewer, true})
			}
			plan = append(plan, joinPlan{room, fmt.Sprintf("seeker-%d", r), roomtoken.RoleSeeker, true})
		}
		return plan, o.n
	default:
		room := o.prefix + "-broadcast"
		plan = append(plan, joinPlan{room, "trainer-0", roomtoken.RoleTrainer, true})
		for i := 0; i < o.n; i++ {
			plan = append(plan, joinPlan{room, fmt.Sprintf("viewer-%d", i), roomtoken.RoleViewer, false})
		}
		return plan, 1
	}
}

func runMedia(ctx context.Context, o mediaOpts, stdout, stderr io.Writer) error {
	nacks := &nackCounter{}
	api, err := newMediaAPI(o.twcc, false, nacks, nil)
	if err != nil {
		return err
	}
	pubAPI, err := newMediaAPI(o.twcc, true, nacks, nil)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return err
	}
	var logMu sync.Mutex
	logged := 0
	env := &mediaEnv{url: o.url, tokens: o.tokens, api: api, pubAPI: pubAPI, stats: &mediaStats{}, cert: *cert,
		subArrivals: o.stampArrivals, direct: o.direct, twcc: o.twcc, nacks: nacks,
		logf: func(f string, a ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			if logged < 20 {
				logged++
				fmt.Fprintf(stderr, f+"\n", a...)
			}
		}}
	var before mediaProc
	if o.pid > 0 {
		if before, err = readMediaProc(o.pid); err != nil {
			return err
		}
	}
	plan, rooms := planMedia(o)
	sum := mediaSummary{Scenario: o.name, Rooms: rooms}
	peers := make([]*mediaPeer, len(plan))
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(max(1, o.joinRate)))
	var pubIdx uint16
	for i, jp := range plan {
		<-tick.C
		if ctx.Err() != nil {
			break
		}
		var layers []mediaLayer
		if jp.publish {
			layers = o.layers
			pubIdx++
			sum.Publishers++
		} else {
			sum.Subscribers++
		}
		wg.Add(1)
		go func(i int, jp joinPlan, idx uint16) {
			defer wg.Done()
			p, err := env.dial(ctx, jp.room, jp.id, jp.role, idx, layers)
			if err != nil {
				env.stats.joinFailures.Add(1)
				env.logf("join %s: %v", jp.id, err)
				return
			}
			peers[i] = p
		}(i, jp, pubIdx)
	}
	tick.Stop()
	wg.Wait()
	if o.name != "broadcast" {
		sum.Subscribers = len(plan) // every participant has a subscribe PC
	}
	defer func() {
		// Viewers first, so the SFU does not renegotiate with each of them
		// when the publisher leaves.
		for _, pubs := range []bool{false, true} {
			var cw sync.WaitGroup
			for _, p := range peers {
				if p != nil && (len(p.layers) > 0) == pubs {
					cw.Add(1)
					go func() { defer cw.Done(); p.close() }()
				}
			}
			cw.Wait()
		}
	}()
	fmt.Fprintf(stderr, "%s: %d joined (%d failed); warming up %s\n", o.name, len(plan)-int(env.stats.joinFailures.Load()), env.stats.joinFailures.Load(), o.warmup)
	select {
	case <-time.After(o.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}

	fwd0, fwdOK := scrapeCounter(o.metrics, "jobhall_sfu_packets_forwarded_total")
	var p0 mediaProc
	if o.pid > 0 {
		p0, _ = readMediaProc(o.pid)
	}
	self0, _ := readMediaProc(os.Getpid())
	nack0 := nacks.n.Load()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	start := time.Now()
	env.stats.measuring.Store(true)
	select {
	case <-time.After(o.duration):
	case <-ctx.Done():
	}
	env.stats.measuring.Store(false)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	sum.Seconds = time.Since(start).Seconds()
	fwd1, _ := scrapeCounter(o.metrics, "jobhall_sfu_packets_forwarded_total")
	self1, _ := readMediaProc(os.Getpid())
	sum.LoadgenCPUSeconds = self1.cpu - self0.cpu
	if o.pid > 0 {
		p1, err := readMediaProc(o.pid)
		if err == nil {
			sum.SFUCPUSeconds = p1.cpu - p0.cpu
			sum.SFUCores = sum.SFUCPUSeconds / sum.Seconds
			sum.SFURSSBeforeBytes, sum.SFURSSAfterBytes = before.rss, p1.rss
			if sum.Subscribers > 0 {
				sum.SFURSSPerSubscriber = (p1.rss - before.rss) / int64(sum.Subscribers)
			}
		}
	}
	st := env.stats
	sum.JoinFailures = st.joinFailures.Load()
	sum.PacketsSent = st.sentPackets.Load()
	sum.PacketsReceived = st.recvPackets.Load()
	sum.BadPayloads = st.badPayloads.Load()
	sum.SequenceJumps = st.seqJumps.Load()
	sum.NACKsSent = nacks.n.Load() - nack0
	sum.FeedbackSent = st.feedbackSent.Load()
	sum.ReceivedDirect = st.recvDirect.Load()
	sum.NACKsAtPublishers = st.nacksAtPub.Load()
	sum.PLIsAtPublishers = st.plisAtPub.Load()
	if fwdOK {
		sum.PacketsForwarded = int64(fwd1 - fwd0)
		sum.ForwardedSource = "sfu metrics"
	} else {
		sum.PacketsForwarded = sum.PacketsReceived
		sum.ForwardedSource = "received by subscribers"
	}
	if sum.PacketsForwarded > 0 && sum.SFUCPUSeconds > 0 {
		sum.CPUusPerForwarded = sum.SFUCPUSeconds * 1e6 / float64(sum.PacketsForwarded)
		sum.CPUusPerHandled = sum.SFUCPUSeconds * 1e6 / float64(sum.PacketsForwarded+sum.PacketsSent)
	}
	var miss, total int64
	for _, p := range peers {
		if p == nil {
			continue
		}
		p.mu.Lock()
		for _, r := range p.tracks {
			m, t := r.loss()
			miss += m
			total += t
		}
		p.mu.Unlock()
	}
	st.mu.Lock()
	sum.LatencyP50ms, sum.LatencyP99ms = histQuantile(st.latHist[:], 0.5), histQuantile(st.latHist[:], 0.99)
	sum.ReaderLatencyP50ms, sum.ReaderLatencyP99ms = histQuantile(st.readHist[:], 0.5), histQuantile(st.readHist[:], 0.99)
	sum.LatencyAt = "reader"
	if o.stampArrivals {
		sum.LatencyAt = "socket"
	}
	fp := append([]time.Duration(nil), st.firstPkt...)
	st.mu.Unlock()
	sort.Slice(fp, func(i, j int) bool { return fp[i] < fp[j] })
	if len(fp) > 0 {
		sum.JoinToFirstP50ms = float64(fp[len(fp)/2]) / 1e6
		sum.JoinToFirstP95ms = float64(fp[len(fp)*95/100]) / 1e6
		sum.JoinToFirstP99ms = float64(fp[len(fp)*99/100]) / 1e6
		sum.JoinToFirstMaxms = float64(fp[len(fp)-1]) / 1e6
	}
	// Loss over the measured window: what subscribers should have got
	// (sequence span) against what they did.
	if total > 0 {
		sum.LossPercent = 100 * float64(miss) / float64(total)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(sum)
}

func histQuantile(h []int64, q float64) float64 {
	var n int64
	for _, v := range h {
		n += v
	}
	if n == 0 {
		return 0
	}
	want := int64(float64(n) * q)
	var c int64
	for i, v := range h {
		c += v
		if c > want {
			return float64(i) / 10
		}
	}
	return float64(len(h)-1) / 10
}

// scrapeCounter reads one counter from a Prometheus text endpoint.
func scrapeCounter(url, name string) (float64, bool) {
	if url == "" {
		return 0, false
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
			return v, err == nil
		}
	}
	return 0, false
}
