package sfu_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"jobhall/internal/apperr"
	"jobhall/sfu"
)

// joinView joins r as a WHEP viewer: a Pion client offering one recvonly
// video and one recvonly audio section, answered by JoinWithOffer.
func (e *testEnv) joinView(r *sfu.Room, id string) *client {
	e.t.Helper()
	c := &client{env: e, id: id, events: make(chan func(), 1024), done: make(chan struct{}),
		states: map[sfu.Target]webrtc.PeerConnectionState{}}
	var err error
	if c.pub, err = e.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		e.t.Fatal(err)
	}
	if c.sub, err = e.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		e.t.Fatal(err)
	}
	e.clients = append(e.clients, c)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := c.sub.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			e.t.Fatal(err)
		}
	}
	c.sub.OnTrack(c.onTrack)
	offer, err := c.sub.CreateOffer(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.sub)
	if err := c.sub.SetLocalDescription(offer); err != nil {
		e.t.Fatal(err)
	}
	<-gathered
	part, answer, err := r.JoinWithOffer(sfu.ParticipantInfo{ID: id, Name: "viewer " + id, CanPublish: true}, c, *c.sub.LocalDescription())
	if err != nil {
		e.t.Fatalf("JoinWithOffer %s: %v", id, err)
	}
	c.part = part
	if err := c.sub.SetRemoteDescription(answer); err != nil {
		e.t.Fatal(err)
	}
	c.wg.Add(1)
	go c.loop()
	return c
}

// viewLog follows a viewer's tracks across source switches.
type viewLog struct {
	mu   sync.Mutex
	last map[*recvTrack]*viewState
}

type viewState struct {
	sender   string
	seq      uint16
	gaps     int
	switches int
	badStart int // a new source began without a keyframe
	from     map[string]int
}

func senderOf(p []byte) (string, bool) {
	i := bytes.Index(p, []byte("JH"))
	if i < 0 || i+3 > len(p) || i+3+int(p[i+2]) > len(p) {
		return "", false
	}
	return string(p[i+3 : i+3+int(p[i+2])]), true
}

func (v *viewLog) watch(c *client) {
	v.last = map[*recvTrack]*viewState{}
	c.onPacket = func(rt *recvTrack, p *rtp.Packet) bool {
		who, ok := senderOf(p.Payload)
		if !ok || !checkPayload(rt.kind, who, p.Payload) {
			return false
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		s := v.last[rt]
		if s == nil {
			s = &viewState{from: map[string]int{}}
			v.last[rt] = s
		} else if p.SequenceNumber != s.seq+1 {
			s.gaps++
		}
		if who != s.sender {
			if s.sender != "" {
				s.switches++
			}
			if rt.kind == webrtc.RTPCodecTypeVideo && !isVP8Keyframe(p.Payload) {
				s.badStart++
			}
			s.sender = who
		}
		s.seq = p.SequenceNumber
		s.from[who]++
		return true
	}
}

func (v *viewLog) state(c *client, kind webrtc.RTPCodecType) viewState {
	v.mu.Lock()
	defer v.mu.Unlock()
	for rt, s := range v.last {
		if rt.kind == kind {
			x := *s
			x.from = map[string]int{}
			for k, n := range s.from {
				x.from[k] = n
			}
			return x
		}
	}
	return viewState{from: map[string]int{}}
}

func TestWHEPJoinWithOffer(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()
	room := e.sfu.Room("r-whep")

	// A viewer of an empty room gets media once someone publishes, with no
	// renegotiation.
	w := e.joinView(room, "W")
	var wl viewLog
	wl.watch(w)
	a := e.join(room, "A", true, false)
	a.publish()
	e.waitFor("W to receive A's video and audio", func() bool {
		return wl.state(w, webrtc.RTPCodecTypeVideo).from["A"] >= minPackets && wl.state(w, webrtc.RTPCodecTypeAudio).from["A"] >= minPackets
	})

	// A viewer joining now gets A's tracks in its answer.
	w2 := e.joinView(room, "W2")
	e.waitFor("W2 to receive A", func() bool { return w2.receiving("A", 2, minPackets) })
	if v := w2.track("A", webrtc.RTPCodecTypeVideo); v == nil || v.trackID != "cam-A" {
		t.Fatal("W2's answer does not name A's camera")
	}

	// Switching the source rebinds both sections in place.
	b := e.join(room, "B", true, false)
	b.publish()
	e.waitFor("B's tracks", func() bool { return e.sfu.Stats().Tracks == 4 })
	if err := w.part.SetViewSource("B"); err != nil {
		t.Fatal(err)
	}
	e.waitFor("W to receive B instead", func() bool {
		return wl.state(w, webrtc.RTPCodecTypeVideo).from["B"] >= minPackets && wl.state(w, webrtc.RTPCodecTypeAudio).from["B"] >= minPackets
	})
	// B leaving falls back to A.
	b.leave()
	e.waitFor("W back on A", func() bool {
		return wl.state(w, webrtc.RTPCodecTypeVideo).sender == "A" && wl.state(w, webrtc.RTPCodecTypeAudio).sender == "A"
	})
	from := wl.state(w, webrtc.RTPCodecTypeVideo).from["A"]
	e.waitFor("A's video after the switch back", func() bool { return wl.state(w, webrtc.RTPCodecTypeVideo).from["A"] > from+minPackets })

	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		s := wl.state(w, k)
		t.Logf("%s: switches %d gaps %d from %v", k, s.switches, s.gaps, s.from)
		if s.switches < 2 || s.gaps > 0 || s.badStart > 0 {
			t.Fatalf("%s: %d switches, %d sequence gaps, %d starts without keyframe", k, s.switches, s.gaps, s.badStart)
		}
	}
	if n := len(w.tracks("", false)); n != 2 {
		t.Fatalf("W has %d remote tracks, want the 2 of its offer", n)
	}
	if w.offers.Load() != 0 || w2.offers.Load() != 0 {
		t.Fatal("the SFU sent an offer to a WHEP viewer")
	}
	if err := a.part.SetViewSource("B"); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("SetViewSource on a publisher: %v", err)
	}
	if err := w.part.RestartICE(); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("RestartICE on a viewer: %v", err)
	}
	if _, _, err := room.JoinWithOffer(sfu.ParticipantInfo{ID: "X"}, w, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "garbage"}); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("garbage offer: %v", err)
	}
	// An offer without receiving sections is refused.
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := room.JoinWithOffer(sfu.ParticipantInfo{ID: "X"}, w, o); apperr.CodeOf(err) != apperr.Invalid || !strings.Contains(err.Error(), "sections") {
		t.Fatalf("offer without media: %v", err)
	}
}
