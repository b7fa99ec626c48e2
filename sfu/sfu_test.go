package sfu_test

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"jobhall/internal/apperr"
	"jobhall/sfu"
)

const minPackets = 25 // per track before a flow counts as established

// senderRTCPReaders counts the goroutines reading subscribers' RTCP from
// Pion (sfu.(*SFU).readSenderRTCP).
func senderRTCPReaders() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "sfu.(*SFU).readSenderRTCP(")
}

func TestPublishForward(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()

	room := e.sfu.Room("interview-1")
	a := e.join(room, "A", true, true)
	b := e.join(room, "B", false, true)

	// A bad offer is rejected and A stays usable.
	_, err := a.part.Publish(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "garbage"})
	if apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("garbage offer: got %v, want Invalid", err)
	}
	a.publish()

	e.waitFor("B to receive A's video and audio", func() bool { return b.receiving("A", 2, minPackets) })
	if v, au := b.track("A", webrtc.RTPCodecTypeVideo), b.track("A", webrtc.RTPCodecTypeAudio); v == nil || au == nil {
		t.Fatal("B lacks A's video or audio track")
	} else if v.trackID != "cam-A" || au.trackID != "mic-A" {
		t.Fatalf("B's tracks: %q %q, want cam-A mic-A", v.trackID, au.trackID)
	}
	if n := len(a.tracks("", false)); n != 0 {
		t.Fatalf("A received %d tracks, want none (never its own)", n)
	}
	if n := a.offers.Load(); n != 0 {
		t.Fatalf("A got %d subscriber offers with nothing to receive", n)
	}
	e.waitFor("connected states", func() bool {
		return a.state(sfu.Publisher) == webrtc.PeerConnectionStateConnected &&
			b.state(sfu.Subscriber) == webrtc.PeerConnectionStateConnected
	})

	// The SFU asks A for a keyframe when B's subscription starts.
	e.waitFor("initial PLI at A", func() bool { return a.plis.Load() > 0 })
	base := e.settle(a.plis.Load)
	bv := b.track("A", webrtc.RTPCodecTypeVideo)
	e.waitFor("B's PLI to reach A", func() bool {
		b.sendPLI(bv)
		return a.plis.Load() > base
	})

	// A NACK from B is answered (over the SFU's direct SRTCP path, below).
	e.waitFor("a retransmission for B's NACK", func() bool {
		b.sendNACK(bv, 5)
		return e.sfu.Stats().Retransmits > 0
	})

	st := e.sfu.Stats()
	// B's packets are encrypted by the SFU itself and decrypt at B (checked
	// above); A subscribes to nothing, so its subscribe PC never connects.
	if st.DirectSRTP != 1 {
		t.Fatalf("%d subscribers on the direct SRTP path, want 1", st.DirectSRTP)
	}
	// B's RTCP (the PLI above among it) took the direct SRTCP path too.
	if st.DirectRTCP == 0 {
		t.Fatal("no subscriber RTCP on the direct path")
	}
	// So no goroutine waits for B's RTCP in Pion (two per viewer otherwise).
	if n := senderRTCPReaders(); n != 0 {
		t.Fatalf("%d sender RTCP readers with the direct path, want 0", n)
	}
	// A's media reached its track readers over the direct SRTP path, past
	// Pion's receive chain.
	if st.DirectRTP == 0 {
		t.Fatal("no publisher SRTP on the direct path")
	}
	if st.Rooms != 1 || st.Participants != 2 || st.Tracks != 2 || st.PacketsForwarded == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestThreePeers(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()

	room := e.sfu.Room("fair-hall")
	a := e.join(room, "A", true, true)
	b := e.join(room, "B", true, true)
	c := e.join(room, "C", false, true)
	a.publish()
	b.publish()

	e.waitFor("C to receive four tracks", func() bool {
		return c.receiving("A", 2, minPackets) && c.receiving("B", 2, minPackets)
	})
	e.waitFor("A and B to receive each other", func() bool {
		return a.receiving("B", 2, minPackets) && b.receiving("A", 2, minPackets)
	})
	if n := len(a.tracks("A", false)); n != 0 {
		t.Fatalf("A received %d of its own tracks", n)
	}
	if n := len(b.tracks("B", false)); n != 0 {
		t.Fatalf("B received %d of its own tracks", n)
	}
	if n := len(c.tracks("", false)); n != 4 {
		t.Fatalf("C has %d tracks, want 4", n)
	}
	if _, err := c.part.Publish(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0"}); apperr.CodeOf(err) != apperr.Forbidden {
		t.Fatalf("publish without permission: got %v, want Forbidden", err)
	}
	if got := room.Participants(); !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Fatalf("participants %v", got)
	}
	if st := e.sfu.Stats(); st.Participants != 3 || st.Tracks != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLeave(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()

	room := e.sfu.Room("r-leave")
	a := e.join(room, "A", true, true)
	b := e.join(room, "B", true, true)
	a.publish()
	e.waitFor("B to receive A", func() bool { return b.receiving("A", 2, minPackets) })
	aTracks := b.tracks("A", true)
	offers := b.offers.Load()

	a.leave()
	a.part.Leave() // idempotent
	e.waitFor("B to renegotiate", func() bool { return b.offers.Load() > offers })
	e.waitFor("A's tracks to end at B", func() bool {
		for _, rt := range aTracks {
			if !rt.isEnded() {
				return false
			}
		}
		return true
	})
	if got := room.Participants(); !slices.Equal(got, []string{"B"}) {
		t.Fatalf("participants after A left: %v", got)
	}
	if st := e.sfu.Stats(); st.Tracks != 0 || st.Participants != 1 {
		t.Fatalf("stats after A left: %+v", st)
	}
	if _, err := a.part.Publish(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0"}); err == nil {
		t.Fatal("publish after leave succeeded")
	}

	b.leave()
	if e.sfu.LookupRoom("r-leave") != nil {
		t.Fatal("empty room still registered")
	}
	if st := e.sfu.Stats(); st.Rooms != 0 || st.Participants != 0 || st.Tracks != 0 {
		t.Fatalf("stats after all left: %+v", st)
	}
	if _, err := room.Join(sfu.ParticipantInfo{ID: "late"}, b); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("join of a removed room: got %v, want Unavailable", err)
	}
	if e.sfu.Room("r-leave") == room {
		t.Fatal("Room returned the removed room")
	}
	if _, err := e.sfu.Room("r-bad").Join(sfu.ParticipantInfo{ID: ""}, b); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("empty id: got %v, want Invalid", err)
	}
	if e.sfu.LookupRoom("r-bad") != nil {
		t.Fatal("failed join left an empty room behind")
	}
}

