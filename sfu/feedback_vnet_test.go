package sfu_test

import (
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"jobhall/sfu"
)

// pubLoss drops a share of one host's RTP on its way to the SFU (RTCP,
// ICE and DTLS pass) and notes what it dropped and what it let through,
// from the clear SRTP header.
type pubLoss struct {
	from, to net.IP
	pct      int
	twID     atomic.Uint32 // transport-wide-cc extension id of the publisher
	on       atomic.Bool

	mu      sync.Mutex
	rng     *rand.Rand
	dropped map[uint32]map[uint16]time.Time // by SSRC: sequence numbers dropped, last time
	twSent  map[uint16]bool                 // transport-wide seq: delivered at least once (true) or only dropped
}

func (l *pubLoss) filter(c vnet.Chunk) bool {
	if c.Network() != "udp" {
		return true
	}
	on := l.on.Load()
	src, ok1 := c.SourceAddr().(*net.UDPAddr)
	dst, ok2 := c.DestinationAddr().(*net.UDPAddr)
	b := c.UserData()
	if !ok1 || !ok2 || !src.IP.Equal(l.from) || !dst.IP.Equal(l.to) || len(b) < 12 || b[0]>>6 != 2 || b[1] >= 192 && b[1] <= 223 {
		return true
	}
	var h rtp.Header
	if _, err := h.Unmarshal(b); err != nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	drop := on && l.rng.IntN(100) < l.pct
	if id := uint8(l.twID.Load()); id != 0 {
		if e := h.GetExtension(id); e != nil {
			var tw rtp.TransportCCExtension
			if tw.Unmarshal(e) == nil {
				// A retransmission repeats the original's number
				// (the test publisher's NACK responder resends what it sent),
				// also after the loss stops: then only numbers already
				// seen are noted, so the set stops growing.
				if _, seen := l.twSent[tw.TransportSequence]; on || seen {
					l.twSent[tw.TransportSequence] = l.twSent[tw.TransportSequence] || !drop
				}
			}
		}
	}
	if drop {
		if l.dropped[h.SSRC] == nil {
			l.dropped[h.SSRC] = map[uint16]time.Time{}
		}
		l.dropped[h.SSRC][h.SequenceNumber] = time.Now()
	}
	return !drop
}

