package web

import (
	"compress/gzip"
	"io"
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
