package booking_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// The booth-day read sends the cached answer as encoded once (gzipped to
// clients that take it), byte for byte what a fresh read gives, and stops
// doing so the moment its first slot starts.
func TestBoothSlotsEncodedOnce(t *testing.T) {
	start := time.Date(testDay.Year(), testDay.Month(), testDay.Day(), 8, 0, 0, 0, testDay.Location())
	e, clock := newEnvAt(t, start)
	booths, _ := e.booths(1)
	path := fmtPath("%s/api/v1/booths/%d/slots?date=%s", e.srv.URL, booths[0], testDay.Format(time.DateOnly))
	read := func(gz bool) (http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(e.ctx, http.MethodGet, path, nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		} else {
			req.Header.Set("Accept-Encoding", "identity")
		}
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
		if res.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return res.Header, b
	}
	_, first := read(false) // a miss: read, encoded, cached
	h, cached := read(true) // a hit, gzipped
	_, plain := read(false) // a hit, plain
	if h.Get("Content-Encoding") != "gzip" || !bytes.Equal(first, cached) || !bytes.Equal(first, plain) {
		t.Fatalf("cached answers differ (encoding %q):\n%s\n%s\n%s", h.Get("Content-Encoding"), first, cached, plain)
	}
	var ans struct {
		Slots []struct {
			ID    int64
			Start time.Time
		}
	}
	if err := json.Unmarshal(first, &ans); err != nil || len(ans.Slots) < 2 {
		t.Fatalf("answer %s (%v)", first, err)
	}
	// The first slot starts: the next answer (still within the cache's
	// second) no longer lists it.
	clock.Set(ans.Slots[0].Start)
	_, later := read(true)
	if err := json.Unmarshal(later, &ans); err != nil {
		t.Fatal(err)
	}
	for _, sl := range ans.Slots {
		if !sl.Start.After(clock.Now()) {
			t.Fatalf("slot %d starting %v listed at %v", sl.ID, sl.Start, clock.Now())
		}
	}
}
