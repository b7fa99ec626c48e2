package web

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"sync"

	"jobhall/internal/gzipbody"
)

// A page in bootPages, requested with the session cookie, is personal: it
// carries what Options.Boot returns for the request (the answers to the
// API calls the page would make first) as inert JSON at the end of the
// body, so a signed-in phone on a slow link renders without waiting for
// one more round trip. Such a response is never stored by any cache
// (private, no-store, no ETag) and varies by Cookie.
//
// The page's bytes up to </body> go out at once (precompressed at start)
// while Boot runs; the data and the page's end follow, compressed per
// request as further deflate blocks of the same gzip stream (the CRC of
// the whole body continues from the prefix's, so nothing before the data
// is compressed twice).
var bootPages = map[string]bool{"seeker.html": true}

// BootElementID is the id of the <script type="application/json"> element
// that holds a personal page's boot data.
const BootElementID = "jh-boot"

// Options configure NewHandler.
type Options struct {
	// SessionCookie names the cookie of a signed-in browser; a request to a
	// boot page that carries it gets the personal form. Empty: none.
	SessionCookie string
	// Boot returns, as a JSON object, the data a page (its file name, e.g.
	// "seeker.html") would fetch first for the request's session, or nil
	// (no session, another role, an error): the page then fetches it.
	Boot func(r *http.Request, page string) []byte
}

// split is a boot page cut before its last </body>, with the part before
// precompressed as an unfinished gzip stream.
type split struct {
	prefix, suffix []byte
	gzPrefix       []byte // gzip header + deflate blocks of prefix, ending on a sync flush
	crc            uint32 // CRC-32 of prefix
}

func newSplit(page []byte) *split {
	i := bytes.LastIndex(page, []byte("</body>"))
	if i < 0 {
		return nil
	}
	s := &split{prefix: page[:i], suffix: page[i:], crc: crc32.ChecksumIEEE(page[:i])}
	var buf bytes.Buffer
	// The gzip header (RFC 1952): magic, deflate, no flags, no time, OS unknown.
	buf.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	fw.Write(s.prefix)
	fw.Flush() // byte-aligned, not final: more blocks follow per request
	s.gzPrefix = buf.Bytes()
	return s
}

var flatePool = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.DefaultCompression); return w }}

// bootTag wraps data in an inert script element. It is escaped for HTML
// (<, >, & and the JavaScript line separators as \u escapes, which JSON
// reads back as the same characters), so nothing in it, not even a job
// title with "</script>" in it, can end the element, whatever the bytes.
// (Not validated here: the page parses it with JSON.parse and falls back
// to fetching when that fails.)
func bootTag(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(`<script type="application/json" id="` + BootElementID + `">`)
	json.HTMLEscape(&b, data)
	b.WriteString("</script>\n")
	return b.Bytes()
}

// servePersonal writes a boot page's personal form: headers and the
// page up to </body> at once, then Boot's data and the rest.
func servePersonal(w http.ResponseWriter, r *http.Request, a *asset, page string, boot func(*http.Request, string) []byte) {
	s := a.split
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "private, no-store")
	h.Add("Vary", "Accept-Encoding")
	gz := gzipbody.Accepts(r.Header.Get("Accept-Encoding"))
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodGet {
		return
	}
	if gz {
		_, _ = w.Write(s.gzPrefix)
	} else {
		_, _ = w.Write(s.prefix)
	}
	_ = http.NewResponseController(w).Flush() // the browser starts on the page meanwhile
	tail := append(bootTag(boot(r, page)), s.suffix...)
	if !gz {
		_, _ = w.Write(tail)
		return
	}
	fw := flatePool.Get().(*flate.Writer)
	fw.Reset(w)
	_, _ = fw.Write(tail)
	_ = fw.Close()
	fw.Reset(io.Discard)
	flatePool.Put(fw)
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc32.Update(s.crc, crc32.IEEETable, tail))
	binary.LittleEndian.PutUint32(trailer[4:], uint32(len(s.prefix)+len(tail)))
	_, _ = w.Write(trailer[:])
}

// personal reports whether r asks for a page's personal form.
func (o *Options) personal(r *http.Request, page string) bool {
	if o.Boot == nil || o.SessionCookie == "" || !bootPages[page] {
		return false
	}
	c, err := r.Cookie(o.SessionCookie)
	return err == nil && strings.TrimSpace(c.Value) != ""
}
