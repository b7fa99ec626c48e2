package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// WebKit, Safari's engine, through Debian's WebKitGTK: WebKitWebDriver
// (package webkit2gtk-driver) drives its MiniBrowser under a virtual X
// display (xvfb-run). Debian builds WebKitGTK without WebRTC (no
// RTCPeerConnection; see docs/FRONTEND.md), so the test covers what that
// build can do: the seeker's pages, sign-in, booking, the pre-join check
// with WebKit's mock camera, and the clear message that the call cannot
// start in this browser.

// wkSession is one WebDriver (classic, HTTP) session.
type wkSession struct {
	t    *testing.T
	ctx  context.Context
	base string // http://127.0.0.1:port/session/id
}

func webkitDriver(t *testing.T, ctx context.Context) *wkSession {
	t.Helper()
	driver, err := exec.LookPath("WebKitWebDriver")
	if err != nil {
		t.Fatal("WebKitWebDriver not found: run scripts/test.sh (it installs webkit2gtk-driver and xvfb)")
	}
	xvfb, err := exec.LookPath("xvfb-run")
	if err != nil {
		t.Fatal("xvfb-run not found: run scripts/test.sh (it installs xvfb)")
	}
	browsers, _ := filepath.Glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser")
	if len(browsers) == 0 {
		t.Fatal("WebKitGTK's MiniBrowser not found (package libwebkit2gtk-4.1-0)")
	}
	port := freeTCPPort(t)
	var logs bytes.Buffer
	cmd := exec.Command(xvfb, "-a", driver, fmt.Sprintf("--port=%d", port), "--host=127.0.0.1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Xvfb and the browser go with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	w := &wkSession{t: t, ctx: ctx, base: root}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := w.call("GET", "/status", nil, &st); err == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WebKitWebDriver did not start: %s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var s struct {
		SessionID    string         `json:"sessionId"`
		Capabilities map[string]any `json:"capabilities"`
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"webkitgtk:browserOptions": map[string]any{"binary": browsers[0], "args": []string{
			"--automation", "--enable-media-stream=true", "--enable-mock-capture-devices=true", "--enable-webrtc=true",
			"--media-playback-requires-user-gesture=false",
		}},
	}}}
	if err := w.call("POST", "/session", caps, &s); err != nil {
		t.Fatalf("WebKit session: %v (%s)", err, logs.String())
	}
	t.Logf("WebKit: %s %v", s.Capabilities["browserName"], s.Capabilities["browserVersion"])
	w.base = root + "/session/" + s.SessionID
	t.Cleanup(func() { _ = w.call("DELETE", "", nil, nil) })
	return w
}

// call sends one WebDriver command and decodes its value.
func (w *wkSession) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(w.ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, env.Value)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (w *wkSession) navigate(url string) {
	w.t.Helper()
	if err := w.call("POST", "/url", map[string]string{"url": url}, nil); err != nil {
		w.t.Fatalf("webkit: navigate %s: %v", url, err)
	}
}

// eval runs an expression (awaiting a promise) and decodes its JSON form.
func (w *wkSession) eval(expr string, out any) error {
	script := `const done = arguments[arguments.length - 1];
Promise.resolve().then(() => (` + expr + `)).then((v) => done({ ok: JSON.stringify(v === undefined ? null : v) }), (e) => done({ err: String(e) }));`
	var r struct {
		OK  *string `json:"ok"`
		Err string  `json:"err"`
	}
	if err := w.call("POST", "/execute/async", map[string]any{"script": script, "args": []any{}}, &r); err != nil {
		return err
	}
	if r.Err != "" || r.OK == nil {
		return fmt.Errorf("script: %s", r.Err)
	}
	if out != nil {
		return json.Unmarshal([]byte(*r.OK), out)
	}
	return nil
}

func (w *wkSession) wait(expr string, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		var ok bool
		if err = w.eval("!!("+expr+")", &ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) || w.ctx.Err() != nil {
			break
		}
		time.Sleep(150 * time.Millisecond)
	}
	var state string
	_ = w.eval(`location.href + ' | ' + (document.getElementById('msg') ? document.getElementById('msg').innerText : '')`, &state)
	w.t.Fatalf("webkit: waiting for %s: %v (page: %s)", expr, err, state)
}

func (w *wkSession) do(expr string) {
	w.t.Helper()
	if err := w.eval(expr, nil); err != nil {
		w.t.Fatalf("webkit: %s: %v", expr, err)
	}
}

