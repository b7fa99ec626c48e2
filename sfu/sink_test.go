package sfu_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"jobhall/sfu"
)

// reportSub hands out recSinks, which implement the optional
// SenderReportSink and RetransmitSink interfaces.
type reportSub struct {
	mu    sync.Mutex
	sinks map[string]*recSink
}

type recSink struct {
	mu         sync.Mutex
	seen       map[uint16]int
	order      []uint16
	lastTS     uint32
	writes     int
	reports    []srSeen
	rtx        func([]uint16)
	rtxLate    bool // SetRetransmitter came after a WriteRTP
	rtxCalls   int
	closed     bool
	writeAfter bool
}

type srSeen struct {
	ntp        time.Time
	ts, lastTS uint32
}

func (r *reportSub) AddTrack(info sfu.TrackInfo, _ func()) sfu.LocalTrackSink {
	s := &recSink{seen: map[uint16]int{}}
	r.mu.Lock()
	r.sinks[info.Kind] = s
	r.mu.Unlock()
	return s
}

func (r *reportSub) sink(kind string) *recSink {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sinks[kind]
}

func (s *recSink) WriteRTP(p *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.writeAfter = true
	}
	s.writes++
	s.seen[p.SequenceNumber]++
	if s.seen[p.SequenceNumber] == 1 {
		s.order = append(s.order, p.SequenceNumber)
	}
	s.lastTS = p.Timestamp
	return nil
}

func (s *recSink) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *recSink) SenderReport(ntp time.Time, ts uint32) {
	s.mu.Lock()
	s.reports = append(s.reports, srSeen{ntp, ts, s.lastTS})
	s.mu.Unlock()
}

func (s *recSink) SetRetransmitter(f func([]uint16)) {
	s.mu.Lock()
	s.rtxCalls++
	s.rtx = f
	s.rtxLate = s.writes > 0
	s.mu.Unlock()
}

func (s *recSink) count(seq uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[seq]
}

func TestLocalSinkReportsAndRetransmits(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()
	room := e.sfu.Room("r-sink-rtx")
	rec := &reportSub{sinks: map[string]*recSink{}}
	remove := room.AddLocalSubscriber(rec)
	defer remove()
	a := e.join(room, "A", true, false)
	a.publish()
	e.waitFor("video sink with 300 packets and a sender report", func() bool {
		v := rec.sink("video")
		if v == nil {
			return false
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		return len(v.order) >= 300 && len(v.reports) > 0
	})
	v := rec.sink("video")
	v.mu.Lock()
	if v.rtxCalls != 1 || v.rtxLate {
		t.Fatalf("SetRetransmitter called %d times, after a write: %v", v.rtxCalls, v.rtxLate)
	}
	// The report's timestamp is on the sink's timeline: within a second
	// (90,000 ticks) of the packet written just before it.
	for _, r := range v.reports {
		if d := int32(r.ts - r.lastTS); d < -90000 || d > 90000 || time.Since(r.ntp) > time.Minute || time.Since(r.ntp) < -time.Minute {
			t.Fatalf("sender report ts %d, last packet ts %d, ntp %v", r.ts, r.lastTS, r.ntp)
		}
	}
	recent, old := v.order[len(v.order)-10], v.order[0]
	ask := v.rtx
	v.mu.Unlock()

	// A recent packet comes from the SFU's cache.
	ask([]uint16{recent})
	e.waitFor("the cached packet again", func() bool { return v.count(recent) == 2 })
	// An old one is no longer cached: the publisher is asked (its NACK
	// responder still has it) and the repair arrives through WriteRTP.
	ask([]uint16{old})
	e.waitFor("a NACK at the publisher", func() bool {
		a.nackMu.Lock()
		defer a.nackMu.Unlock()
		return a.nacked[old]
	})
	e.waitFor("the repaired packet again", func() bool { return v.count(old) == 2 })
	a.leave()
	e.waitFor("sinks closed", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.closed
	})
	if v.writeAfter {
		t.Fatal("WriteRTP after Close")
	}
}

// Server-side mute stops one kind of a participant's media and resumes it
// without a sequence break, video from a keyframe.
func TestMuteSource(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()
	room := e.sfu.Room("r-mute")
	rec := &reportSub{sinks: map[string]*recSink{}}
	defer room.AddLocalSubscriber(rec)()
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	var bl viewLog
	bl.watch(b)
	a.publish()
	count := func(k webrtc.RTPCodecType) int { return bl.state(b, k).from["A"] }
	e.waitFor("B to receive A", func() bool {
		return count(webrtc.RTPCodecTypeVideo) >= minPackets && count(webrtc.RTPCodecTypeAudio) >= minPackets
	})
	if err := a.part.SetMuted(webrtc.RTPCodecTypeVideo, true); err != nil {
		t.Fatal(err)
	}
	muted := e.settle(func() int64 { return int64(count(webrtc.RTPCodecTypeVideo)) })
	audio := count(webrtc.RTPCodecTypeAudio)
	e.waitFor("audio to keep flowing while video is muted", func() bool { return count(webrtc.RTPCodecTypeAudio) > audio+minPackets })
	if int64(count(webrtc.RTPCodecTypeVideo)) != muted {
		t.Fatal("video still forwarded while muted")
	}
	recV := rec.sink("video")
	recV.mu.Lock()
	recMuted := len(recV.order)
	recV.mu.Unlock()
	if err := a.part.SetMuted(webrtc.RTPCodecTypeVideo, false); err != nil {
		t.Fatal(err)
	}
	e.waitFor("video after unmute", func() bool { return int64(count(webrtc.RTPCodecTypeVideo)) > muted+minPackets })
	if s := bl.state(b, webrtc.RTPCodecTypeVideo); s.gaps > 0 {
		t.Fatalf("%d sequence gaps across mute", s.gaps)
	}
	e.waitFor("the recording's video after unmute", func() bool {
		recV.mu.Lock()
		defer recV.mu.Unlock()
		return len(recV.order) > recMuted+minPackets
	})
	recV.mu.Lock()
	for i := 1; i < len(recV.order); i++ {
		if recV.order[i] != recV.order[i-1]+1 {
			recV.mu.Unlock()
			t.Fatalf("recorder sequence gap at %d: %d after %d", i, recV.order[i], recV.order[i-1])
		}
	}
	recV.mu.Unlock()
	if err := a.part.SetMuted(webrtc.RTPCodecTypeUnknown, true); err == nil {
		t.Fatal("muting an unknown kind succeeded")
	}
	if err := b.part.SetMuted(webrtc.RTPCodecTypeAudio, true); err == nil {
		t.Fatal("muting a viewer succeeded")
	}
}
