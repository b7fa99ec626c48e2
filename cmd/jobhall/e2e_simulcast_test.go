package main

import (
	"context"
	"testing"
	"time"
)

// layerStat is one simulcast encoding in the publisher's outbound-rtp stats.
type layerStat struct {
	Bytes  float64 `json:"bytes"`
	Width  int     `json:"width"`
	Active bool    `json:"active"` // the page's setParameters choice (dynacast)
}

const outboundLayersJS = `(async () => {
  const r = {};
  if (!window.jh || !jh.pub) return r;
  const s = jh.pub.getSenders().find((x) => x.track && x.track.kind === 'video');
  const enc = s ? s.getParameters().encodings || [] : [];
  (await jh.pub.getStats()).forEach((st) => {
    if (st.type !== 'outbound-rtp' || st.kind !== 'video' || !st.rid) return;
    const e = enc.find((x) => x.rid === st.rid);
    r[st.rid] = {bytes: st.bytesSent || 0, width: st.frameWidth || 0, active: !e || e.active !== false};
  });
  return r;
})()`

// audioCodecJS is the codec the page sends its microphone with and the
// one it receives the other party's audio in.
const audioCodecJS = `(async () => {
  const codec = async (pc, type) => {
    if (!pc) return '';
    const st = await pc.getStats();
    let id = '';
    st.forEach((s) => { if (s.type === type && s.kind === 'audio') id = s.codecId; });
    const c = id && st.get(id);
    return c ? c.mimeType : '';
  };
  return 'sends ' + await codec(jh.pub, 'outbound-rtp') + ', receives ' + await codec(jh.sub, 'inbound-rtp');
})()`

// inboundWidthJS is the width of the video the page decodes now.
const inboundWidthJS = `(async () => {
  let w = 0;
  if (window.jh && jh.sub) (await jh.sub.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') w = Math.max(w, s.frameWidth || 0); });
  return w;
})()`

// askSmallJS makes the page ask for its remote video at 160x90 at most.
const askSmallJS = `(() => {
  const v = document.querySelector('video[data-stream]');
  const tr = v && v.srcObject && v.srcObject.getVideoTracks()[0];
  if (!tr) return false;
  jh.send({ type: 'subscribe', id: v.dataset.stream, track: tr.id, max_width: 160, max_height: 90 });
  return true;
})()`

// checkSimulcastAndDynacast: the host's browser publishes three simulcast
// layers; a viewer asking for a small size gets a lower one; then the
// middle layer, which nobody watches (the viewer takes the low one, the
// recorder the top), is switched off in the host's page (dynacast) and
// stops sending, while the others go on.
func checkSimulcastAndDynacast(t *testing.T, node *testNode, host, viewer context.Context) {
	t.Helper()
	var layers map[string]layerStat
	deadline := time.Now().Add(45 * time.Second)
	for {
		layers = evalJS[map[string]layerStat](t, host, outboundLayersJS)
		if len(layers) == 3 && layers["q"].Bytes > 0 && layers["h"].Bytes > 0 && layers["f"].Bytes > 0 && layers["f"].Width > 0 && layers["q"].Width > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host does not send three simulcast layers: %+v", layers)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("host layers: %+v", layers)
	// Chromium offers RED after Opus; the SFU's answer puts RED first.
	// (Whether Chromium then sends RED is its own choice: logged only.)
	if m := evalJS[string](t, host, `jh.pub.remoteDescription.sdp.match(/m=audio \d+ \S+ (\d+)/)[1]`); m != "63" {
		t.Errorf("the publish answer's first audio payload type is %s, want 63 (RED)", m)
	}
	t.Logf("host audio per getStats: %s; viewer: %s", evalJS[string](t, host, audioCodecJS), evalJS[string](t, viewer, audioCodecJS))

	deadline = time.Now().Add(30 * time.Second)
	var w, low int
	for {
		if !evalJS[bool](t, viewer, askSmallJS) {
			t.Fatal("the viewer shows no remote video")
		}
		// The low layer, twice in a row: a viewer may decode it before the
		// size hint lands (a young bandwidth estimate) and climb after.
		w = evalJS[int](t, viewer, inboundWidthJS)
		if w > 0 && w <= layers["q"].Width {
			if low++; low == 2 {
				break
			}
		} else {
			low = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("the viewer asked for 160x90 but decodes %d px wide (low layer %d, top %d); its last error: %v",
				w, layers["q"].Width, layers["f"].Width, evalJS[any](t, viewer, `jh.lastError || null`))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("viewer asking for 160x90 decodes %d px wide (top layer %d px)", w, layers["f"].Width)

	// Dynacast: h is switched off in the page and its bytes stop growing
	// while the watched low layer goes on. (Whether f goes on is Chromium's
	// call: under CPU load it stops its top layer by itself.)
	deadline = time.Now().Add(30 * time.Second)
	for {
		a := evalJS[map[string]layerStat](t, host, outboundLayersJS)
		var b map[string]layerStat
		if !a["h"].Active && a["q"].Active && a["f"].Active {
			time.Sleep(1500 * time.Millisecond)
			b = evalJS[map[string]layerStat](t, host, outboundLayersJS)
			if b["h"].Bytes == a["h"].Bytes && b["q"].Bytes > a["q"].Bytes {
				t.Logf("dynacast: h paused at %.0f bytes; q goes on (%.0f -> %.0f), f %.0f -> %.0f", b["h"].Bytes,
					a["q"].Bytes, b["q"].Bytes, a["f"].Bytes, b["f"].Bytes)
				return
			}
		}
		if time.Now().After(deadline) {
			// The recorder follows the highest layer that sends steadily: when
			// Chromium keeps stopping f under CPU load, h is the recording's
			// layer and rightly stays on. Then f's bytes lag h's.
			time.Sleep(1500 * time.Millisecond)
			b = evalJS[map[string]layerStat](t, host, outboundLayersJS)
			if df, dh := b["f"].Bytes-a["f"].Bytes, b["h"].Bytes-a["h"].Bytes; df < dh {
				t.Logf("Chromium throttled its top layer (f +%.0f bytes, h +%.0f in 1.5 s): the recorder takes h, so h stays on (dynacast itself: TestVnetDynacast)", df, dh)
				return
			}
			// What the SFU and the page made of it (masks by rank: 1 q, 2 h, 4 f).
			for _, ts := range node.sfu.Stats().Published {
				if ts.Kind == "video" {
					t.Logf("SFU: %s/%s layers %d wanted %03b paused %03b sink %d", ts.ParticipantID, ts.TrackID, ts.Layers, ts.Wanted, ts.Paused, ts.SinkLayer)
				}
			}
			t.Logf("host page's layer changes: %v", evalJS[[]string](t, host, `jh.layerLog || []`))
			t.Fatalf("the unwatched middle layer was not paused: %+v, 1.5 s later %+v", a, b)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