func (w *wkSession) click(sel string) {
	w.t.Helper()
	w.wait(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.offsetParent !== null && !e.disabled; })()`, sel), 20*time.Second)
	w.do(fmt.Sprintf(`(document.querySelector(%q).click(), true)`, sel))
}

func (w *wkSession) str(expr string) string {
	w.t.Helper()
	var s string
	if err := w.eval(expr, &s); err != nil {
		w.t.Fatalf("webkit: %s: %v", expr, err)
	}
	return s
}

// TestWebKitSeeker: the seeker's page in WebKit, first visit (the inline
// form) and a returning one (separate modules), bad input, sign-in by
// phone code, a booking, and the pre-join check: WebKit's mock camera
// passes, and without WebRTC the page says the call cannot start here
// instead of failing after "join".
func TestWebKitSeeker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := startNode(t, nil)
	wk := webkitDriver(t, ctx)

	wk.navigate(node.url + "/seeker?lang=en")
	wk.wait(`window.jhPage && jhPage.view === 'signin'`, 20*time.Second)
	if n := wk.str(`String(document.querySelectorAll('script[type=module][src]').length)`); n != "0" {
		t.Fatalf("first visit loaded %s module files, want the inline form", n)
	}
	wk.click("#sendcode")
	wk.wait(`document.getElementById('phone-err') && document.getElementById('phone-err').textContent.includes('11-digit')`, 10*time.Second)
	// Returning: the small HTML and the separate module files.
	wk.navigate(node.url + "/seeker?lang=zh")
	wk.wait(`window.jhPage && jhPage.view === 'signin'`, 20*time.Second)
	if n := wk.str(`String(document.querySelectorAll('script[type=module][src]').length)`); n != "1" {
		t.Fatalf("returning visit: %s module scripts, want 1", n)
	}

	const phone = "13700137789"
	wk.do(fmt.Sprintf(`(document.getElementById('phone').value = %q, true)`, phone))
	wk.click("#sendcode")
	wk.wait(`!!document.querySelector('#msg .msg.ok')`, 10*time.Second)
	wk.do(fmt.Sprintf(`(document.getElementById('code').value = %q, true)`, otpFromLog(t, node, phone)))
	wk.click("#verify")
	wk.wait(`window.jhPage && jhPage.view === 'app'`, 20*time.Second)
	// The page after sign-in carried its session (web/boot.go): no check over the network.
	// (Resource timing works here: the module file is listed.)
	if s := wk.str(`(() => { const p = performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname);
		return String(p.includes('/api/v1/session')) + ' ' + String(p.some((x) => x.endsWith('/seeker.js'))); })()`); s != "false true" {
		t.Fatalf("webkit: the signed-in page asked for the session it carries (%s)", s)
	}
	wk.click("button[data-booth]")
	wk.click("button[data-slot]")
	wk.wait(`!!document.querySelector('a[data-join]')`, 20*time.Second)
	join := wk.str(`document.querySelector('a[data-join]').getAttribute('href')`)

	wk.navigate(node.url + join)
	wk.wait(`window.jhCheck && jhCheck.camera === 'ok' && jhCheck.network !== ''`, 20*time.Second)
	var check struct {
		WebRTC   bool   `json:"webrtc"`
		Disabled bool   `json:"disabled"`
		Msg      string `json:"msg"`
	}
	if err := wk.eval(`({ webrtc: jhCheck.webrtc, disabled: document.getElementById('pjgo').disabled, msg: document.getElementById('msg').textContent })`, &check); err != nil {
		t.Fatal(err)
	}
	t.Logf("WebKit pre-join: camera ok, WebRTC %v", check.WebRTC)
	if !check.WebRTC && (!check.Disabled || !strings.Contains(check.Msg, "不支持视频通话")) {
		t.Fatalf("without WebRTC the page should say so and not offer to join: %+v", check)
	}
	if check.WebRTC {
		// A WebKit with WebRTC: this build can go on to the call.
		wk.click("#pjgo")
		wk.wait(`window.jh && jh.state === 'lobby'`, 20*time.Second)
	}
}

// h264OnlyJS makes Chromium offer video as Safari prefers it: H.264 only
// (with its retransmission codec), on every sending video transceiver.
const h264OnlyJS = `(() => {
  const offer = RTCPeerConnection.prototype.createOffer;
  RTCPeerConnection.prototype.createOffer = function (...args) {
    const h264 = RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => /^video\/(h264|rtx)$/i.test(c.mimeType));
    for (const tr of this.getTransceivers()) {
      if (tr.receiver.track.kind === 'video' && tr.direction !== 'recvonly' && tr.setCodecPreferences) tr.setCodecPreferences(h264);
    }
    return offer.apply(this, args);
  };
})();`

// codecJS names the video codec a page sends ('outbound-rtp') or decodes
// ('inbound-rtp') and how many frames.
func codecJS(pc, kind string) string {
	return fmt.Sprintf(`(async () => { const st = await jh.%s.getStats(); let r = { codec: '', frames: 0 };
	st.forEach((s) => { if (s.type === %q && s.kind === 'video') { r.frames += s.framesEncoded || s.framesDecoded || 0; if (s.codecId && st.get(s.codecId)) r.codec = st.get(s.codecId).mimeType; } });
	return r; })()`, pc, kind)
}

// TestSafariCodecH264: what a Safari publisher sends by preference, H.264,
// goes through the pages and the SFU: a trainer's Chromium restricted to
// H.264 goes live and a viewer decodes H.264 frames. (A real Safari cannot
// run here: see docs/FRONTEND.md.)
func TestSafariCodecH264(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := startNode(t, map[string]string{"JOBHALL_ADMIN_PASSWORD": "adminpassword1"})
	trainer := newBrowser(t, ctx)
	if _, err := chromedp.Call(trainer, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: h264OnlyJS}); err != nil {
		t.Fatal(err)
	}
	sessionID := goLive(t, node, trainer)
	viewer := newBrowser(t, ctx)
	navigate(t, viewer, viewerURL(t, node, sessionID, 0))
	waitMedia(t, viewer, "viewer")
	type codecStats struct {
		Codec  string `json:"codec"`
		Frames int    `json:"frames"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sent := evalJS[codecStats](t, trainer, codecJS("pub", "outbound-rtp"))
		got := evalJS[codecStats](t, viewer, codecJS("sub", "inbound-rtp"))
		if strings.EqualFold(sent.Codec, "video/H264") && strings.EqualFold(got.Codec, "video/H264") && got.Frames >= 10 {
			t.Logf("trainer sends %s (%d frames encoded), viewer decodes %s (%d frames)", sent.Codec, sent.Frames, got.Codec, got.Frames)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("H.264 path: trainer sends %+v, viewer decodes %+v", sent, got)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
