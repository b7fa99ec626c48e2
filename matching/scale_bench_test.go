//go:build matchbench

// Matching latency at the scale; not part of the regular run:
//
//	go test -tags matchbench -run TestScaleMatching -v -timeout 20m ./matching/
//
// MATCH_SEEKERS and MATCH_JOBS shrink it.
package matching_test

import (
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"jobhall/matching"
	"jobhall/matching/synth"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func pct(d []time.Duration, q float64) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

func TestScaleMatching(t *testing.T) {
	nS, nJ := envInt("MATCH_SEEKERS", 1_600_000), envInt("MATCH_JOBS", 300_000)
	t0 := time.Now()
	p := synth.Generate(synth.Options{Seed: 1, Seekers: nS, Jobs: nJ})
	t.Logf("generated %d seekers, %d jobs in %.1fs", nS, nJ, time.Since(t0).Seconds())
	t0 = time.Now()
	ix, err := matching.NewIndex(p.Seekers, p.Jobs, matching.Options{Now: func() time.Time { return p.Now }})
	if err != nil {
		t.Fatal(err)
	}
	build := time.Since(t0)
	p.Seekers, p.Jobs = nil, nil // keep only the index
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("index built in %.1fs; live heap %.0f MiB", build.Seconds(), float64(ms.HeapAlloc)/(1<<20))

	r := rand.New(rand.NewPCG(9, 9))
	measure := func(name string, n int, f func() (matching.Page, error)) {
		for range 20 { // warm the pools
			f()
		}
		lat := make([]time.Duration, 0, n)
		items, cands := 0, 0
		for range n {
			s := time.Now()
			pg, err := f()
			lat = append(lat, time.Since(s))
			if err != nil {
				continue // a closed job: skipped
			}
			items += len(pg.Items)
			cands += pg.Considered
		}
		t.Logf("%s: n=%d p50 %v p95 %v p99 %v max %v; mean items %.1f, mean candidates scored %.0f",
			name, n, pct(lat, 0.5).Round(10*time.Microsecond), pct(lat, 0.95).Round(10*time.Microsecond),
			pct(lat, 0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), float64(items)/float64(n), float64(cands)/float64(n))
	}
	measure("seeker feed top-50", 2000, func() (matching.Page, error) {
		return ix.TopJobs(int64(1+r.IntN(nS)), matching.Query{K: 50})
	})
	measure("candidates for a job top-50", 1000, func() (matching.Page, error) {
		return ix.TopCandidates(int64(1+r.IntN(nJ)), matching.Query{K: 50})
	})
	measure("seeker feed top-50, page 3 with filters", 500, func() (matching.Page, error) {
		return ix.TopJobs(int64(1+r.IntN(nS)), matching.Query{K: 50, Offset: 100, MaxDistanceKm: 20, MinSalary: 5000})
	})
	runtime.KeepAlive(ix)
}