func TestUnpublishByRenegotiation(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()

	room := e.sfu.Room("r-unpublish")
	a := e.join(room, "A", true, true)
	b := e.join(room, "B", false, true)
	a.publish()
	e.waitFor("B to receive A", func() bool { return b.receiving("A", 2, minPackets) })
	video := b.track("A", webrtc.RTPCodecTypeVideo)
	audio := b.track("A", webrtc.RTPCodecTypeAudio)
	offers := b.offers.Load()

	a.unpublishVideo() // renegotiation on the publish PC
	e.waitFor("A's video to end at B", video.isEnded)
	e.waitFor("B to renegotiate", func() bool { return b.offers.Load() > offers })
	from := audio.packets.Load()
	e.waitFor("A's audio to keep flowing", func() bool { return audio.packets.Load() > from+minPackets })
	if audio.isEnded() || audio.bad.Load() > 0 {
		t.Fatal("A's audio broke")
	}
	if st := e.sfu.Stats(); st.Tracks != 1 {
		t.Fatalf("stats %+v, want 1 track", st)
	}
}

// localSub records what a LocalSubscriber sees. With block set, video
// sinks block in WriteRTP until release is closed.
type localSub struct {
	block   bool
	release chan struct{}

	mu    sync.Mutex
	sinks []*localSink
}

type localSink struct {
	info       sfu.TrackInfo
	keyframe   func()
	block      chan struct{}
	packets    atomic.Int64
	bad        atomic.Int64
	closed     atomic.Bool
	inWrite    atomic.Bool
	concurrent atomic.Bool
}

func (l *localSub) AddTrack(info sfu.TrackInfo, requestKeyframe func()) sfu.LocalTrackSink {
	if l.block && info.Kind == "audio" {
		return nil // ignored track
	}
	s := &localSink{info: info, keyframe: requestKeyframe}
	if l.block {
		s.block = l.release
	}
	l.mu.Lock()
	l.sinks = append(l.sinks, s)
	l.mu.Unlock()
	return s
}

