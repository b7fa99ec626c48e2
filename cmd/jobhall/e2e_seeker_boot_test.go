package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"jobhall/booking"
	"jobhall/web"
)

var bootRe = regexp.MustCompile(`<script type="application/json" id="` + web.BootElementID + `">([^<]*)</script>`)

// TestSeekerBootData: the seeker's page, requested with a seeker's session
// cookie, carries that seeker's own first API answers (the same JSON the
// API gives that seeker) and is never cached; another seeker's cookie gets
// their own; no cookie, an invalid, an expired or an employer's cookie get
// none, and the page still works in Chromium; a job title with "</script>"
// in it stays data in the HTML and text on the page.
func TestSeekerBootData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := startNode(t, nil)

	var people struct {
		Seekers, Employers []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		}
	}
	newAPIClient(t, node.url).must("GET", "/demo/people", nil, &people)
	if len(people.Seekers) < 2 || len(people.Employers) < 1 {
		t.Fatalf("demo people: %+v", people)
	}
	signIn := func(role string, id int64) (*apiClient, string) {
		c := newAPIClient(t, node.url)
		c.must("POST", "/session/demo", map[string]any{"role": role, "id": id}, nil)
		u, _ := url.Parse(node.url + "/")
		for _, ck := range c.c.Jar.Cookies(u) {
			if ck.Name == booking.SessionCookie {
				return c, ck.Value
			}
		}
		t.Fatalf("no session cookie for %s %d", role, id)
		return nil, ""
	}

	type bootData struct {
		Session *struct {
			Role string `json:"role"`
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"session"`
		Fair   json.RawMessage `json:"fair"`
		Feed   json.RawMessage `json:"feed"`
		Booths json.RawMessage `json:"booths"`
	}
	// page fetches /seeker (gzipped, as a browser would) with the cookie.
	page := func(cookie string) (*bootData, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", node.url+"/seeker", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: booking.SessionCookie, Value: cookie})
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			if body, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		html, err := io.ReadAll(body)
		if err != nil || resp.StatusCode != 200 || !strings.HasSuffix(string(html), "</body></html>\n") {
			t.Fatalf("GET /seeker: %d %v, %d bytes", resp.StatusCode, err, len(html))
		}
		m := bootRe.FindAllStringSubmatch(string(html), -1)
		if len(m) == 0 {
			return nil, resp.Header, string(html)
		}
		if len(m) > 1 {
			t.Fatalf("%d boot elements", len(m))
		}
		var b bootData
		if err := json.Unmarshal([]byte(m[0][1]), &b); err != nil {
			t.Fatalf("boot data: %v in %s", err, m[0][1])
		}
		return &b, resp.Header, string(html)
	}
	// same reports whether two JSON answers hold the same data.
	same := func(a, b json.RawMessage) bool {
		var x, y any
		return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
	}

	cookies := map[int64]string{}
	for i, sk := range people.Seekers[:2] {
		c, ck := signIn("seeker", sk.ID)
		cookies[sk.ID] = ck
		if i == 0 {
			// The matching index warms up after start (503 meanwhile: the
			// boot data then leaves the feed out and the page fetches it).
			for deadline := time.Now().Add(30 * time.Second); c.do("GET", "/me/feed?limit=1", nil, nil) != 200; {
				if time.Now().After(deadline) {
					t.Fatal("the feed did not warm up")
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		b, h, _ := page(ck)
		if h.Get("Cache-Control") != "private, no-store" || h.Get("ETag") != "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Cookie") {
			t.Fatalf("personal page headers: %v", h)
		}
		if b == nil || b.Session == nil || b.Session.ID != sk.ID || b.Session.Role != "seeker" || b.Session.Name != sk.Name {
			t.Fatalf("seeker %d (%s) got boot data %+v", sk.ID, sk.Name, b)
		}
		var feed, fair, booths json.RawMessage
		c.must("GET", "/me/feed?limit=10", nil, &feed)
		c.must("GET", "/fairs/current", nil, &fair)
		var f struct {
			ID int64 `json:"id"`
		}
		json.Unmarshal(fair, &f)
		c.must("GET", "/fairs/"+strconv.FormatInt(f.ID, 10)+"/booths?limit=20&q=", nil, &booths)
		if !same(b.Feed, feed) || !same(b.Fair, fair) || !same(b.Booths, booths) {
			t.Fatalf("seeker %d: boot data differs from the API's answers:\nfeed %.300s\nwant %.300s", sk.ID, b.Feed, feed)
		}
	}

	// No session, or none of a seeker: no data.
	if b, h, _ := page(""); b != nil || h.Get("Cache-Control") != "no-cache" {
		t.Fatalf("no cookie: boot %+v, Cache-Control %q", b, h.Get("Cache-Control"))
	}
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"role": "seeker", "sub": strconv.FormatInt(people.Seekers[0].ID, 10), "aud": []string{"jobhall-session"}, "iss": "jobhall",
		"iat": time.Now().Add(-13 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix(),
	}).SignedString([]byte("session:test-secret-test-secret-test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	_, employer := signIn("employer", people.Employers[0].ID)
	for name, ck := range map[string]string{"invalid": "not-a-token", "expired": expired, "employer": employer} {
		if b, h, _ := page(ck); b != nil || h.Get("Cache-Control") != "private, no-store" {
			t.Fatalf("%s cookie: boot %+v, Cache-Control %q", name, b, h.Get("Cache-Control"))
		}
	}

	// A job title that tries to end the element and run a script.
	a := people.Seekers[0]
	var feed struct {
		Items []struct {
			Job struct {
				ID int64 `json:"id"`
			} `json:"job"`
		} `json:"items"`
	}
	if b, _, _ := page(cookies[a.ID]); b == nil || json.Unmarshal(b.Feed, &feed) != nil || len(feed.Items) == 0 {
		t.Fatal("no feed to test with")
	}
	evil := `</script><script>window.jhPwned = 1</script><!-- &`
	job := feed.Items[0].Job.ID
	if _, err := pgxExec(node.dbURL, `UPDATE job_posts SET title = $1 WHERE id = $2`, evil, job); err != nil {
		t.Fatal(err)
	}
	b, _, html := page(cookies[a.ID])
	var titles struct {
		Items []struct {
			Job struct {
				ID    int64  `json:"id"`
				Title string `json:"title"`
			} `json:"job"`
		} `json:"items"`
	}
	if b == nil || json.Unmarshal(b.Feed, &titles) != nil || !slices.ContainsFunc(titles.Items, func(it struct {
		Job struct {
			ID    int64  `json:"id"`
			Title string `json:"title"`
		} `json:"job"`
	}) bool {
		return it.Job.ID == job && it.Job.Title == evil
	}) || strings.Contains(html, "<script>window.jhPwned") {
		t.Fatalf("job title in the page: %.300s", b.Feed)
	}

	// In the browser: each seeker's page shows their own data without
	// asking the API for it; a bad cookie gets the sign-in form.
	br := newBrowser(t, ctx)
	visits := 0
	visit := func(cookie, view string) {
		t.Helper()
		visits++ // a new URL each time: the same URL with a #hash would not load again
		if _, err := chromedp.Call(br, network.DeleteCookies, network.DeleteCookiesParams{Name: booking.SessionCookie, URL: node.url + "/"}); err != nil {
			t.Fatal(err)
		}
		if cookie != "" {
			if _, err := chromedp.Call(br, network.SetCookie, network.SetCookieParams{Name: booking.SessionCookie, Value: cookie, URL: node.url + "/"}); err != nil {
				t.Fatal(err)
			}
		}
		navigate(t, br, fmt.Sprintf("%s/seeker?lang=en&visit=%d#jobs", node.url, visits))
		waitJS(t, br, fmt.Sprintf(`window.jhPage && jhPage.view === %q`, view), 20*time.Second)
	}
	apiCalls := func() []string {
		return evalJS[[]string](t, br, `performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((p) => p.startsWith('/api/v1/'))`)
	}
	visit(cookies[a.ID], "app")
	if calls := apiCalls(); slices.ContainsFunc(calls, func(p string) bool {
		return p == "/api/v1/session" || p == "/api/v1/me/feed" || p == "/api/v1/fairs/current" || strings.HasSuffix(p, "/booths")
	}) {
		t.Errorf("the page asked the API for what it carries: %v", calls)
	}
	if got := evalJS[string](t, br, fmt.Sprintf(`document.querySelector('[data-job="%d"] h3').textContent`, job)); got != evil {
		t.Fatalf("job title shown as %q", got)
	}
	if evalJS[bool](t, br, `'jhPwned' in window || !!document.getElementById('jh-boot')`) {
		t.Fatal("the title ran as script, or the boot element was left in the page")
	}
	if got := evalJS[string](t, br, `document.getElementById('me').textContent`); got != a.Name {
		t.Fatalf("seeker A's page shows %q", got)
	}
	bk := people.Seekers[1]
	visit(cookies[bk.ID], "app")
	if got := evalJS[string](t, br, `document.getElementById('me').textContent`); got != bk.Name {
		t.Fatalf("seeker B's page shows %q, want %q", got, bk.Name)
	}
	// A stale cookie with the "signed in" hint left in the page's storage:
	// the page finds out by asking and shows the sign-in form.
	evalJS[bool](t, br, `localStorage.setItem('jh.seeker', '1'), true`)
	visit(expired, "signin")
	visit("not-a-token", "signin")
	visit("", "signin")
}
