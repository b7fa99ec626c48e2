package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"jobhall/internal/bidi"
)

// Firefox runs through WebDriver BiDi (internal/bidi): headless, a fresh
// profile, the fake camera and microphone, loopback ICE candidates allowed.

func firefoxPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("FIREFOX"), "/usr/bin/firefox-esr", "/usr/bin/firefox"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("Firefox not found: run scripts/test.sh (it installs firefox-esr) or set FIREFOX")
	return ""
}

var firefoxPrefs = map[string]any{
	"media.navigator.streams.fake":        true,
	"media.navigator.permission.disabled": true,
	// The SFU listens on 127.0.0.1: Firefox leaves loopback out unless told.
	"media.peerconnection.ice.loopback":                 true,
	"media.peerconnection.ice.obfuscate_host_addresses": false,
	"media.autoplay.default":                            0,
	"media.autoplay.blocking_policy":                    0,
	"remote.active-protocols":                           1, // BiDi only
}

// ffTab is a Firefox tab with the test's failure handling.
type ffTab struct {
	t   *testing.T
	ctx context.Context
	b   *bidi.Browser
	tab *bidi.Tab
}

func newFirefox(t *testing.T, ctx context.Context) *ffTab {
	t.Helper()
	b, err := bidi.Launch(ctx, bidi.Options{Exe: firefoxPath(t), ProfileDir: t.TempDir(), Prefs: firefoxPrefs})
	if err != nil {
		t.Fatalf("start firefox: %v", err)
	}
	t.Cleanup(b.Close)
	tab, err := b.FirstTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &ffTab{t: t, ctx: ctx, b: b, tab: tab}
}

func (f *ffTab) navigate(url string) {
	f.t.Helper()
	if err := f.tab.Navigate(f.ctx, url); err != nil {
		f.t.Fatalf("firefox: navigate %s: %v", url, err)
	}
}

func (f *ffTab) eval(expr string, out any) {
	f.t.Helper()
	if err := f.tab.Eval(f.ctx, expr, out); err != nil {
		f.t.Fatalf("firefox: %s: %v\nconsole:\n%s", expr, err, strings.Join(f.b.Console(), "\n"))
	}
}

// wait polls an expression until it is true; a page that reloads
// meanwhile is not an error.
func (f *ffTab) wait(expr string, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		var ok bool
		if err = f.tab.Eval(f.ctx, "!!("+expr+")", &ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) || f.ctx.Err() != nil {
			break
		}
		time.Sleep(150 * time.Millisecond)
	}
	var state string
	_ = f.tab.Eval(f.ctx, `location.href + ' | ' + (document.getElementById('msg') ? document.getElementById('msg').innerText : '')`, &state)
	f.t.Fatalf("firefox: waiting for %s: %v (page: %s)\nconsole:\n%s", expr, err, state, strings.Join(f.b.Console(), "\n"))
}

// click waits until the element is shown and clicks it.
func (f *ffTab) click(sel string) {
	f.t.Helper()
	f.wait(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.offsetParent !== null && !e.disabled; })()`, sel), 20*time.Second)
	f.eval(fmt.Sprintf(`(document.querySelector(%q).click(), true)`, sel), nil)
}

func (f *ffTab) typeInto(sel, text string) {
	f.t.Helper()
	f.wait(fmt.Sprintf(`document.querySelector(%q)`, sel), 20*time.Second)
	f.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`, sel, text), nil)
}

func (f *ffTab) attr(sel, name string) string {
	f.t.Helper()
	f.wait(fmt.Sprintf(`document.querySelector(%q)`, sel), 20*time.Second)
	var v string
	f.eval(fmt.Sprintf(`document.querySelector(%q).getAttribute(%q)`, sel, name), &v)
	return v
}

