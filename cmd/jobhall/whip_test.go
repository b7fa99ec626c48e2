package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

func whipRequest(t *testing.T, method, url, token, ctype, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true // no idle keep-alive connections left for the leak check
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestWHIPPublish: a Pion client acting as a WHIP encoder (OBS) publishes a
// course into a room; a viewer on the WebSocket receives it; trickle PATCH
// and DELETE work; bad requests get clear errors.
func TestWHIPPublish(t *testing.T) {
	node := startNode(t, map[string]string{"JOBHALL_DEMO": "off"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const room = "course-whip"
	tok := func(id, role string) string { return node.grant(t, room, id, role) }
	viewer := dialPeer(t, ctx, node.url)
	viewer.join(room, tok("viewer-1", "viewer"))

	// The encoder.
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	track, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "obs")
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered

	trainer := tok("trainer-1", "trainer")
	for _, bad := range []struct {
		token, ctype, body string
		status             int
	}{
		{"", "application/sdp", pc.LocalDescription().SDP, 401},
		{tok("viewer-2", "viewer"), "application/sdp", pc.LocalDescription().SDP, 403},
		{trainer, "text/plain", pc.LocalDescription().SDP, 415},
		{trainer, "application/sdp", "hello", 400},
	} {
		resp := whipRequest(t, http.MethodPost, node.url+"/whip", bad.token, bad.ctype, bad.body)
		resp.Body.Close()
		if resp.StatusCode != bad.status {
			t.Fatalf("bad WHIP POST got %d, want %d", resp.StatusCode, bad.status)
		}
	}

	resp := whipRequest(t, http.MethodPost, node.url+"/whip", trainer, "application/sdp", pc.LocalDescription().SDP)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(loc, "/whip/resource/") {
		t.Fatalf("WHIP POST: %d %v %s", resp.StatusCode, resp.Header, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}
	if m := viewer.expect("participant_joined"); m.Participant.ID != "trainer-1/whip" || !*m.Participant.Connected {
		t.Fatalf("%+v", m)
	}
	go func() {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = track.WriteSample(media.Sample{Data: vp8Frame(i%30 == 0, 800), Duration: 33 * time.Millisecond})
			}
		}
	}()
	waitGrowth(t, "WHIP media to the viewer", viewer.received.Load)

	// Trickle a (redundant) candidate; someone else's token may not touch the resource.
	frag := "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
	status := func(r *http.Response) int { r.Body.Close(); return r.StatusCode }
	if s := status(whipRequest(t, http.MethodPatch, node.url+loc, trainer, "application/trickle-ice-sdpfrag", frag)); s != http.StatusNoContent {
		t.Fatalf("PATCH %d", s)
	}
	if s := status(whipRequest(t, http.MethodDelete, node.url+loc, tok("trainer-2", "trainer"), "", "")); s != http.StatusForbidden {
		t.Fatalf("foreign DELETE %d", s)
	}
	if s := status(whipRequest(t, http.MethodDelete, node.url+loc, trainer, "", "")); s != http.StatusOK {
		t.Fatalf("DELETE %d", s)
	}
	if m := viewer.expect("participant_left"); m.ID != "trainer-1/whip" {
		t.Fatalf("%+v", m)
	}
	if s := status(whipRequest(t, http.MethodDelete, node.url+loc, trainer, "", "")); s != http.StatusNotFound {
		t.Fatalf("second DELETE %d", s)
	}
}
