// Package web holds jobhall's browser pages, embedded in the binary.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var files embed.FS

// pages maps clean URLs to their HTML files.
var pages = map[string]string{
	"/":         "index.html",
	"/seeker":   "seeker.html",
	"/employer": "employer.html",
	"/room":     "room.html",
	"/selftest": "selftest.html",
	"/watch":    "watch.html",
}

// Handler serves the pages and their assets under /static/.
func Handler() http.Handler {
	static, _ := fs.Sub(files, "static")
	assets := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer") // join links carry tokens
		if strings.HasPrefix(r.URL.Path, "/static/") {
			w.Header().Set("Cache-Control", "no-cache")
			assets.ServeHTTP(w, r)
			return
		}
		name, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, err := files.ReadFile("static/" + name)
		if err != nil {
			http.Error(w, "page missing", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	})
}
