package web

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestAssets: pages revalidate, versioned assets are cached for a year and
// come gzipped to browsers that accept it, references are rewritten to the
// versioned URLs, and an unchanged file answers 304.
func TestAssets(t *testing.T) {
	h := Handler()
	get := func(path, ae, inm string) *http.Response {
		r := httptest.NewRequest("GET", path, nil)
		r.AddCookie(&http.Cookie{Name: FirstVisitCookie, Value: Version()})
		if ae != "" {
			r.Header.Set("Accept-Encoding", ae)
		}
		if inm != "" {
			r.Header.Set("If-None-Match", inm)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	page := get("/seeker", "gzip", "")
	if page.StatusCode != 200 || page.Header.Get("Cache-Control") != "no-cache" || page.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("page: %d %v", page.StatusCode, page.Header)
	}
	zr, err := gzip.NewReader(page.Body)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(zr)
	if !strings.Contains(string(html), "/static/"+Version()+"/seeker.js") {
		t.Fatalf("page does not reference the versioned script: %s", html)
	}
	js := get("/static/"+Version()+"/seeker.js", "", "")
	body, _ := io.ReadAll(js.Body)
	if !strings.Contains(js.Header.Get("Cache-Control"), "immutable") || js.Header.Get("Content-Encoding") != "" ||
		!strings.Contains(string(body), "/static/"+Version()+"/i18n.js") || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("versioned script: %v", js.Header)
	}
	if r := get("/static/"+Version()+"/seeker.js", "gzip;q=0", ""); r.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that refused it")
	}
	if r := get("/static/"+Version()+"/seeker.js", "", js.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.StatusCode)
	}
	if r := get("/manifest.webmanifest", "", ""); r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/manifest+json" {
		t.Fatalf("manifest: %d %v", r.StatusCode, r.Header)
	}
	for _, p := range []string{"/", "/seeker", "/employer", "/room", "/trainer", "/officer", "/watch", "/selftest", "/static/icon-192.png"} {
		if r := get(p, "", ""); r.StatusCode != 200 {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
	if r := get("/nope", "", ""); r.StatusCode != 404 {
		t.Errorf("/nope: %d", r.StatusCode)
	}
}

// TestPageModules: every page's module graph is followed (all of it
// preloaded), and the seeker's first visit comes as one HTML with its
// stylesheet and modules inline, sets the cookie, and prefetches the
// separate files; with the cookie the small HTML comes back.
func TestPageModules(t *testing.T) {
	bd := load()
	if len(bd.problems) > 0 {
		t.Fatalf("pages outside the module subset: %v", bd.problems)
	}
	// Every module a page reaches is linked from the page.
	raw := map[string][]byte{}
	_ = fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			raw[strings.TrimPrefix(p, "static/")], _ = files.ReadFile(p)
		}
		return err
	})
	g := parseGraph(raw)
	for _, p := range sortedPages() {
		html := string(bd.assets[p].plain)
		entries, inl, _ := pageModules(string(raw[p]))
		all, err := g.order(append(entries, inl...))
		if err != nil {
			t.Fatal(p, err)
		}
		for _, m := range all {
			if !strings.Contains(html, "/static/"+Version()+"/"+m+`"`) {
				t.Errorf("%s does not link %s", p, m)
			}
		}
	}

	h := Handler()
	r := httptest.NewRequest("GET", "/seeker", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(zr)
	if strings.Contains(string(first), `<script type="module" src=`) || strings.Contains(string(first), `rel="stylesheet"`) ||
		!strings.Contains(string(first), "<style>") || !strings.Contains(string(first), "fetch(u)") {
		t.Fatalf("first visit not inlined: %.300s", first)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == FirstVisitCookie {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != Version() || !strings.Contains(res.Header.Get("Vary"), "Cookie") {
		t.Fatalf("first visit: cookie %v, Vary %q", cookie, res.Header.Values("Vary"))
	}
	if len(bd.assets["seeker.html"].inline.gz) > 40<<10 {
		t.Errorf("first-visit seeker page is %d bytes gzipped", len(bd.assets["seeker.html"].inline.gz))
	}
	r = httptest.NewRequest("GET", "/seeker", nil)
	r.AddCookie(cookie)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if body := w.Body.String(); !strings.Contains(body, `<script type="module" src="/static/`+Version()+`/seeker.js">`) || len(w.Result().Cookies()) != 0 {
		t.Fatalf("returning visit not the small page: %.300s", body)
	}
}

// TestParseModule: forms outside the subset are refused, renames kept.
func TestParseModule(t *testing.T) {
	m, err := parseModule("a.js", "import { t, x as y } from '/static/i18n.js';\nexport async function f() {}\nexport const k = 1;\nconst z = 2;\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.imports) != 1 || strings.Join(m.imports[0].names, ",") != "t,x: y" || strings.Join(m.exports, ",") != "f,k" || strings.Contains(m.body, "export") {
		t.Fatalf("%+v", m)
	}
	for _, bad := range []string{
		"import x from '/static/i18n.js';\n", "import * as x from '/static/i18n.js';\n", "const m = await import('/static/x.js');\n",
		"export let n = 1;\n", "export default 1;\n", "export { a };\n", "import { a } from './rel.js';\n",
	} {
		if _, err := parseModule("b.js", bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestGzipJSON(t *testing.T) {
	h := GzipJSON(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(strings.Repeat(`{"k":"值"}`, 200)))
		case "/small": // a booking or an error: not worth compressing
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"k":"值"}`))
		case "/png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("\x89PNG...."))
		}
	}))
	for _, c := range []struct {
		path, accept, wantEnc string
	}{{"/json", "gzip, br", "gzip"}, {"/json", "", ""}, {"/png", "gzip", ""}, {"/small", "gzip", ""}} {
		req := httptest.NewRequest(http.MethodGet, c.path, nil)
		if c.accept != "" {
			req.Header.Set("Accept-Encoding", c.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Encoding"); got != c.wantEnc {
			t.Fatalf("%s with %q: encoding %q, want %q", c.path, c.accept, got, c.wantEnc)
		}
		body := rec.Body.Bytes()
		if c.wantEnc == "gzip" {
			compressed := len(body)
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			if compressed >= len(body) {
				t.Fatalf("gzip did not shrink %d bytes (%d)", len(body), compressed)
			}
		}
		if c.path == "/small" && (rec.Code != http.StatusConflict || string(body) != `{"k":"值"}` ||
			rec.Header().Get("Content-Length") != strconv.Itoa(len(body))) {
			t.Fatalf("small answer: status %d, body %q, length %q", rec.Code, body, rec.Header().Get("Content-Length"))
		}
		if c.path == "/json" && !strings.HasPrefix(string(body), `{"k":"值"}`) {
			t.Fatalf("body %q", body[:20])
		}
	}
}

// TestBootPage: with the session cookie the seeker's page carries the boot
// data (escaped: a "</script>" in it cannot end the element) in both page
// forms, gzipped or not, and is never cached; without the cookie, or when
// Boot has nothing, it is the shared page as before.
func TestBootPage(t *testing.T) {
	const evil = `{"feed":{"items":[{"job":{"title":"</script><script>alert(1)</script><!-- & \u2028"}}]}}`
	var calls int
	h := NewHandler(Options{SessionCookie: "sess", Boot: func(r *http.Request, page string) []byte {
		calls++
		if page != "seeker.html" {
			t.Errorf("boot asked for %s", page)
		}
		c, _ := r.Cookie("sess")
		if c.Value == "none" {
			return nil
		}
		return []byte(evil)
	}})
	get := func(method, path, session string, gz, returning bool) (*http.Response, string) {
		r := httptest.NewRequest(method, path, nil)
		if session != "" {
			r.AddCookie(&http.Cookie{Name: "sess", Value: session})
		}
		if returning {
			r.AddCookie(&http.Cookie{Name: FirstVisitCookie, Value: Version()})
		}
		if gz {
			r.Header.Set("Accept-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		var body io.Reader = res.Body
		if res.Header.Get("Content-Encoding") == "gzip" && method != "HEAD" {
			zr, err := gzip.NewReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return res, string(b)
	}
	tag := `<script type="application/json" id="` + BootElementID + `">`
	for _, returning := range []bool{false, true} {
		_, shared := get("GET", "/seeker", "", false, returning)
		for _, gz := range []bool{false, true} {
			res, html := get("GET", "/seeker", "abc", gz, returning)
			if cc := res.Header.Get("Cache-Control"); cc != "private, no-store" || res.Header.Get("ETag") != "" ||
				!strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Cookie") {
				t.Fatalf("personal page headers: %v", res.Header)
			}
			if gz != (res.Header.Get("Content-Encoding") == "gzip") {
				t.Fatalf("gzip %v: Content-Encoding %q", gz, res.Header.Get("Content-Encoding"))
			}
			i := strings.Index(html, tag)
			if i < 0 || strings.Count(html, `id="`+BootElementID+`"`) != 1 {
				t.Fatalf("no boot element (returning %v, gzip %v): %.200s", returning, gz, html)
			}
			// The page is the shared one with the element before </body>.
			if html[:i]+html[strings.Index(html[i:], "</script>\n")+i+len("</script>\n"):] != shared {
				t.Fatalf("personal page differs from the shared one beyond the boot element")
			}
			data := html[i+len(tag) : i+strings.Index(html[i:], "</script>")]
			if strings.ContainsAny(data, "<>&\u2028") {
				t.Fatalf("boot data not escaped: %s", data)
			}
			var v struct {
				Feed struct {
					Items []struct {
						Job struct{ Title string }
					}
				}
			}
			if err := json.Unmarshal([]byte(data), &v); err != nil || v.Feed.Items[0].Job.Title != "</script><script>alert(1)</script><!-- & \u2028" {
				t.Fatalf("boot data %s: %v %+v", data, err, v)
			}
		}
	}
	// Boot has nothing for this session: the page without the element, still private.
	res, html := get("GET", "/seeker", "none", true, true)
	if strings.Contains(html, tag) || res.Header.Get("Cache-Control") != "private, no-store" || !strings.HasSuffix(html, "</body></html>\n") {
		t.Fatalf("page without boot data: %v %.100s", res.Header, html)
	}
	// No cookie: the shared, revalidated page; Boot not asked.
	calls = 0
	res, html = get("GET", "/seeker", "", true, true)
	if strings.Contains(html, tag) || res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("ETag") == "" || calls != 0 {
		t.Fatalf("signed-out page: %v, boot called %d times", res.Header, calls)
	}
	// HEAD and other pages do not run Boot.
	res, html = get("HEAD", "/seeker", "abc", true, true)
	if res.StatusCode != 200 || html != "" || calls != 0 {
		t.Fatalf("HEAD: %d %q, boot called %d times", res.StatusCode, html, calls)
	}
	if _, html = get("GET", "/employer", "abc", false, true); strings.Contains(html, tag) || calls != 0 {
		t.Fatal("boot data on another page")
	}
}
