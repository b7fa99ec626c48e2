package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/roomtoken"
)

// mediaEnv is what every media peer of a run shares.
type mediaEnv struct {
	url    string
	tokens *roomtoken.Issuer
	api    *webrtc.API // subscribe PCs, when subArrivals is off (cascade)
	// subArrivals gives each subscribe PC its own API, stamping arrivals at
	// its sockets (arrival.go); twcc and nacks build those APIs.
	subArrivals bool
	// direct (with subArrivals): subscribers decrypt and measure media on
	// their socket readers (direct.go).
	direct bool
	twcc   bool
	nacks  *nackCounter
	pubAPI *webrtc.API // publish PCs: no RTX (see newMediaAPI)
	stats  *mediaStats
	cert   webrtc.Certificate
	logf   func(format string, args ...any)
}

// mediaStats aggregates over all peers of a run; counters only count while
// measuring is set.
type mediaStats struct {
	measuring atomic.Bool

	sentPackets, recvPackets  atomic.Int64
	nacksSent, plisAtPub      atomic.Int64
	nacksAtPub                atomic.Int64
	feedbackSent              atomic.Int64 // TWCC feedback packets from stamped arrivals (arrival.go)
	recvDirect                atomic.Int64 // of recvPackets, those taken by the direct path (direct.go)
	joinFailures, badPayloads atomic.Int64
	// seqJumps counts received sequence numbers more than 1,000 from the
	// track's newest: a break in the SFU's rewriting, not loss.
	seqJumps atomic.Int64

	mu sync.Mutex
	// Added latency in 0.1 ms buckets: latHist to the packet's arrival at
	// the subscriber's socket (arrival.go), readHist to when loadgen's
	// reader got it (loadgen's own backlog included).
	latHist   [latBuckets + 1]int64
	readHist  [latBuckets + 1]int64
	firstPkt  []time.Duration // join to first media packet, per subscriber
	lossMiss  int64
	lossTotal int64
}

const latBuckets = 20000 // 2 s in 0.1 ms steps

// newMediaAPI builds the API of subscribe PCs (publisher false) or publish
// PCs. Publish PCs offer no RTX: Pion's retransmissions copy the original
// packet's header extensions, rid included, onto the RTX SSRC (browsers
// mark RTX with repaired-rtp-stream-id instead), and a receiver keyed by
// RID then takes the RTX stream for a new layer — the SFU's reader of that
// layer jumps to the RTX sequence numbers. Retransmissions go on the
// primary SSRC instead. nc counts the NACKs subscribers send.
//
// arr, for a subscribe PC, stamps its arrivals at the socket (arrival.go):
// the PC then sends transport-wide feedback from those stamps itself
// (feedbackLoop) instead of through Pion's interceptor, which stamps a
// packet only when loadgen's reader gets to it.
func newMediaAPI(twcc, publisher bool, nc *nackCounter, arr *arrivals) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if publisher {
		fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
		for _, c := range []webrtc.RTPCodecParameters{
			{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96},
			{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		} {
			kind := webrtc.RTPCodecTypeVideo
			if c.MimeType == webrtc.MimeTypeOpus {
				kind = webrtc.RTPCodecTypeAudio
			}
			if err := m.RegisterCodec(c, kind); err != nil {
				return nil, err
			}
		}
	} else if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	// First in the chain, so it sees what the NACK generator writes.
	ir.Add(nc)
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	// Browsers send TWCC feedback; so do we (unless told not to), so the
	// SFU's estimator runs.
	switch {
	case twcc && arr != nil:
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, k)
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, k); err != nil {
				return nil, err
			}
		}
	case twcc:
		if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
			return nil, err
		}
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled // teardown races are noise here
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	if arr != nil {
		std, err := hostNet()
		if err != nil {
			return nil, err
		}
		se.SetNet(&arrivalNet{Net: std, a: arr})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// hostNet lists the host's interfaces once for all subscribe PCs.
var hostNet = sync.OnceValues(stdnet.NewNet)

// nackCounter counts the NACKs our subscribers send.
type nackCounter struct {
	interceptor.NoOp
	n atomic.Int64
}

func (c *nackCounter) NewInterceptor(string) (interceptor.Interceptor, error) { return c, nil }

func (c *nackCounter) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if _, ok := p.(*rtcp.TransportLayerNack); ok {
				c.n.Add(1)
			}
		}
		return w.Write(pkts, a)
	})
}

