// Package web holds jobhall's browser pages, embedded in the binary.
//
// At start every text asset is rewritten so that its references to
// /static/<file> become /static/<version>/<file> (version: a hash of all the
// files), then gzipped once. Versioned URLs are cached for a year
// (immutable); the pages themselves and unversioned asset URLs are
// revalidated (ETag). A browser that accepts gzip gets the precompressed
// bytes; no compression happens per request.
//
// Pages also get, at start, a modulepreload link for every module they
// reach (bundle.go follows the imports), so the whole module graph comes in
// one round trip. The seeker's page has a first-visit form besides: its
// stylesheet and modules folded into the HTML (one round trip in all on a
// slow link), served while the browser lacks the jh_assets cookie; that
// page fetches the separate files after load for the next visit.
//
// With NewHandler's Options.Boot the seeker's page, requested with a
// session cookie, is personal (boot.go): it carries the answers to its
// first API calls for that session as inert JSON, is never cached
// (private, no-store) and streams the page while the data is fetched.
//
// No goroutines; the assets are built once (sync.Once) and read-only after.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"jobhall/internal/gzipbody"
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
	"/trainer":  "trainer.html",
	"/officer":  "officer.html",
}

// inlinePages get a first-visit form with their CSS and modules inlined
// (see inlined): the seeker's page, opened on phones on weak links.
var inlinePages = map[string]bool{"seeker.html": true}

// FirstVisitCookie marks a browser that has fetched (prefetched) the
// separate files of this version: it gets the small HTML. Not a secret and
// not personal: only the asset version.
const FirstVisitCookie = "jh_assets"

// asset is one file ready to serve.
type asset struct {
	plain, gz []byte // gz is nil when compression does not pay
	ctype     string
	etag      string
	inline    *asset // first-visit form of a page, or nil
	split     *split // a boot page cut for its personal form (boot.go), or nil
}

type bundle struct {
	version string
	assets  map[string]*asset // by file name under static/
	// problems lists pages whose module graph could not be followed or
	// inlined (the page still works, one round trip slower); a test keeps
	// it empty.
	problems []string
}

var (
	once sync.Once
	b    *bundle
)

// textExt are rewritten and compressed.
var textExt = map[string]string{
	".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml", ".webmanifest": "application/manifest+json", ".json": "application/json",
}

func load() *bundle {
	once.Do(func() {
		raw := map[string][]byte{}
		var names []string
		_ = fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			name := strings.TrimPrefix(p, "static/")
			raw[name] = data
			names = append(names, name)
			return nil
		})
		sort.Strings(names)
		h := sha256.New()
		for _, n := range names {
			h.Write([]byte(n))
			h.Write(raw[n])
		}
		ver := hex.EncodeToString(h.Sum(nil))[:10]
		out := &bundle{version: ver, assets: map[string]*asset{}}
		// Pages: preload links for the whole module graph, and the
		// first-visit form where wanted (both derived from the files, so
		// the version above covers them).
		g := parseGraph(raw)
		firstVisit := map[string][]byte{}
		for _, p := range sortedPages() {
			html, err := withPreloads(g, string(raw[p]))
			if err != nil {
				out.problems = append(out.problems, p+": "+err.Error())
			}
			raw[p] = []byte(html)
			if inlinePages[p] {
				in, err := inlined(g, raw, html)
				if err != nil {
					out.problems = append(out.problems, p+" (inline): "+err.Error())
					continue
				}
				firstVisit[p] = []byte(in)
			}
		}
		build := func(n string, data []byte) *asset {
			ext := path.Ext(n)
			ctype, text := textExt[ext]
			if text {
				data = bytes.ReplaceAll(data, []byte("/static/"), []byte("/static/"+ver+"/"))
			} else if ctype = mime.TypeByExtension(ext); ctype == "" {
				ctype = "application/octet-stream"
			}
			sum := sha256.Sum256(data)
			a := &asset{plain: data, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
			if text && len(data) > 512 {
				var buf bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
				zw.Write(data)
				zw.Close()
				if buf.Len() < len(data) {
					a.gz = buf.Bytes()
				}
			}
			return a
		}
		for _, n := range names {
			a := build(n, raw[n])
			if fv, ok := firstVisit[n]; ok {
				a.inline = build(n, fv)
			}
			if bootPages[n] {
				for _, v := range []*asset{a, a.inline} {
					if v == nil {
						continue
					}
					if v.split = newSplit(v.plain); v.split == nil {
						out.problems = append(out.problems, n+": no </body> for the boot data")
					}
				}
			}
			out.assets[n] = a
		}
		b = out
	})
	return b
}

func sortedPages() []string {
	var ps []string
	for _, p := range pages {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// Version is the asset version in the /static/<version>/ URLs.
func Version() string { return load().version }

// Asset returns a file's served bytes (after the URL rewrite), its
// gzipped bytes (nil when not compressed) and whether it exists.
func Asset(name string) (plain, gz []byte, ok bool) {
	a, ok := load().assets[name]
	if !ok {
		return nil, nil, false
	}
	return a.plain, a.gz, true
}

// Handler serves the pages and their assets under /static/, none personal.
func Handler() http.Handler { return NewHandler(Options{}) }

// NewHandler serves the pages and their assets under /static/; with
// opts.Boot, boot pages requested with the session cookie are personal
// (see boot.go).
func NewHandler(opts Options) http.Handler {
	bd := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer") // join links carry tokens
		var name, cache string
		page := false
		switch {
		case strings.HasPrefix(r.URL.Path, "/static/"+bd.version+"/"):
			name, cache = strings.TrimPrefix(r.URL.Path, "/static/"+bd.version+"/"), "public, max-age=31536000, immutable"
		case strings.HasPrefix(r.URL.Path, "/static/"):
			name, cache = strings.TrimPrefix(r.URL.Path, "/static/"), "no-cache"
		case r.URL.Path == "/manifest.webmanifest":
			name, cache = "manifest.webmanifest", "no-cache"
		default:
			p, ok := pages[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			name, cache, page = p, "no-cache", true
		}
		a, ok := bd.assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if page && (a.inline != nil || bootPages[name]) {
			h.Add("Vary", "Cookie")
		}
		if page && a.inline != nil {
			if c, err := r.Cookie(FirstVisitCookie); err != nil || c.Value != bd.version {
				a = a.inline
				// Set now: the page prefetches the separate files after load.
				http.SetCookie(w, &http.Cookie{Name: FirstVisitCookie, Value: bd.version, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, HttpOnly: true})
			}
		}
		if page && a.split != nil && opts.personal(r, name) {
			servePersonal(w, r, a, name, opts.Boot)
			return
		}
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", cache)
		h.Set("ETag", a.etag)
		h.Add("Vary", "Accept-Encoding")
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := a.plain
		if a.gz != nil && gzipbody.Accepts(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			body = a.gz
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
