package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
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
