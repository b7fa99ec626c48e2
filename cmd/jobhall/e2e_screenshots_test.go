package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPageScreenshots opens every main page at phone (390×844) and desktop
// (1440×900) size in Chinese and English, checks that no untranslated key
// shows, and takes a screenshot. With JOBHALL_SCREENSHOTS=<dir> it writes
// the PNGs there (docs/screenshots is the documented place) and takes all
// four variants; otherwise it checks phone/Chinese and desktop/English only
// and keeps the images in a temporary folder.
func TestPageScreenshots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := os.Getenv("JOBHALL_SCREENSHOTS")
	all := dir != ""
	if !all {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	node := startNode(t, map[string]string{"JOBHALL_ADMIN_PASSWORD": "adminpassword1"})
	officerID := staffAccount(t, node.url, "officer1", "officer")
	staffAccount(t, node.url, "trainer1", "trainer")
	var fair struct {
		ID int64 `json:"id"`
	}
	newAPIClient(t, node.url).must("GET", "/fairs/current", nil, &fair)
	// A course with a session for the trainer and seeker pages.
	tr := newAPIClient(t, node.url)
	tr.must("POST", "/auth/login", map[string]string{"login": "trainer1", "password": "password-trainer1"}, nil)
	var course struct {
		ID int64 `json:"id"`
	}
	tr.must("POST", "/courses", map[string]string{"kind": "skills", "title": "电工基础（初级）", "description": "安全用电、常用工具与线路检修"}, &course)
	start := time.Now().Add(2 * time.Hour).Truncate(time.Hour)
	tr.must("POST", fmt.Sprintf("/courses/%d/sessions", course.ID), map[string]any{"start": start, "end": start.Add(time.Hour), "capacity": 200}, nil)

	b := newBrowser(t, ctx)
	as := func(role string, id int64) {
		evalJS[bool](t, b, fmt.Sprintf(`(async () => { await fetch('/api/v1/session/demo', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ role: %q, id: %d }) }); localStorage.setItem('jh.seeker', %q); return true; })()`,
			role, id, map[bool]string{true: "1", false: ""}[role == "seeker"]))
	}
	login := func(user string) {
		evalJS[bool](t, b, fmt.Sprintf(`(async () => (await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ login: %q, password: %q }) })).ok)()`, user, "password-"+user))
	}
	signout := func() {
		evalJS[bool](t, b, `(async () => { await fetch('/api/v1/session', { method: 'DELETE' }); localStorage.removeItem('jh.seeker'); return true; })()`)
	}
	rawKey := regexp.MustCompile(`\b(log|kind|cat|edu|outcome|mode)_[a-z_]+\b|\b(err|tab|check|net)[A-Z][a-zA-Z]+\b`)
	type variant struct {
		size string
		w, h int64
		lang string
	}
	variants := []variant{{"phone", 390, 844, "zh"}, {"desktop", 1440, 900, "en"}}
	if all {
		variants = []variant{{"phone", 390, 844, "zh"}, {"phone", 390, 844, "en"}, {"desktop", 1440, 900, "zh"}, {"desktop", 1440, 900, "en"}}
	}
	shots := 0
	shoot := func(name, path, ready string) {
		t.Helper()
		for _, v := range variants {
			opts := []chromedp.EmulateViewportOption{}
			if v.size == "phone" {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
			}
			if err := chromedp.Do(b, chromedp.EmulateViewport(v.w, v.h, opts...)); err != nil {
				t.Fatal(err)
			}
			sep := "?"
			if regexp.MustCompile(`\?`).MatchString(path) {
				sep = "&"
			}
			url := node.url + path
			if i := regexp.MustCompile(`#`).FindStringIndex(url); i != nil {
				url = url[:i[0]] + sep + "lang=" + v.lang + url[i[0]:]
			} else {
				url += sep + "lang=" + v.lang
			}
			navigate(t, b, url)
			waitJS(t, b, ready, 20*time.Second)
			time.Sleep(300 * time.Millisecond) // fonts and late lists
			text := evalJS[string](t, b, `document.body.innerText`)
			if m := rawKey.FindString(text); m != "" {
				t.Errorf("%s (%s, %s) shows an untranslated key %q", name, v.size, v.lang, m)
			}
			if v.lang == "zh" && !hasCJK(text) {
				t.Errorf("%s (%s) shows no Chinese", name, v.size)
			}
			png, err := chromedp.Run(b, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s-%s.png", name, v.size, v.lang)), png, 0o644); err != nil {
				t.Fatal(err)
			}
			shots++
		}
	}
	pageReady := `window.jhPage && jhPage.ready`

	navigate(t, b, node.url+"/")
	shoot("home", "/", `document.readyState === 'complete'`)
	shoot("seeker-signin", "/seeker", `window.jhPage && jhPage.view === 'signin' && !!document.querySelector('button[data-seeker]')`)

	var people struct {
		Seekers   []struct{ ID int64 }
		Employers []struct{ ID int64 }
	}
	newAPIClient(t, node.url).must("GET", "/demo/people", nil, &people)
	as("seeker", people.Seekers[0].ID)
	// A booking to show, booked through the page.
	navigate(t, b, node.url+"/seeker#jobs")
	click(t, b, "button[data-booth]")
	click(t, b, "button[data-slot]")
	join := attr(t, b, "a[data-join]", "href")
	evalJS[bool](t, b, fmt.Sprintf(`(async () => (await fetch('/api/v1/fairs/%d/registrations', { method: 'POST' })).ok)()`, fair.ID))
	shoot("seeker-jobs", "/seeker#jobs", `window.jhPage && jhPage.view === 'app' && !!document.querySelector('[data-job]')`)
	shoot("seeker-interviews", "/seeker#interviews", `window.jhPage && jhPage.view === 'app' && !!document.querySelector('a[data-join]')`)
	shoot("seeker-training", "/seeker#learn", `window.jhPage && jhPage.view === 'app' && !!document.querySelector('[data-course]')`)
	shoot("seeker-me", "/seeker#me", `window.jhPage && jhPage.view === 'app' && !!document.querySelector('[data-log]') && !!document.querySelector('[data-pass]')`)
	shoot("room-prejoin", join, `window.jhCheck && jhCheck.camera === 'ok' && jhCheck.network !== ''`)
	signout()

	as("employer", people.Employers[0].ID)
	shoot("booth-desk", "/employer", pageReady+` && !document.getElementById('app').hidden`)
	signout()
	login("trainer1")
	shoot("trainer", "/trainer", pageReady+` && !!document.querySelector('button[data-live]')`)
	signout()
	if _, err := pgxExec(node.dbURL, `INSERT INTO fair_officers (fair_id, account_id) VALUES ($1, $2)`, fair.ID, officerID); err != nil {
		t.Fatal(err)
	}
	login("officer1")
	shoot("officer", "/officer", pageReady+` && jhPage.stats && jhPage.stats.attendees !== undefined`)
	t.Logf("%d screenshots in %s", shots, dir)
}
