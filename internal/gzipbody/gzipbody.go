// Package gzipbody holds what the page server and the booking API share
// about answers compressed once and sent many times: whether a request
// takes gzip, and a pooled compressor.
package gzipbody

import (
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Accepts reports whether an Accept-Encoding value takes gzip (named, or
// "*", with a non-zero quality).
func Accepts(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") || strings.TrimSpace(enc) == "*" {
			q := 1.0
			if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				q, _ = strconv.ParseFloat(v, 64)
			}
			return q > 0
		}
	}
	return false
}

// writers are reused: a new writer allocates its whole compressor.
var writers = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); return w }}

// Compress returns b gzipped at the fastest level, or nil on failure.
func Compress(b []byte) []byte {
	var z bytes.Buffer
	zw := writers.Get().(*gzip.Writer)
	defer writers.Put(zw)
	zw.Reset(&z)
	if _, err := zw.Write(b); err != nil || zw.Close() != nil {
		return nil
	}
	return z.Bytes()
}
