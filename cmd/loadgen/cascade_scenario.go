package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"jobhall/cascade"
	"jobhall/sfu"
)

// The cascade scenario measures what a cascaded broadcast costs each node
// against a node serving its own broadcast, and what one cascade hop adds
// to latency. It starts its own bare media nodes (the cascade-node
// scenario: an SFU, the cascade origin handler and edge, and a small HTTP
// API for joining), one process each so /proc gives each node's CPU, on
// loopback. Both phases run three nodes with the same viewers per node, so
// the machine is equally loaded: "single" is three independent broadcasts
// (a trainer on each node), "cascade" is one trainer on the origin relayed
// to two edges.

func init() {
	scenarios["cascade"] = scenario{help: "one trainer to N viewers per node: one node, then an origin and two edges (own node processes)", run: runCascade}
	scenarios["cascade-node"] = scenario{help: "a bare media node for the cascade scenario (started by it)", run: runCascadeNode}
}

type cascadeNodeSummary struct {
	Name                string  `json:"name"`
	Viewers             int     `json:"viewers"`
	CPUSeconds          float64 `json:"cpu_seconds"`
	Cores               float64 `json:"cpu_cores"`
	PacketsForwarded    uint64  `json:"packets_forwarded"`
	PacketsPerViewerSec float64 `json:"packets_per_viewer_second"`
	RelayPacketsOut     uint64  `json:"relay_packets_out"`
	CPUusPerForwarded   float64 `json:"cpu_us_per_forwarded_packet"`
	CPUusPerPacketOut   float64 `json:"cpu_us_per_packet_out"` // forwarded + relayed
	LatencyP50ms        float64 `json:"latency_p50_ms"`
	LatencyP99ms        float64 `json:"latency_p99_ms"`
	PacketsReceived     int64   `json:"packets_received_by_viewers"`
	LossPercent         float64 `json:"loss_percent"`
	ViewersWithoutMedia int     `json:"viewers_without_media"`
}

type cascadeSummary struct {
	Scenario        string                `json:"scenario"`
	ViewersPerNode  int                   `json:"viewers_per_node"`
	Seconds         float64               `json:"measured_seconds_per_phase"`
	Single          []*cascadeNodeSummary `json:"single,omitempty"`
	SingleCPU       float64               `json:"single_cpu_us_per_forwarded_packet_mean"`
	Cascade         []*cascadeNodeSummary `json:"cascade,omitempty"`
	EdgeVsSingleCPU []float64             `json:"edge_cpu_per_forwarded_vs_single,omitempty"`
	OriginVsSingle  float64               `json:"origin_cpu_per_forwarded_vs_single,omitempty"`
	AddedHopP50ms   float64               `json:"added_latency_per_hop_p50_ms"`
	AddedHopP99ms   float64               `json:"added_latency_per_hop_p99_ms"`
	LoadgenCPU      float64               `json:"loadgen_cpu_seconds"`
}

func runCascade(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cascade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	viewers := fs.Int("viewers", 50, "viewers per node")
	bitrate := fs.Int("bitrate", 1_000_000, "top simulcast layer in bit/s (layers q, h, f at 1/10, 1/3, 1)")
	warmup := fs.Duration("warmup", 4*time.Second, "time after the last join before measuring")
	duration := fs.Duration("duration", 15*time.Second, "measured time per phase")
	mode := fs.String("mode", "both", "single, cascade or both")
	twcc := fs.Bool("twcc", true, "viewers send TWCC feedback (per-viewer estimates; off keeps every viewer on the top layer, so both phases forward the same packet mix)")
	nodeCPUs := fs.String("node-cpus", "", "run the node processes under taskset -c with this CPU list (e.g. 0); empty = no pinning")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration > 2*time.Minute || *warmup > time.Minute {
		return fmt.Errorf("duration is bounded to 2m, warmup to 1m")
	}
	if *viewers < 1 || *viewers > 300 {
		return fmt.Errorf("viewers per node must be 1 to 300")
	}
	if *mode != "single" && *mode != "cascade" && *mode != "both" {
		return fmt.Errorf("mode must be single, cascade or both")
	}
	layers := []mediaLayer{{"q", *bitrate / 10}, {"h", *bitrate / 3}, {"f", *bitrate}}
	sum := cascadeSummary{Scenario: "cascade", ViewersPerNode: *viewers, Seconds: duration.Seconds()}
	self0, _ := readProc(0)
	run := func(cascaded bool) ([]*cascadeNodeSummary, error) {
		return cascadePhase(ctx, cascaded, *viewers, layers, *warmup, *duration, *nodeCPUs, *twcc, stderr)
	}
	if *mode != "cascade" {
		r, err := run(false)
		if err != nil {
			return err
		}
		sum.Single = r
		for _, n := range r {
			sum.SingleCPU += n.CPUusPerForwarded / float64(len(r))
		}
	}
	if *mode != "single" {
		r, err := run(true)
		if err != nil {
			return err
		}
		sum.Cascade = r
		o := r[0]
		sum.AddedHopP50ms = (r[1].LatencyP50ms+r[2].LatencyP50ms)/2 - o.LatencyP50ms
		sum.AddedHopP99ms = (r[1].LatencyP99ms+r[2].LatencyP99ms)/2 - o.LatencyP99ms
		if s := sum.SingleCPU; s > 0 {
			sum.OriginVsSingle = o.CPUusPerForwarded / s
			for _, e := range r[1:] {
				sum.EdgeVsSingleCPU = append(sum.EdgeVsSingleCPU, e.CPUusPerForwarded/s)
			}
		}
	}
	self1, _ := readProc(0)
	sum.LoadgenCPU = self1.CPUSeconds - self0.CPUSeconds
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(sum)
}

