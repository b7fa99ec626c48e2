package main

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"
)

// TestWHEPPlayback: a trainer publishes into a course room; a Pion WHEP
// client and the watch page in headless Chromium both play it; DELETE ends
// the Pion session; bad requests get clear errors.
func TestWHEPPlayback(t *testing.T) {
	node := startNode(t, map[string]string{"JOBHALL_DEMO": "off"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const room = "course-whep"
	trainer := dialPeer(t, ctx, node.url)
	trainer.join(room, node.grant(t, room, "trainer-1", "trainer"))
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	trainer.publish(pubCtx)

	// The Pion WHEP player.
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
	var got atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			got.Add(1)
		}
	})
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	viewerTok := node.grant(t, room, "viewer-1", "viewer")
	status := func(r *http.Response) int { r.Body.Close(); return r.StatusCode }
	if s := status(whipRequest(t, http.MethodPost, node.url+"/whep", "", "application/sdp", pc.LocalDescription().SDP)); s != 401 {
		t.Fatalf("WHEP without a token: %d", s)
	}
	if s := status(whipRequest(t, http.MethodPost, node.url+"/whep", viewerTok, "application/sdp", "v=0 nonsense")); s != 400 {
		t.Fatalf("WHEP with a broken offer: %d", s)
	}
	resp := whipRequest(t, http.MethodPost, node.url+"/whep", viewerTok, "application/sdp", pc.LocalDescription().SDP)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("WHEP POST: %d %s", resp.StatusCode, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}
	waitGrowth(t, "WHEP media to the Pion player", got.Load)

	// The watch page in Chromium.
	b := newBrowser(t, ctx)
	if err := chromedp.Do(b, chromedp.Navigate(node.url+"/watch?token="+node.grant(t, room, "viewer-2", "viewer"))); err != nil {
		t.Fatal(err)
	}
	const framesJS = `(async () => { let f = 0; if (!window.whep || !whep.pc) return 0;
	  (await whep.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') f += s.framesDecoded || 0; }); return f; })()`
	deadline := time.Now().Add(30 * time.Second)
	for {
		f, err := chromedp.Run(b, chromedp.Evaluate[int](framesJS, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if f > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watch page decoded no video")
		}
		time.Sleep(250 * time.Millisecond)
	}

	if s := status(whipRequest(t, http.MethodDelete, node.url+loc, viewerTok, "", "")); s != http.StatusOK {
		t.Fatalf("WHEP DELETE: %d", s)
	}
	if s := status(whipRequest(t, http.MethodDelete, node.url+loc, viewerTok, "", "")); s != http.StatusNotFound {
		t.Fatalf("second WHEP DELETE: %d", s)
	}
}
