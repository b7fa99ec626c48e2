package matching

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Queries run while jobs are published and closed; -race checks the locking.
func TestConcurrentQueriesAndUpdates(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ss, js := randomWorld(rand.New(rand.NewPCG(1, 1)), 200, 500)
	ix, err := NewIndex(ss, js, opts())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for i := 0; i < 200 && ctx.Err() == nil; i++ {
				switch w {
				case 0:
					j := js[r.IntN(len(js))]
					j.ID = int64(5000 + i)
					ix.UpsertJob(j)
					_ = ix.SetJobActive(j.ID, i%2 == 0)
				case 1:
					if _, err := ix.TopCandidates(js[r.IntN(len(js))].ID, Query{K: 10}); err != nil && ctx.Err() == nil {
						continue // closed jobs answer Conflict
					}
				default:
					if _, err := ix.TopJobs(int64(1+r.IntN(len(ss))), Query{K: 10}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("timeout")
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, n := ix.Len(); n != 700 {
		t.Fatalf("jobs %d, want 700", n)
	}
}