// mediaPeer is one synthetic participant: a signalling WebSocket and the
// two PeerConnections of the protocol.
type mediaPeer struct {
	env      *mediaEnv
	id, room string
	ws       *websocket.Conn
	wmu      sync.Mutex
	pub, sub *webrtc.PeerConnection
	arr      *arrivals // nil: latency and feedback from the reader's clock
	done     chan struct{}
	wg       sync.WaitGroup
	start    time.Time
	gotFirst atomic.Bool
	joined   chan struct{}
	joinOnce sync.Once
	layers   []mediaLayer
	idx      uint16 // publisher index carried in payloads

	mu      sync.Mutex
	pending []webrtc.ICECandidateInit // subscriber candidates before the offer
	tracks  []*mediaRecv
}

type mediaLayer struct {
	rid string
	bps int
}

func (e *mediaEnv) dial(ctx context.Context, room, id, role string, idx uint16, layers []mediaLayer) (*mediaPeer, error) {
	tok, err := e.tokens.Issue(roomtoken.Grant{Room: room, Identity: id, Name: id, Role: role, Expires: time.Now().Add(2 * time.Hour)})
	if err != nil {
		return nil, err
	}
	p := &mediaPeer{env: e, id: id, room: room, done: make(chan struct{}), joined: make(chan struct{}), layers: layers, idx: idx, start: time.Now()}
	cfg := webrtc.Configuration{Certificates: []webrtc.Certificate{e.cert}}
	if p.pub, err = e.pubAPI.NewPeerConnection(cfg); err != nil {
		return nil, err
	}
	subAPI := e.api
	if e.subArrivals {
		p.arr = newArrivals(e.twcc)
		if subAPI, err = newMediaAPI(e.twcc, false, e.nacks, p.arr); err != nil {
			_ = p.pub.Close()
			return nil, err
		}
	}
	if p.sub, err = subAPI.NewPeerConnection(cfg); err != nil {
		_ = p.pub.Close()
		return nil, err
	}
	if p.arr != nil && (p.arr.rec != nil || e.direct) {
		p.wg.Add(1)
		go p.feedbackLoop()
	}
	if p.arr != nil && e.direct {
		p.sub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			if st == webrtc.PeerConnectionStateConnected && !p.arr.enableDirect(p.sub) {
				p.env.logf("%s: direct receive off: no SRTP keys", p.id)
			}
		})
	}
	for target, pc := range map[string]*webrtc.PeerConnection{"publisher": p.pub, "subscriber": p.sub} {
		target := target
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				p.send(map[string]any{"type": "candidate", "target": target, "candidate": c.ToJSON()})
			}
		})
	}
	p.sub.OnTrack(p.onTrack)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, first, err := dialJoin(ctx, &d, e.url, room, tok)
	if err != nil {
		p.close()
		return nil, err
	}
	p.wmu.Lock()
	p.ws = ws
	p.wmu.Unlock()
	p.wg.Add(1)
	go p.readLoop(first)
	select {
	case <-p.joined:
		return p, nil
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
	}
	p.close()
	return nil, fmt.Errorf("%s: not joined", id)
}

func (p *mediaPeer) send(m any) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = p.ws.WriteJSON(m)
}

type mediaFrame struct {
	Type      string                   `json:"type"`
	Target    string                   `json:"target"`
	SDP       string                   `json:"sdp"`
	Candidate *webrtc.ICECandidateInit `json:"candidate"`
	Message   string                   `json:"message"`
	Reason    string                   `json:"reason"`
}

