package booking_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBook books distinct slots for distinct seekers over real HTTP
// against the demo day (b.N is capped by the demo's free slots).
func BenchmarkBook(b *testing.B) {
	e := newEnv(b)
	rows, err := e.pool.Query(e.ctx, `SELECT s.id FROM slots s JOIN booths bo ON bo.id = s.booth_id WHERE bo.fair_id = $1 ORDER BY s.id`, e.fairID)
	if err != nil {
		b.Fatal(err)
	}
	var slots []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		slots = append(slots, id)
	}
	rows.Close()
	seekers := e.seekerIDs(2500)
	toks := e.signInAll("seeker", seekers)
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) - 1
			if i >= len(slots) {
				continue
			}
			// seeker i%2500 books slot i: the demo day's slots per seeker never overlap in time often
			// enough to matter; overlaps answer 409 and still measure a full round trip.
			r := e.book(toks[i%len(toks)], slots[i])
			if r.Status != http.StatusCreated && r.Status != http.StatusConflict {
				b.Fatalf("book: %d %s", r.Status, r.Raw)
			}
		}
	})
}

// BenchmarkBoothSlots reads one booth-day's free slots over real HTTP.
func BenchmarkBoothSlots(b *testing.B) {
	e := newEnv(b)
	booths, _ := e.booths(50)
	day := testDay.Format(time.DateOnly)
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := e.get(fmtPath("/api/v1/booths/%d/slots?date=%s", booths[int(next.Add(1))%len(booths)], day), "")
			if r.Status != http.StatusOK {
				b.Fatalf("slots: %d", r.Status)
			}
		}
	})
}