func (l *localSub) sink(kind string) *localSink {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.sinks {
		if s.info.Kind == kind {
			return s
		}
	}
	return nil
}

func (l *localSub) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sinks)
}

func (s *localSink) WriteRTP(p *rtp.Packet) error {
	if s.inWrite.Swap(true) {
		s.concurrent.Store(true)
	}
	defer s.inWrite.Store(false)
	if s.closed.Load() {
		s.bad.Add(1) // write after Close
	}
	kind := webrtc.RTPCodecTypeAudio
	if s.info.Kind == "video" {
		kind = webrtc.RTPCodecTypeVideo
	}
	if checkPayload(kind, s.info.ParticipantID, p.Payload) {
		s.packets.Add(1)
	} else {
		s.bad.Add(1)
	}
	if s.block != nil {
		<-s.block
	}
	return nil
}

func (s *localSink) Close() { s.closed.Store(true) }

func TestLocalSubscriber(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()

	room := e.sfu.Room("r-local")
	rec := &localSub{}
	removeRec := room.AddLocalSubscriber(rec) // before any track: gets future tracks
	a := e.join(room, "A", true, true)
	b := e.join(room, "B", false, true)
	a.publish()

	e.waitFor("local sinks for both tracks", func() bool { return rec.count() == 2 })
	v, au := rec.sink("video"), rec.sink("audio")
	want := map[string]sfu.TrackInfo{
		"video": {ParticipantID: "A", TrackID: "cam-A", StreamID: "stream-A", Kind: "video", MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		"audio": {ParticipantID: "A", TrackID: "mic-A", StreamID: "stream-A", Kind: "audio", MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
	}
	for kind, s := range map[string]*localSink{"video": v, "audio": au} {
		if s == nil {
			t.Fatalf("no %s sink", kind)
		}
		if s.info != want[kind] {
			t.Fatalf("%s TrackInfo = %+v, want %+v", kind, s.info, want[kind])
		}
	}
	e.waitFor("packets at the local sinks", func() bool {
		return v.packets.Load() >= minPackets && au.packets.Load() >= minPackets
	})
	e.waitFor("B to receive A", func() bool { return b.receiving("A", 2, minPackets) })

	// requestKeyframe reaches the publisher as a PLI.
	base := e.settle(a.plis.Load)
	e.waitFor("requestKeyframe to reach A", func() bool {
		v.keyframe()
		return a.plis.Load() > base
	})

	// A local subscriber whose video sink stalls (added after publishing: gets
	// current tracks; returns nil for audio) must not stall anyone else.
	stall := &localSub{block: true, release: make(chan struct{})}
	removeStall := room.AddLocalSubscriber(stall)
	e.waitFor("stalled sink attached", func() bool { return stall.count() == 1 })
	e.waitFor("drops counted", func() bool { return e.sfu.Stats().PacketsDropped > 0 })
	bv := b.track("A", webrtc.RTPCodecTypeVideo)
	from, fromRec := bv.packets.Load(), v.packets.Load()
	e.waitFor("B and the recorder to keep receiving while a sink is stalled", func() bool {
		return bv.packets.Load() > from+100 && v.packets.Load() > fromRec+100
	})
	removeStall()
	close(stall.release)
	e.waitFor("stalled sink closed after removal", func() bool { return stall.sink("video").closed.Load() })

	// The publisher leaving closes the recorder's sinks; the room lives on
	// while the recorder is attached.
	a.leave()
	e.waitFor("recorder sinks closed", func() bool { return v.closed.Load() && au.closed.Load() })
	b.leave()
	if e.sfu.LookupRoom("r-local") == nil {
		t.Fatal("room removed while a local subscriber is attached")
	}
	removeRec()
	removeRec()
	if e.sfu.LookupRoom("r-local") != nil {
		t.Fatal("room kept after the last local subscriber left")
	}
	for _, s := range []*localSink{v, au, stall.sink("video")} {
		if s.bad.Load() > 0 || s.concurrent.Load() {
			t.Fatalf("%s sink: %d bad packets, concurrent writes %v", s.info.Kind, s.bad.Load(), s.concurrent.Load())
		}
	}
}

func TestRejoinReplaces(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()

	room := e.sfu.Room("r-rejoin")
	a1 := e.join(room, "A", true, true)
	b := e.join(room, "B", true, true)
	a1.publish()
	b.publish()
	e.waitFor("B to receive A1", func() bool { return b.receiving("A", 2, minPackets) })
	e.waitFor("A1 to receive B", func() bool { return a1.receiving("B", 2, minPackets) })
	old := b.tracks("A", true)

	a1.left.Store(true)                 // its late candidates may now be refused
	a2 := e.join(room, "A", true, true) // same ID: resume
	if _, err := a1.part.Publish(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0"}); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("old participant publish: got %v, want Conflict", err)
	}
	if got := room.Participants(); !slices.Equal(got, []string{"A", "B"}) {
		t.Fatalf("participants %v", got)
	}
	e.waitFor("A1's tracks to end at B", func() bool {
		for _, rt := range old {
			if !rt.isEnded() {
				return false
			}
		}
		return true
	})
	e.waitFor("A2 to receive B's existing tracks", func() bool { return a2.receiving("B", 2, minPackets) })
	a2.publish()
	e.waitFor("B to receive A2", func() bool { return b.receiving("A", 2, minPackets) })
	if st := e.sfu.Stats(); st.Participants != 2 || st.Tracks != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSignallingValidation(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()

	if e.sfu.UDPPort() <= 0 {
		t.Fatalf("UDPPort() = %d after asking for a free port", e.sfu.UDPPort())
	}
	room := e.sfu.Room("r-valid")
	a := e.join(room, "A", true, true)

	if err := a.part.SetSubscriberAnswer(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "v=0"}); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("answer without offer: got %v, want Conflict", err)
	}
	if _, err := a.part.Publish(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "v=0"}); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("answer as offer: got %v, want Invalid", err)
	}
	if err := a.part.AddICECandidate(sfu.Target(7), webrtc.ICECandidateInit{}); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("bad target: got %v, want Invalid", err)
	}
	if _, err := room.Join(sfu.ParticipantInfo{ID: ""}, a); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("empty id: got %v, want Invalid", err)
	}

	// Nine sending sections exceed the per-participant track bound.
	for i := 0; i < 9; i++ {
		if _, err := a.pub.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := a.pub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.part.Publish(offer); apperr.CodeOf(err) != apperr.TooLarge {
		t.Fatalf("nine tracks: got %v, want TooLarge", err)
	}
}