func (p *mediaPeer) readLoop(first []byte) {
	defer p.wg.Done()
	for {
		b := first
		if first != nil {
			first = nil
		} else {
			var err error
			if _, b, err = p.ws.ReadMessage(); err != nil {
				return
			}
		}
		var f mediaFrame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		switch f.Type {
		case "joined":
			p.joinOnce.Do(func() { close(p.joined) })
			if len(p.layers) > 0 {
				if err := p.publish(); err != nil {
					p.env.logf("%s: publish: %v", p.id, err)
				}
			}
		case "answer":
			if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: f.SDP}); err != nil {
				p.env.logf("%s: answer: %v", p.id, err)
			}
		case "offer":
			p.onOffer(f.SDP)
		case "candidate":
			if f.Candidate == nil {
				continue
			}
			if f.Target == "publisher" {
				_ = p.pub.AddICECandidate(*f.Candidate)
				continue
			}
			p.mu.Lock()
			if p.sub.RemoteDescription() == nil {
				p.pending = append(p.pending, *f.Candidate)
				p.mu.Unlock()
				continue
			}
			p.mu.Unlock()
			_ = p.sub.AddICECandidate(*f.Candidate)
		case "error":
			p.env.logf("%s: error: %s", p.id, f.Message)
		case "bye":
			return
		}
	}
}

func (p *mediaPeer) onOffer(offer string) {
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		p.env.logf("%s: offer: %v", p.id, err)
		return
	}
	if p.arr != nil {
		p.arr.twccID.Store(uint32(extmapID(offer, sdp.TransportCCURI)))
	}
	ans, err := p.sub.CreateAnswer(nil)
	if err == nil {
		err = p.sub.SetLocalDescription(ans)
	}
	if err != nil {
		p.env.logf("%s: answer: %v", p.id, err)
		return
	}
	p.send(map[string]any{"type": "answer", "target": "subscriber", "sdp": ans.SDP})
	p.mu.Lock()
	pend := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, c := range pend {
		_ = p.sub.AddICECandidate(c)
	}
}

// publish offers one video track (simulcast when several layers) and one
// audio track, then sends media until the peer closes.
func (p *mediaPeer) publish() error {
	vcap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	var tracks []*webrtc.TrackLocalStaticRTP
	for _, l := range p.layers {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if l.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(l.rid))
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(vcap, "cam-"+p.id, p.id, opts...)
		if err != nil {
			return err
		}
		tracks = append(tracks, tr)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic-"+p.id, p.id)
	if err != nil {
		return err
	}
	send := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	vt, err := p.pub.AddTransceiverFromTrack(tracks[0], send)
	if err != nil {
		return err
	}
	for _, tr := range tracks[1:] {
		if err := vt.Sender().AddEncoding(tr); err != nil {
			return err
		}
	}
	at, err := p.pub.AddTransceiverFromTrack(audio, send)
	if err != nil {
		return err
	}
	offer, err := p.pub.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := p.pub.SetLocalDescription(offer); err != nil {
		return err
	}
	p.send(map[string]any{"type": "offer", "target": "publisher", "sdp": offer.SDP})

	wantKey := make([]atomic.Bool, len(p.layers))
	ssrcIdx := map[uint32]int{}
	readRTCP := func(read func() ([]rtcp.Packet, interceptor.Attributes, error)) {
		defer p.wg.Done()
		for {
			pkts, _, err := read()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				switch x := pk.(type) {
				case *rtcp.PictureLossIndication:
					if p.env.stats.measuring.Load() {
						p.env.stats.plisAtPub.Add(1)
					}
					i, ok := ssrcIdx[x.MediaSSRC]
					if !ok {
						i = len(wantKey) - 1
					}
					wantKey[i].Store(true)
				case *rtcp.TransportLayerNack:
					if p.env.stats.measuring.Load() {
						p.env.stats.nacksAtPub.Add(1)
					}
				}
			}
		}
	}
	// SSRCs are known once the answer is applied; the sender goroutine
	// starts after that.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for p.pub.RemoteDescription() == nil {
			select {
			case <-p.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		params := vt.Sender().GetParameters()
		midID, ridID := midRidIDs(params)
		for i, enc := range params.Encodings {
			ssrcIdx[uint32(enc.SSRC)] = i
		}
		for _, l := range p.layers {
			rid := l.rid
			p.wg.Add(1)
			if rid == "" {
				go readRTCP(vt.Sender().ReadRTCP)
			} else {
				go readRTCP(func() ([]rtcp.Packet, interceptor.Attributes, error) { return vt.Sender().ReadSimulcastRTCP(rid) })
			}
		}
		p.wg.Add(1)
		go readRTCP(at.Sender().ReadRTCP)
		p.sendMedia(tracks, audio, vt.Mid(), midID, ridID, wantKey)
	}()
	return nil
}

