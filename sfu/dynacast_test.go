package sfu_test

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"jobhall/sfu"
)

// layerRecord keeps a client's dynacast events: the newest RID list per
// track and the history.
type layerRecord struct {
	mu      sync.Mutex
	active  map[string][]string
	events  []string        // "track:rid,rid"
	dropped map[string]bool // RIDs the publisher stops on its own (as Chrome under load)
	deaf    bool            // ignores dynacast (a client that does not implement it)
}

func (r *layerRecord) drop(rid string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped == nil {
		r.dropped = map[string]bool{}
	}
	r.dropped[rid] = on
}

// PublishedLayers implements sfu.LayerEvents for the test client.
func (c *client) PublishedLayers(track string, active []string) {
	r := &c.layers
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active == nil {
		r.active = map[string][]string{}
	}
	r.active[track] = slices.Clone(active)
	r.events = append(r.events, track+":"+strings.Join(active, ","))
}

// sending reports whether the publisher should send rid of track (yes
// until told otherwise).
func (r *layerRecord) sending(track, rid string) bool {
	if rid == "" {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped[rid] {
		return false
	}
	a, ok := r.active[track]
	return r.deaf || !ok || slices.Contains(a, rid)
}

func (r *layerRecord) is(track string, want ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.active[track]
	return ok && slices.Equal(a, want)
}

func (r *layerRecord) history() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// countSub is a local subscriber (like the recorder) that counts packets.
type countSub struct{ video atomic.Int64 }

type countSink struct {
	n    *atomic.Int64
	kind string
}

func (c *countSub) AddTrack(info sfu.TrackInfo, _ func()) sfu.LocalTrackSink {
	return &countSink{n: &c.video, kind: info.Kind}
}
func (s *countSink) WriteRTP(*rtp.Packet) error {
	if s.kind == "video" {
		s.n.Add(1)
	}
	return nil
}
func (s *countSink) Close() {}

// Dynacast: layers nobody watches are paused at the publisher (after the
// idle hysteresis), a layer a viewer (or a local sink) wants again is
// resumed at once, and the viewer then gets it, switching at a keyframe.
func TestVnetDynacast(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}, "B": {}, "C": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-dyn")
	a := e.join(room, "A", true, false)
	defer func() {
		if t.Failed() {
			t.Logf("A's layer events: %v; stats %+v", a.layers.history(), e.sfu.Stats())
		}
	}()
	b := e.join(room, "B", false, true)
	sb := watch(b)
	a.publishMedia(simulcast3)
	const cam = "cam-A"
	e.waitFor("B to receive video", func() bool { return sb("A", webrtc.RTPCodecTypeVideo) != nil })

	// B, unconstrained, watches the top layer: h is paused (the lowest
	// layer stays on while anyone subscribes).
	e.waitFor("h paused", func() bool { return a.layers.is(cam, "q", "f") })
	v := sb("A", webrtc.RTPCodecTypeVideo)
	v.startWindow()
	before := b.track("A", webrtc.RTPCodecTypeVideo).packets.Load()
	e.waitFor("B's video to go on", func() bool { return b.track("A", webrtc.RTPCodecTypeVideo).packets.Load() > before+100 })
	if by, _, _, _, _, _, _ := v.snapshot(); layerShare(by, "f") < 0.99 {
		t.Fatalf("B's layers while q and h are paused: %v", by)
	}

	// A small tile wants q: B switches to it at a keyframe, and then f,
	// watched by nobody, is paused.
	if err := b.part.SetVideoPreference("A", cam, 160, 120); err != nil {
		t.Fatal(err)
	}
	e.waitFor("f paused after B moved to q", func() bool { return a.layers.is(cam, "q") })
	v.startWindow()
	before = b.track("A", webrtc.RTPCodecTypeVideo).packets.Load()
	e.waitFor("B's video on q", func() bool { return b.track("A", webrtc.RTPCodecTypeVideo).packets.Load() > before+30 })
	by, _, _, _, bad, back, _ := v.snapshot()
	if layerShare(by, "q") < 0.99 || bad > 0 || back > 0 {
		t.Fatalf("B after the resume: layers %v, %d switches without keyframe, %d timestamps back", by, bad, back)
	}

	// Nobody watches: every layer is paused.
	b.leave()
	e.waitFor("all layers paused", func() bool { return a.layers.is(cam) })
	if n := e.sfu.Stats().PausedLayers; n != 3 {
		t.Errorf("Stats.PausedLayers = %d with every layer paused, want 3", n)
	}

	// A local sink (the recorder) wants the top layer: it resumes at once.
	ls := &countSub{}
	remove := room.AddLocalSubscriber(ls)
	e.waitFor("f resumed for the local sink", func() bool { return a.layers.is(cam, "f") })
	e.waitFor("the sink to get video", func() bool { return ls.video.Load() > 50 })
	remove()
	e.waitFor("all layers paused again", func() bool { return a.layers.is(cam) })

	// A new viewer resumes layers and gets video.
	c := e.join(room, "C", false, true)
	watch(c)
	e.waitFor("C to receive video", func() bool {
		rt := c.track("A", webrtc.RTPCodecTypeVideo)
		return rt != nil && rt.packets.Load() > 50
	})
	if !a.layers.sending(cam, "f") {
		t.Fatalf("C is receiving but f is paused: %v", a.layers.history())
	}
	if h := b.layers.history(); len(h) > 0 {
		t.Fatalf("a subscriber got layer events: %v", h)
	}
	t.Logf("A's layer events: %v", a.layers.history())
}