func TestCloseWhileActive(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()

	room := e.sfu.Room("r-close")
	rec := &localSub{}
	room.AddLocalSubscriber(rec)
	a := e.join(room, "A", true, true)
	b := e.join(room, "B", true, true)
	a.publish()
	b.publish()
	e.waitFor("media flowing both ways", func() bool {
		return a.receiving("B", 2, minPackets) && b.receiving("A", 2, minPackets) && rec.count() == 4
	})
	a.left.Store(true)
	b.left.Store(true)

	if err := e.sfu.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.sfu.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	rec.mu.Lock()
	sinks := rec.sinks
	rec.mu.Unlock()
	for _, s := range sinks {
		if !s.closed.Load() {
			t.Fatalf("%s sink not closed by SFU.Close", s.info.Kind)
		}
	}
	if st := e.sfu.Stats(); st.Rooms != 0 || st.Participants != 0 || st.Tracks != 0 {
		t.Fatalf("stats after Close: %+v", st)
	}
	if _, err := e.sfu.Room("r-close").Join(sfu.ParticipantInfo{ID: "C"}, a); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("join after Close: got %v, want Unavailable", err)
	}
}

func TestRestartICE(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()
	room := e.sfu.Room("r-restart")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	a.publish()
	e.waitFor("B to receive A", func() bool { return b.receiving("A", 2, minPackets) })
	ufrag := func() string {
		d := b.sub.RemoteDescription()
		for _, l := range strings.Split(d.SDP, "\n") {
			if strings.HasPrefix(l, "a=ice-ufrag:") {
				return strings.TrimSpace(l)
			}
		}
		return ""
	}
	before, offers := ufrag(), b.offers.Load()
	if err := b.part.RestartICE(); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the ICE-restart offer", func() bool { return b.offers.Load() > offers })
	if after := ufrag(); after == before || after == "" {
		t.Fatalf("ice-ufrag %q after restart, was %q", after, before)
	}
	v := b.track("A", webrtc.RTPCodecTypeVideo)
	from := v.packets.Load()
	e.waitFor("media after the restart", func() bool { return v.packets.Load() > from+minPackets })
	b.leave()
	if err := b.part.RestartICE(); err == nil {
		t.Fatal("RestartICE after leave succeeded")
	}
}