// sendMedia paces VP8 frames (30 fps, keyframe every 2 s and on PLI) per
// layer and one Opus-sized packet every 20 ms. Payloads carry the
// publisher index, layer, a counter and the send time for the subscribers.
func (p *mediaPeer) sendMedia(tracks []*webrtc.TrackLocalStaticRTP, audio *webrtc.TrackLocalStaticRTP, mid string, midID, ridID uint8, wantKey []atomic.Bool) {
	type lstate struct {
		seq     uint16
		ts      uint32
		n       uint32
		lastKey time.Time
	}
	st := make([]lstate, len(tracks))
	for i := range wantKey {
		wantKey[i].Store(true)
	}
	buf := make([]byte, 1200)
	var aseq uint16
	var ats, an uint32
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var frames, audios int
	begin := time.Now()
	pkt := &rtp.Packet{}
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		el := time.Since(begin)
		for int(el/(20*time.Millisecond)) >= audios {
			audios++
			pl := mediaPayload(buf[:0], []byte{0xfc}, p.idx, 255, an, 100)
			pkt.Header = rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, Marker: true}
			pkt.Payload = pl
			if err := audio.WriteRTP(pkt); err == nil && p.env.stats.measuring.Load() {
				p.env.stats.sentPackets.Add(1)
			}
			aseq++
			an++
			ats += 960
		}
		if int(el*30/time.Second) < frames {
			continue
		}
		frames++
		for i, tr := range tracks {
			s := &st[i]
			key := wantKey[i].Swap(false) || time.Since(s.lastKey) > 2*time.Second
			if key {
				s.lastKey = time.Now()
			}
			frame := p.layers[i].bps / 8 / 30
			if key {
				frame *= 3
			}
			npk := (frame + 1099) / 1100
			for j := 0; j < npk; j++ {
				prefix := []byte{0x00}
				if j == 0 {
					if key {
						prefix = []byte{0x10, 0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}
					} else {
						prefix = []byte{0x10, 0x11, 0, 0}
					}
				}
				pl := mediaPayload(buf[:0], prefix, p.idx, uint8(i), s.n, min(1100, frame/npk+40))
				pkt.Header = rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: s.ts, Marker: j == npk-1}
				if p.layers[i].rid != "" && midID != 0 && ridID != 0 {
					_ = pkt.Header.SetExtension(midID, []byte(mid))
					_ = pkt.Header.SetExtension(ridID, []byte(p.layers[i].rid))
				}
				pkt.Payload = pl
				if err := tr.WriteRTP(pkt); err == nil && p.env.stats.measuring.Load() {
					p.env.stats.sentPackets.Add(1)
				}
				s.seq++
				s.n++
			}
			s.ts += 3000
		}
	}
}

// mediaPayload: prefix, "LG", publisher index, layer, counter, send time
// (unix ns), filler up to size.
func mediaPayload(b, prefix []byte, pub uint16, layer uint8, n uint32, size int) []byte {
	b = append(b, prefix...)
	b = append(b, 'L', 'G')
	b = binary.BigEndian.AppendUint16(b, pub)
	b = append(b, layer)
	b = binary.BigEndian.AppendUint32(b, n)
	b = binary.BigEndian.AppendUint64(b, uint64(time.Now().UnixNano()))
	for len(b) < size {
		b = append(b, 0x5a)
	}
	return b
}

