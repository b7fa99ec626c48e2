package main

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"jobhall/booking"
	"jobhall/web"
)

// BenchmarkSeekerFirstData: the server's CPU for what a signed-in seeker's
// page load needs, handlers called in process (no sockets): "fetched" is the
// page (the small form, answered 304 to a returning browser) plus the four
// API calls the page made before (session, feed, current fair, booths; all
// gzip-accepting); "embedded" is the one personal page that carries them
// (web/boot.go). cpu-µs/op is the whole process's user+system time per
// load (the node's background work included, alike in both); PostgreSQL's
// own time is not in it (the same queries run in both).
func BenchmarkSeekerFirstData(b *testing.B) {
	node := startNode(b, nil)
	h := node.httpSrv.Handler
	serve := func(path, session, etag string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Accept-Encoding", "gzip, deflate")
		r.AddCookie(&http.Cookie{Name: web.FirstVisitCookie, Value: web.Version()})
		if session != "" {
			r.AddCookie(&http.Cookie{Name: booking.SessionCookie, Value: session})
		}
		if etag != "" {
			r.Header.Set("If-None-Match", etag)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	var people struct {
		Seekers []struct {
			ID int64 `json:"id"`
		} `json:"seekers"`
	}
	if w := serve("/api/v1/demo/people", "", ""); w.Code != 200 || json.Unmarshal(gunzip(b, w), &people) != nil || len(people.Seekers) == 0 {
		b.Fatalf("no demo seekers: %d", w.Code)
	}
	r := httptest.NewRequest("POST", "/api/v1/session/demo", strings.NewReader(fmt.Sprintf(`{"role":"seeker","id":%d}`, people.Seekers[0].ID)))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var session string
	for _, ck := range w.Result().Cookies() {
		if ck.Name == booking.SessionCookie {
			session = ck.Value
		}
	}
	if session == "" {
		b.Fatalf("demo sign-in: %d %s", w.Code, w.Body)
	}
	for deadline := time.Now().Add(30 * time.Second); serve("/api/v1/me/feed?limit=10", session, "").Code != 200; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the feed did not warm up")
		}
	}
	var fair struct {
		ID int64 `json:"id"`
	}
	if w := serve("/api/v1/fairs/current", "", ""); w.Code != 200 || json.Unmarshal(gunzip(b, w), &fair) != nil {
		b.Fatalf("no current fair: %d", w.Code)
	}
	etag := serve("/seeker", "", "").Header().Get("ETag")
	booths := fmt.Sprintf("/api/v1/fairs/%d/booths?limit=20&q=", fair.ID)

	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	run := func(b *testing.B, load func() int) {
		bytes := 0
		start := cpu()
		for b.Loop() {
			bytes = load()
		}
		b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		b.ReportMetric(float64(bytes), "body-bytes/op")
	}
	b.Run("fetched", func(b *testing.B) {
		run(b, func() int {
			n := 0
			for _, x := range []struct{ path, session, etag string }{
				{"/seeker", "", etag}, {"/api/v1/session", session, ""}, {"/api/v1/me/feed?limit=10", session, ""},
				{"/api/v1/fairs/current", session, ""}, {booths, session, ""},
			} {
				w := serve(x.path, x.session, x.etag)
				if w.Code != 200 && w.Code != 304 {
					b.Fatalf("%s: %d", x.path, w.Code)
				}
				n += w.Body.Len()
			}
			return n
		})
	})
	b.Run("embedded", func(b *testing.B) {
		run(b, func() int {
			w := serve("/seeker", session, "")
			if w.Code != 200 || !strings.Contains(w.Header().Get("Cache-Control"), "no-store") {
				b.Fatalf("personal page: %d %v", w.Code, w.Header())
			}
			return w.Body.Len()
		})
	})
}

// gunzip returns a recorded body, decompressed when it was gzipped.
func gunzip(b *testing.B, w *httptest.ResponseRecorder) []byte {
	if w.Header().Get("Content-Encoding") != "gzip" {
		return w.Body.Bytes()
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		b.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