// A publisher loses 10 % of its RTP on the way to the SFU. The SFU's
// feedback interceptor NACKs exactly the missing video packets (the
// subscriber then sees no gaps), never the audio (Opus negotiated no
// NACK), sends TWCC feedback covering the publisher's transport-wide
// sequence numbers (received ones as received, dropped ones as not), and
// receiver reports with the audio's fraction lost near 10 % and the LSR of
// the publisher's sender reports.
func TestVnetPublisherFeedback(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}}, sfu.Config{})
	defer e.close()
	// A stamps transport-wide sequence numbers, as browsers do.
	e.apiFor = func(id string) *webrtc.API {
		if id == "A" {
			return newVnetClientAPI(t, e.nets[id], nil, webrtc.ConfigureTWCCHeaderExtensionSender)
		}
		return newVnetClientAPI(t, e.nets[id], nil)
	}
	loss := &pubLoss{from: net.ParseIP("10.0.0.2"), to: net.ParseIP("10.0.0.1"), pct: 10,
		rng: rand.New(rand.NewPCG(4, 2)), dropped: map[uint32]map[uint16]time.Time{}, twSent: map[uint16]bool{}}
	e.router.AddChunkFilter(loss.filter)
	// Header extensions in the clear, so that the filter sees the
	// transport-wide sequence numbers.
	e.pubConfig.RTPHeaderEncryptionPolicy = webrtc.RTPHeaderEncryptionPolicyDisable

	room := e.sfu.Room("r-pubfb")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	var (
		mu     sync.Mutex
		nacked = map[uint32]map[uint16]bool{}
		twSeen = map[uint16]bool{} // transport-wide seq → reported received
		rrs    = map[uint32][]timedReport{}
		rrSeen = map[rtcp.ReceptionReport]bool{} // a compound naming two SSRCs reaches two senders
		plis   int
	)
	a.onRTCP = func(p rtcp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			if nacked[p.MediaSSRC] == nil {
				nacked[p.MediaSSRC] = map[uint16]bool{}
			}
			for _, pr := range p.Nacks {
				for _, s := range pr.PacketList() {
					nacked[p.MediaSSRC][s] = true
				}
			}
		case *rtcp.TransportLayerCC:
			for s, rcv := range sfu.TWCCStatuses(p) {
				twSeen[s] = twSeen[s] || rcv
			}
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				if !rrSeen[r] {
					rrSeen[r] = true
					rrs[r.SSRC] = append(rrs[r.SSRC], timedReport{r, time.Now()})
				}
			}
		case *rtcp.PictureLossIndication:
			plis++
		}
	}
	streams := watch(b)
	a.publishMedia([]layerSpec{{"", 600_000}})
	var videoSSRC, audioSSRC uint32
	for _, tr := range a.pub.GetTransceivers() {
		prm := tr.Sender().GetParameters()
		for _, h := range prm.HeaderExtensions {
			if h.URI == sdp.TransportCCURI {
				loss.twID.Store(uint32(h.ID))
			}
		}
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			videoSSRC = uint32(prm.Encodings[0].SSRC)
		} else {
			audioSSRC = uint32(prm.Encodings[0].SSRC)
		}
	}
	if loss.twID.Load() == 0 {
		t.Fatal("transport-wide-cc not negotiated")
	}
	e.videoFlowing(streams, "B", "A")
	lossFrom := time.Now()
	loss.on.Store(true)
	time.Sleep(5 * time.Second)
	loss.on.Store(false)
	lossTo := time.Now()
	// The last NACK rounds, feedback and reports: wait until they are in
	// (a loaded machine delays the ticks), then judge.
	e.waitFor("the NACKs, TWCC feedback and reports after the loss", func() bool {
		mu.Lock()
		defer mu.Unlock()
		loss.mu.Lock()
		defer loss.mu.Unlock()
		for s, at := range loss.dropped[videoSSRC] {
			if at.Before(lossTo.Add(-300*time.Millisecond)) && !nacked[videoSSRC][s] {
				return false
			}
		}
		for s := range loss.twSent {
			if _, ok := twSeen[s]; !ok {
				return false
			}
		}
		audio := rrs[audioSSRC]
		if len(audio) == 0 || int(audio[len(audio)-1].TotalLost) != len(loss.dropped[audioSSRC]) ||
			audio[len(audio)-1].at.Before(lossTo) {
			return false
		}
		missing, _ := streams("A", webrtc.RTPCodecTypeVideo).missing(20)
		return missing == 0
	})

	mu.Lock()
	defer mu.Unlock()
	loss.mu.Lock()
	defer loss.mu.Unlock()
	// NACKs: only for video, only sequence numbers that were dropped, and
	// every video packet dropped more than 300 ms before the end was asked for.
	if len(nacked[audioSSRC]) > 0 {
		t.Fatalf("audio NACKed: %v", nacked[audioSSRC])
	}
	dropped := loss.dropped[videoSSRC]
	if len(dropped) < 20 {
		t.Fatalf("only %d video packets dropped", len(dropped))
	}
	for s := range nacked[videoSSRC] {
		if _, ok := dropped[s]; !ok {
			t.Fatalf("video seq %d NACKed but not dropped", s)
		}
	}
	missed := 0
	for s, at := range dropped {
		if at.Before(lossTo.Add(-300*time.Millisecond)) && !nacked[videoSSRC][s] {
			missed++
			t.Errorf("dropped video seq %d (at +%v) never NACKed", s, at.Sub(lossFrom))
		}
	}
	t.Logf("video: %d dropped, %d NACKed, %d never asked for", len(dropped), len(nacked[videoSSRC]), missed)

	// The subscriber sees no gaps: every NACKed packet came back.
	v := streams("A", webrtc.RTPCodecTypeVideo)
	if missing, total := v.missing(20); missing > 0 || total < 200 {
		t.Fatalf("subscriber: %d of %d video packets missing", missing, total)
	}

	// TWCC: every transport-wide seq that crossed the lossy link is covered,
	// received ones as received, dropped ones as not received.
	if len(loss.twSent) < 200 {
		t.Fatalf("only %d transport-wide seqs seen", len(loss.twSent))
	}
	var seqs []int
	for s := range loss.twSent {
		seqs = append(seqs, int(s))
	}
	sort.Ints(seqs)
	wrongRecv, wrongLost, uncovered := 0, 0, 0
	for _, s := range seqs {
		rcv, ok := twSeen[uint16(s)]
		switch {
		case !ok:
			uncovered++
		case rcv && !loss.twSent[uint16(s)]:
			wrongRecv++
		case !rcv && loss.twSent[uint16(s)]:
			wrongLost++
		}
	}
	t.Logf("TWCC: %d transport-wide seqs, %d uncovered, %d dropped reported received, %d received reported lost", len(seqs), uncovered, wrongRecv, wrongLost)
	if uncovered > 0 || wrongRecv > 0 || wrongLost > 0 {
		t.Fatal("TWCC feedback does not match what crossed the link")
	}

	// Receiver reports: audio (no NACK, nothing recovered) shows the loss:
	// the fraction lost of the reports sent within the lossy seconds, and
	// the cumulative count, which must equal what was dropped.
	audio := rrs[audioSSRC]
	if len(rrs[videoSSRC]) == 0 || len(audio) < 5 {
		t.Fatalf("receiver reports: video %d, audio %d", len(rrs[videoSSRC]), len(audio))
	}
	var fractions []int
	sum, lsr := 0, 0
	for _, r := range audio {
		if r.at.After(lossFrom.Add(1100*time.Millisecond)) && r.at.Before(lossTo) {
			fractions = append(fractions, int(r.FractionLost))
			sum += int(r.FractionLost)
		}
		if r.LastSenderReport != 0 {
			lsr++
			if r.Delay > 2*65536 {
				t.Fatalf("DLSR %d/65536 s", r.Delay)
			}
		}
	}
	t.Logf("audio fraction lost (/256) in the lossy seconds: %v; %d of %d reports with LSR; cumulative lost %d, dropped %d",
		fractions, lsr, len(audio), audio[len(audio)-1].TotalLost, len(loss.dropped[audioSSRC]))
	if lsr == 0 {
		t.Fatal("no receiver report carried an LSR")
	}
	if len(fractions) < 2 {
		t.Fatalf("only %d audio reports in the lossy seconds", len(fractions))
	}
	if mean := sum / len(fractions); mean < 13 || mean > 51 { // 5–20 %
		t.Fatalf("audio fraction lost %d/256 on average, want 5–20 %%", mean)
	}
	if got, want := audio[len(audio)-1].TotalLost, len(loss.dropped[audioSSRC]); int(got) != want {
		t.Fatalf("audio cumulative lost %d, dropped %d", got, want)
	}
	if got := rrs[videoSSRC][len(rrs[videoSSRC])-1].TotalLost; int(got) > len(dropped) {
		t.Fatalf("video cumulative lost %d, more than dropped %d", got, len(dropped))
	}
}

type timedReport struct {
	rtcp.ReceptionReport
	at time.Time
}