// layerSink counts a local sink's video packets by the publisher's layer
// (the payload mark says which).
type layerSink struct {
	mu sync.Mutex
	by map[string]int
}

func (l *layerSink) AddTrack(info sfu.TrackInfo, _ func()) sfu.LocalTrackSink {
	if info.Kind != "video" {
		return nil
	}
	return l
}

func (l *layerSink) WriteRTP(p *rtp.Packet) error {
	if m, ok := parseMark(p.Payload, vp8MarkOffset(p.Payload)); ok {
		l.mu.Lock()
		l.by[ridOf(m.who)]++
		l.mu.Unlock()
	}
	return nil
}

func (l *layerSink) Close() {}

func (l *layerSink) count(rid string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.by[rid]
}

// A local sink (the recorder) follows the top layer; when the publisher
// stops that layer on its own it falls back to the next at once, and goes
// back up once the top layer has sent steadily again.
func TestVnetSinkFollowsSendingLayer(t *testing.T) {
	defer goleakCheck(t)
	e := newVnetEnv(t, map[string]link{"A": {}}, sfu.Config{})
	defer e.close()
	room := e.sfu.Room("r-sink-layer")
	ls := &layerSink{by: map[string]int{}}
	defer room.AddLocalSubscriber(ls)()
	a := e.join(room, "A", true, false)
	// The publisher keeps every layer it is not told to drop here: with
	// only a sink watching, dynacast would pause h after 3 s, and a slow
	// run would then see no h to fall back to.
	a.layers.deaf = true
	a.publishMedia(simulcast3)
	e.waitFor("the sink on f", func() bool { return ls.count("f") > 40 })

	// (The sink may have taken a first packet of q before f arrived.)
	q0 := ls.count("q")
	a.layers.drop("f", true)
	h := ls.count("h")
	e.waitFor("the sink on h once f stopped", func() bool { return ls.count("h") > h+40 })
	if q := ls.count("q") - q0; q > 0 {
		t.Fatalf("the sink took q (%d packets) while h was sending", q)
	}

	a.layers.drop("f", false)
	f := ls.count("f")
	e.waitFor("the sink back on f", func() bool { return ls.count("f") > f+40 })
	t.Logf("sink packets by layer: q %d, h %d, f %d; layer events %v", ls.count("q"), ls.count("h"), ls.count("f"), a.layers.history())
}