// waitMedia waits until Firefox decodes the other side's video (ten
// frames) and receives audio (the same stats as the Chromium tests read).
func (f *ffTab) waitMedia(who string) mediaStats {
	f.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		var s mediaStats
		f.eval(mediaStatsJS, &s)
		if s.Video >= 10 && s.Audio > 0 { // a flowing picture, not one keyframe
			var codec string
			f.eval(`(async () => { const st = await jh.sub.getStats(); let c = ''; st.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video' && s.codecId && st.get(s.codecId)) c = st.get(s.codecId).mimeType; }); return c; })()`, &codec)
			f.t.Logf("firefox %s: %d frames decoded (%s)", who, s.Video, codec)
			return s
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("firefox %s never received media: %+v\nconsole:\n%s", who, s, strings.Join(f.b.Console(), "\n"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestFirefoxSeeker runs the seeker's path in Firefox: the page loads,
// signs in by phone code, books a slot, passes the pre-join check with
// Firefox's fake camera, waits in the lobby and decodes the host's video
// (the host in Chromium); the host decodes Firefox's.
func TestFirefoxSeeker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := startNode(t, nil)
	db, err := pgx.Connect(ctx, node.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	ff := newFirefox(t, ctx)
	ff.navigate(node.url + "/seeker?lang=en")
	ff.wait(`window.jhPage && jhPage.view === 'signin'`, 20*time.Second)
	ff.click("#sendcode")
	ff.wait(`document.getElementById('phone-err') && document.getElementById('phone-err').textContent.includes('11-digit')`, 10*time.Second)
	const phone = "13900139456"
	ff.typeInto("#phone", phone)
	ff.click("#sendcode")
	ff.wait(`!!document.querySelector('#msg .msg.ok')`, 10*time.Second)
	ff.typeInto("#code", otpFromLog(t, node, phone))
	ff.click("#verify")
	ff.wait(`window.jhPage && jhPage.view === 'app'`, 20*time.Second)
	// The page after sign-in carried its session (web/boot.go): no check over the network.
	var asked bool
	ff.eval(`performance.getEntriesByType('resource').some((e) => new URL(e.name).pathname === '/api/v1/session')`, &asked)
	if asked {
		t.Fatal("firefox: the signed-in page asked for the session it carries")
	}

	ff.click("button[data-booth]")
	ff.click("button[data-slot]")
	join := node.url + ff.attr("a[data-join]", "href")
	bookingID := ff.attr("a[data-join]", "data-join")
	var employerID int64
	if err := db.QueryRow(ctx, `SELECT b.employer_id FROM bookings k JOIN booths b ON b.id = k.booth_id JOIN seekers s ON s.id = k.seeker_id
		WHERE k.id = $1 AND s.phone = $2`, bookingID, phone).Scan(&employerID); err != nil {
		t.Fatalf("booking %s of %s: %v", bookingID, phone, err)
	}

	ff.navigate(join)
	ff.wait(`window.jhCheck && jhCheck.camera === 'ok' && jhCheck.network !== ''`, 20*time.Second)
	ff.click("#pjgo")
	ff.wait(`window.jh && jh.state === 'lobby' && !document.getElementById('bigwait').hidden`, 20*time.Second)

	host := newBrowser(t, ctx)
	navigate(t, host, node.url+"/employer")
	click(t, host, fmt.Sprintf("button[data-employer='%d']", employerID))
	navigate(t, host, node.url+attr(t, host, fmt.Sprintf("a[data-join='%s']", bookingID), "href"))
	click(t, host, "#admitnext")
	ff.waitMedia("seeker")
	waitMedia(t, host, "interviewer (Chromium, from Firefox)")
	ff.click("#leave")
	click(t, host, "#leave")
}

// TestFirefoxTrainerViewer: a trainer goes live from Chromium and a seeker
// with a seat watches in Firefox, in the room page as a viewer.
func TestFirefoxTrainerViewer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := startNode(t, map[string]string{"JOBHALL_ADMIN_PASSWORD": "adminpassword1"})
	trainer := newBrowser(t, ctx)
	sessionID := goLive(t, node, trainer)
	ff := newFirefox(t, ctx)
	ff.navigate(viewerURL(t, node, sessionID, 0))
	ff.waitMedia("viewer")
	waitJS(t, trainer, `jhx.viewers === 1`, 20*time.Second)
}

// goLive makes a trainer account, schedules a live session through the
// API and goes live in the given Chromium (the page flow itself is
// TestTrainerBroadcast's). The node runs with JOBHALL_ADMIN_PASSWORD.
func goLive(t *testing.T, node *testNode, trainer context.Context) (sessionID int64) {
	t.Helper()
	staffAccount(t, node.url, "trainer1", "trainer")
	tr := newAPIClient(t, node.url)
	tr.must("POST", "/auth/login", map[string]string{"login": "trainer1", "password": "password-trainer1"}, nil)
	var course struct {
		ID int64 `json:"id"`
	}
	tr.must("POST", "/courses", map[string]any{"kind": "skills", "title": "电工基础"}, &course)
	var sess struct {
		ID int64 `json:"id"`
	}
	start := time.Now().Add(5 * time.Minute).UTC()
	tr.must("POST", fmt.Sprintf("/courses/%d/sessions", course.ID), map[string]any{
		"start": start.Format(time.RFC3339), "end": start.Add(time.Hour).Format(time.RFC3339), "capacity": 10,
	}, &sess)
	var live struct {
		JoinURL string `json:"join_url"`
	}
	tr.must("GET", fmt.Sprintf("/group-sessions/%d/join", sess.ID), nil, &live)
	navigate(t, trainer, node.url+"/trainer")
	waitJS(t, trainer, `window.jhPage && jhPage.ready`, 20*time.Second)
	typeInto(t, trainer, "#login", "trainer1")
	typeInto(t, trainer, "#password", "password-trainer1")
	click(t, trainer, "#loginbtn")
	waitJS(t, trainer, `window.jhPage && jhPage.ready && !document.getElementById('app').hidden`, 20*time.Second)
	navigate(t, trainer, node.url+"/room"+live.JoinURL[strings.Index(live.JoinURL, "?"):])
	waitJS(t, trainer, `window.jh && jh.state === 'connected' && jh.pub && jh.pub.connectionState === 'connected'`, 30*time.Second)
	return sess.ID
}

// viewerURL takes a seat for the i-th demo seeker and returns the room URL
// it joins with (as a viewer).
func viewerURL(t *testing.T, node *testNode, sessionID int64, i int) string {
	t.Helper()
	var people struct{ Seekers []struct{ ID int64 } }
	newAPIClient(t, node.url).must("GET", "/demo/people", nil, &people)
	s := newAPIClient(t, node.url)
	s.must("POST", "/session/demo", map[string]any{"role": "seeker", "id": people.Seekers[i].ID}, nil)
	s.must("POST", fmt.Sprintf("/group-sessions/%d/seats", sessionID), nil, nil)
	var j struct {
		JoinURL string `json:"join_url"`
		Role    string `json:"role"`
	}
	s.must("GET", fmt.Sprintf("/group-sessions/%d/join", sessionID), nil, &j)
	if j.Role != "viewer" {
		t.Fatalf("seat holder joins as %q", j.Role)
	}
	return node.url + "/room" + j.JoinURL[strings.Index(j.JoinURL, "?"):]
}