// mediaRecv measures one received track. Its reader adds while the summary
// reads loss at the end of the window: mu (a leaf) keeps them apart.
type mediaRecv struct {
	mu      sync.Mutex
	started bool
	first   uint16
	highest uint16
	seen    []uint64 // bitmap over the 16-bit sequence space
}

func (p *mediaPeer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	r := &mediaRecv{seen: make([]uint64, 1024)}
	p.mu.Lock()
	p.tracks = append(p.tracks, r)
	p.mu.Unlock()
	if p.env.direct && p.arr != nil {
		// Later packets of this stream (and its repairs) skip Pion.
		p.arr.addTrack(uint32(tr.SSRC()), uint32(tr.RtxSSRC()), func(seq uint16, payload []byte, at int64) {
			if p.got(r, seq, payload, at, time.Now().UnixNano()) {
				p.env.stats.recvDirect.Add(1)
			}
		})
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			now := time.Now().UnixNano()
			arrived, ok := p.arr.at(pkt.SSRC, pkt.SequenceNumber)
			if !ok {
				arrived = now
			}
			p.got(r, pkt.SequenceNumber, pkt.Payload, arrived, now)
		}
	}()
}

// got measures one received packet of r (false: outside the measured
// window, or not loadgen's payload): arrived is when it reached the socket,
// now when loadgen's reader got it.
func (p *mediaPeer) got(r *mediaRecv, seq uint16, payload []byte, arrived, now int64) bool {
	s := p.env.stats
	if !p.gotFirst.Swap(true) {
		s.mu.Lock()
		s.firstPkt = append(s.firstPkt, time.Duration(now-p.start.UnixNano()))
		s.mu.Unlock()
	}
	i := strings.Index(string(payload[:min(len(payload), 16)]), "LG")
	if i < 0 || len(payload) < i+17 {
		s.badPayloads.Add(1)
		return false
	}
	sent := int64(binary.BigEndian.Uint64(payload[i+9:]))
	if !s.measuring.Load() {
		return false
	}
	s.recvPackets.Add(1)
	if r.add(seq) {
		s.seqJumps.Add(1)
	}
	s.mu.Lock()
	s.latHist[latBucket(arrived-sent)]++
	s.readHist[latBucket(now-sent)]++
	s.mu.Unlock()
	return true
}

func latBucket(d int64) int {
	return max(0, min(latBuckets, int(d/100_000)))
}

// add records seq; true when it jumps more than 1,000 from the newest.
func (r *mediaRecv) add(seq uint16) (jump bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.started, r.first, r.highest = true, seq, seq
	} else if d := int16(seq - r.highest); d > 0 {
		jump = d > 1000
		r.highest = seq
	} else {
		jump = d < -1000
	}
	r.seen[seq/64] |= 1 << (seq % 64)
	return jump
}

// loss counts missing sequence numbers, ignoring the newest 100 (their
// repair may be in flight when the run stops).
func (r *mediaRecv) loss() (missing, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return 0, 0
	}
	end := r.highest - 100
	for q := r.first; int16(end-q) > 0; q++ {
		total++
		if r.seen[q/64]&(1<<(q%64)) == 0 {
			missing++
		}
	}
	return missing, total
}

func (p *mediaPeer) close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	if p.ws != nil {
		p.send(map[string]any{"type": "leave"})
		_ = p.ws.Close()
	}
	_ = p.pub.Close()
	_ = p.sub.Close()
	p.wg.Wait()
}

// mediaProc is a process's CPU time and RSS from /proc.
type mediaProc struct {
	cpu float64 // seconds
	rss int64   // bytes
}

func readMediaProc(pid int) (mediaProc, error) {
	p, err := readProc(pid)
	return mediaProc{cpu: p.CPUSeconds, rss: p.RSSBytes}, err
}

// midRidIDs are the header extension ids a sender negotiated for the mid
// and rid (simulcast) extensions.
func midRidIDs(params webrtc.RTPSendParameters) (mid, rid uint8) {
	for _, h := range params.HeaderExtensions {
		switch h.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			mid = uint8(h.ID)
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			rid = uint8(h.ID)
		}
	}
	return mid, rid
}