// cascadeNode is a started node process.
type cascadeNode struct {
	name string
	url  string
	cmd  *exec.Cmd
	env  *mediaEnv // its viewers' counters
}

func startCascadeNode(ctx context.Context, name, secret, cpus string, stderr io.Writer) (*cascadeNode, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := []string{exe, "cascade-node", "-name", name}
	if cpus != "" {
		// taskset execs the node: the pid stays the node's.
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "JOBHALL_CASCADE_SECRET="+secret)
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("node %s did not start: %q %v", name, line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return &cascadeNode{name: name, url: strings.TrimSpace(strings.TrimPrefix(line, "READY ")), cmd: cmd}, nil
}

func (n *cascadeNode) stop() {
	_ = n.cmd.Process.Signal(os.Interrupt)
	_ = n.cmd.Wait()
}

func (n *cascadeNode) stats() (sfu.Stats, error) {
	var st sfu.Stats
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(n.url + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&st)
}

// post sends body to the node and returns the answer body.
func (n *cascadeNode) post(ctx context.Context, path string, q url.Values, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url+path+"?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// cascadePhase runs one measurement on three nodes with viewers viewers
// each: three independent broadcasts, or (cascaded) an origin with the
// trainer and two edges.
func cascadePhase(ctx context.Context, cascaded bool, viewers int, layers []mediaLayer, warmup, duration time.Duration, cpus string, twcc bool, stderr io.Writer) ([]*cascadeNodeSummary, error) {
	secretB := make([]byte, 24)
	_, _ = rand.Read(secretB)
	secret := hex.EncodeToString(secretB)
	nacks := &nackCounter{}
	api, err := newMediaAPI(twcc, false, nacks, nil)
	if err != nil {
		return nil, err
	}
	// Publishers offer no RTX (see newMediaAPI).
	pubAPI, err := newMediaAPI(twcc, true, nacks, nil)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, err
	}
	var ns []*cascadeNode
	defer func() {
		for _, n := range ns {
			n.stop()
		}
	}()
	for i := 0; i < 3; i++ {
		name := []string{"origin", "edge-1", "edge-2"}[i]
		if !cascaded {
			name = fmt.Sprintf("single-%d", i+1)
		}
		n, err := startCascadeNode(ctx, name, secret, cpus, stderr)
		if err != nil {
			return nil, err
		}
		n.env = &mediaEnv{api: api, stats: &mediaStats{}, cert: *cert, logf: func(string, ...any) {}}
		ns = append(ns, n)
	}
	const room = "course-cascade"
	pubNodes := ns
	if cascaded {
		pubNodes = ns[:1]
		for _, e := range ns[1:] {
			if _, err := e.post(ctx, "/edge", url.Values{"room": {room}, "origin": {ns[0].url}}, ""); err != nil {
				return nil, fmt.Errorf("%s: %w", e.name, err)
			}
		}
	}
	for _, n := range pubNodes {
		pub, err := cascadePublish(ctx, n, room, pubAPI, *cert, layers)
		if err != nil {
			return nil, err
		}
		defer pub.close()
	}
	var peers []*mediaPeer
	defer func() {
		for _, p := range peers {
			closeViewer(p)
		}
	}()
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i < viewers; i++ {
		for _, n := range ns {
			<-pace.C
			p, err := cascadeView(ctx, n, room, fmt.Sprintf("viewer-%s-%d", n.name, i))
			if err != nil {
				return nil, err
			}
			peers = append(peers, p)
		}
	}
	fmt.Fprintf(stderr, "cascade: cascaded=%v, %d viewers on each of 3 nodes joined; warming up %s\n", cascaded, viewers, warmup)
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	type before struct {
		p  procSample
		st sfu.Stats
	}
	b := make([]before, len(ns))
	for i, n := range ns {
		b[i].p, _ = readProc(n.cmd.Process.Pid)
		if b[i].st, err = n.stats(); err != nil {
			return nil, err
		}
		n.env.stats.measuring.Store(true)
	}
	start := time.Now()
	select {
	case <-time.After(duration):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	secs := time.Since(start).Seconds()
	out := make([]*cascadeNodeSummary, len(ns))
	for i, n := range ns {
		n.env.stats.measuring.Store(false)
		p1, _ := readProc(n.cmd.Process.Pid)
		st, err := n.stats()
		if err != nil {
			return nil, err
		}
		s := &cascadeNodeSummary{Name: n.name, Viewers: viewers, CPUSeconds: p1.CPUSeconds - b[i].p.CPUSeconds,
			PacketsForwarded: st.PacketsForwarded - b[i].st.PacketsForwarded, RelayPacketsOut: st.RelayPackets - b[i].st.RelayPackets}
		s.Cores = s.CPUSeconds / secs
		s.PacketsPerViewerSec = float64(s.PacketsForwarded) / float64(viewers) / secs
		if s.PacketsForwarded > 0 {
			s.CPUusPerForwarded = s.CPUSeconds * 1e6 / float64(s.PacketsForwarded)
			s.CPUusPerPacketOut = s.CPUSeconds * 1e6 / float64(s.PacketsForwarded+s.RelayPacketsOut)
		}
		ms := n.env.stats
		ms.mu.Lock()
		s.LatencyP50ms, s.LatencyP99ms = histQuantile(ms.latHist[:], 0.5), histQuantile(ms.latHist[:], 0.99)
		ms.mu.Unlock()
		s.PacketsReceived = ms.recvPackets.Load()
		var miss, total int64
		for _, p := range peers {
			if p.env != n.env {
				continue
			}
			p.mu.Lock()
			if len(p.tracks) == 0 || !p.gotFirst.Load() {
				s.ViewersWithoutMedia++
			}
			for _, r := range p.tracks {
				m, t := r.loss()
				miss += m
				total += t
			}
			p.mu.Unlock()
		}
		if total > 0 {
			s.LossPercent = 100 * float64(miss) / float64(total)
		}
		out[i] = s
	}
	return out, nil
}

// cascadeView joins one WHEP-style viewer (it offers recvonly audio and
// video; the answer carries every candidate).
func cascadeView(ctx context.Context, n *cascadeNode, room, id string) (*mediaPeer, error) {
	e := n.env
	p := &mediaPeer{env: e, id: id, room: room, done: make(chan struct{}), start: time.Now()}
	var err error
	if p.sub, err = e.api.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{e.cert}}); err != nil {
		return nil, err
	}
	p.sub.OnTrack(p.onTrack)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := p.sub.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			closeViewer(p)
			return nil, err
		}
	}
	answer, err := offerTo(ctx, p.sub, n, "/whep", url.Values{"room": {room}, "id": {id}})
	if err != nil {
		closeViewer(p)
		return nil, err
	}
	if err := p.sub.SetRemoteDescription(answer); err != nil {
		closeViewer(p)
		return nil, err
	}
	return p, nil
}

