package gzipbody

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

func TestAccepts(t *testing.T) {
	for ae, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "br, *": true, "*;q=0": false, "identity": false,
	} {
		if got := Accepts(ae); got != want {
			t.Errorf("Accepts(%q) = %v, want %v", ae, got, want)
		}
	}
}

func TestCompress(t *testing.T) {
	in := bytes.Repeat([]byte(`{"slot":1}`), 500)
	for range 2 { // the second from the pool
		zr, err := gzip.NewReader(bytes.NewReader(Compress(in)))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	}
}
