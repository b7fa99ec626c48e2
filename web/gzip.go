package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"jobhall/internal/gzipbody"
)

// GzipJSON compresses JSON and CSV responses of h for clients that accept
// gzip: on a slow 3G link a seeker's job feed shrinks to a fifth. Answers
// under gzipMin bytes (a booking, an error) go out as they are: there gzip
// saves a few hundred bytes and costs more CPU than the handler (a
// compressor reset per response). Other responses (media, images, event
// streams) pass through untouched.
func GzipJSON(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		if !gzipbody.Accepts(r.Header.Get("Accept-Encoding")) {
			h.ServeHTTP(w, r)
			return
		}
		gw := &gzipWriter{ResponseWriter: w}
		defer gw.close()
		h.ServeHTTP(gw, r)
	})
}

// gzipMin is the smallest body worth compressing (about one TCP segment).
const gzipMin = 1400

var gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression); return w }}

// gzipWriter decides at WriteHeader whether the content type may be
// compressed, then holds the status and up to gzipMin bytes until it knows
// whether the body is large enough.
type gzipWriter struct {
	http.ResponseWriter
	decided bool // WriteHeader was called
	pending bool // eligible: status and buf held back, not yet sent
	status  int
	buf     []byte
	zw      *gzip.Writer
}

func (g *gzipWriter) WriteHeader(status int) {
	if g.decided {
		return
	}
	g.decided = true
	h := g.Header()
	ct := h.Get("Content-Type")
	if status != http.StatusNoContent && status != http.StatusNotModified && h.Get("Content-Encoding") == "" &&
		(strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/csv")) {
		g.pending, g.status = true, status
		return
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.decided {
		if g.Header().Get("Content-Type") == "" {
			g.Header().Set("Content-Type", http.DetectContentType(b))
		}
		g.WriteHeader(http.StatusOK)
	}
	if g.pending {
		if len(g.buf)+len(b) < gzipMin {
			g.buf = append(g.buf, b...)
			return len(b), nil
		}
		g.startGzip()
	}
	if g.zw != nil {
		return g.zw.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

// startGzip sends the held status with gzip headers and compresses what was held.
func (g *gzipWriter) startGzip() {
	g.pending = false
	h := g.Header()
	h.Del("Content-Length")
	h.Set("Content-Encoding", "gzip")
	g.ResponseWriter.WriteHeader(g.status)
	g.zw = gzipPool.Get().(*gzip.Writer)
	g.zw.Reset(g.ResponseWriter)
	_, _ = g.zw.Write(g.buf)
	g.buf = nil
}

// flushPlain sends the held status and body uncompressed.
func (g *gzipWriter) flushPlain() {
	g.pending = false
	g.Header().Set("Content-Length", strconv.Itoa(len(g.buf)))
	g.ResponseWriter.WriteHeader(g.status)
	_, _ = g.ResponseWriter.Write(g.buf)
	g.buf = nil
}

// Flush keeps server-sent events live.
func (g *gzipWriter) Flush() {
	if g.pending {
		g.startGzip()
	}
	if g.zw != nil {
		_ = g.zw.Flush()
	}
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *gzipWriter) close() {
	if g.pending {
		g.flushPlain()
	}
	if g.zw != nil {
		_ = g.zw.Close()
		g.zw.Reset(io.Discard)
		gzipPool.Put(g.zw)
		g.zw = nil
	}
}