func closeViewer(p *mediaPeer) {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	_ = p.sub.Close()
	p.wg.Wait()
}

// offerTo makes pc's offer (all candidates gathered) and posts it.
func offerTo(ctx context.Context, pc *webrtc.PeerConnection, n *cascadeNode, path string, q url.Values) (webrtc.SessionDescription, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return webrtc.SessionDescription{}, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return webrtc.SessionDescription{}, ctx.Err()
	}
	sdp, err := n.post(ctx, path, q, pc.LocalDescription().SDP)
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	return webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}, nil
}

// cascadePublisher is the trainer: simulcast video and audio on the origin.
type cascadePublisher struct {
	p *mediaPeer
}

func (c *cascadePublisher) close() {
	select {
	case <-c.p.done:
	default:
		close(c.p.done)
	}
	_ = c.p.pub.Close()
	c.p.wg.Wait()
}

func cascadePublish(ctx context.Context, n *cascadeNode, room string, api *webrtc.API, cert webrtc.Certificate, layers []mediaLayer) (*cascadePublisher, error) {
	p := &mediaPeer{env: &mediaEnv{stats: &mediaStats{}}, id: "trainer", room: room, done: make(chan struct{}), layers: layers}
	var err error
	if p.pub, err = api.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{cert}}); err != nil {
		return nil, err
	}
	c := &cascadePublisher{p: p}
	vcap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	var tracks []*webrtc.TrackLocalStaticRTP
	for _, l := range layers {
		tr, err := webrtc.NewTrackLocalStaticRTP(vcap, "cam-trainer", "trainer", webrtc.WithRTPStreamID(l.rid))
		if err != nil {
			c.close()
			return nil, err
		}
		tracks = append(tracks, tr)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic-trainer", "trainer")
	if err != nil {
		c.close()
		return nil, err
	}
	send := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	vt, err := p.pub.AddTransceiverFromTrack(tracks[0], send)
	if err == nil {
		for _, tr := range tracks[1:] {
			if err = vt.Sender().AddEncoding(tr); err != nil {
				break
			}
		}
	}
	var at *webrtc.RTPTransceiver
	if err == nil {
		at, err = p.pub.AddTransceiverFromTrack(audio, send)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	answer, err := offerTo(ctx, p.pub, n, "/publish", url.Values{"room": {room}, "id": {"trainer"}})
	if err == nil {
		err = p.pub.SetRemoteDescription(answer)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	params := vt.Sender().GetParameters()
	midID, ridID := midRidIDs(params)
	wantKey := make([]atomic.Bool, len(layers))
	ssrcIdx := map[uint32]int{}
	for i, enc := range params.Encodings {
		ssrcIdx[uint32(enc.SSRC)] = i
	}
	read := func(f func() ([]rtcp.Packet, interceptor.Attributes, error)) {
		defer p.wg.Done()
		for {
			pkts, _, err := f()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				if x, ok := pk.(*rtcp.PictureLossIndication); ok {
					if i, ok := ssrcIdx[x.MediaSSRC]; ok {
						wantKey[i].Store(true)
					}
				}
			}
		}
	}
	for _, l := range layers {
		rid := l.rid
		p.wg.Add(1)
		go read(func() ([]rtcp.Packet, interceptor.Attributes, error) { return vt.Sender().ReadSimulcastRTCP(rid) })
	}
	p.wg.Add(2)
	go read(at.Sender().ReadRTCP)
	go func() {
		defer p.wg.Done()
		p.sendMedia(tracks, audio, vt.Mid(), midID, ridID, wantKey)
	}()
	return c, nil
}

// runCascadeNode is one bare media node: an SFU on loopback, the cascade
// origin handler and edge, and POST /publish, /whep, /edge and GET /stats.
// It prints "READY <base URL>" and serves until interrupted.
func runCascadeNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cascade-node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "node", "node id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := []byte(os.Getenv("JOBHALL_CASCADE_SECRET"))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, Logger: log})
	if err != nil {
		return err
	}
	defer s.Close()
	origin, err := cascade.NewOrigin(s, secret, log)
	if err != nil {
		return err
	}
	defer origin.Close()
	edge, err := cascade.NewEdge(cascade.EdgeConfig{SFU: s, Secret: secret, NodeID: *name, Logger: log})
	if err != nil {
		return err
	}
	defer edge.Close()
	mux := http.NewServeMux()
	mux.Handle(cascade.OriginPath, origin)
	readSDP := func(r *http.Request) (webrtc.SessionDescription, error) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 128<<10))
		return webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(b)}, err
	}
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), http.StatusBadRequest) }
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		offer, err := readSDP(r)
		if err != nil {
			fail(w, err)
			return
		}
		id := r.URL.Query().Get("id")
		p, err := s.Room(r.URL.Query().Get("room")).Join(sfu.ParticipantInfo{ID: id, Name: id, CanPublish: true}, nopEvents{})
		if err != nil {
			fail(w, err)
			return
		}
		answer, err := p.Publish(offer)
		if err != nil {
			p.Leave()
			fail(w, err)
			return
		}
		_, _ = io.WriteString(w, answer.SDP)
	})
	mux.HandleFunc("POST /whep", func(w http.ResponseWriter, r *http.Request) {
		offer, err := readSDP(r)
		if err != nil {
			fail(w, err)
			return
		}
		id := r.URL.Query().Get("id")
		_, answer, err := s.Room(r.URL.Query().Get("room")).JoinWithOffer(sfu.ParticipantInfo{ID: id, Name: id}, nopEvents{}, offer)
		if err != nil {
			fail(w, err)
			return
		}
		_, _ = io.WriteString(w, answer.SDP)
	})
	mux.HandleFunc("POST /edge", func(w http.ResponseWriter, r *http.Request) {
		c, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := edge.EnsureEdge(c, r.URL.Query().Get("room"), r.URL.Query().Get("origin")); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		origin.Close()
		sc, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sc)
	}()
	fmt.Fprintf(stdout, "READY http://%s\n", ln.Addr())
	err = srv.Serve(ln)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// nopEvents: the node's publishers and WHEP viewers never renegotiate from
// the server side.
type nopEvents struct{}

func (nopEvents) SubscriberOffer(webrtc.SessionDescription)              {}
func (nopEvents) ICECandidate(sfu.Target, webrtc.ICECandidateInit)       {}
func (nopEvents) ConnectionState(sfu.Target, webrtc.PeerConnectionState) {}
