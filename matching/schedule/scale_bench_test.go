//go:build matchbench

// The fair-day benchmark at the scale; not part of the regular run:
//
//	go test -tags matchbench -run TestScaleFairDay -v -timeout 10m ./matching/schedule/
package schedule_test

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"jobhall/matching/schedule"
	"jobhall/matching/schedule/verify"
)

// scaleFair: 2,410 booths with 1–3 lanes of 32 fifteen-minute slots
// (9:00–17:00), 25,000 seekers, 60% on site with arrival windows of 2–6
// hours, 40% remote all day; each has 10 matched booths drawn with a
// popularity skew. "tight": one lane per booth (77,120 lane slots for a
// demand of up to 75,000), 80% on site with 1.5–4 h windows, stronger skew.
// Both:
// popularity skew (some booths are wanted by many), scores in [0.3, 1).
func scaleFair(seed uint64, nSeekers, nBooths, nSlots int, tight bool) schedule.Problem {
	r := rand.New(rand.NewPCG(seed, 2410))
	lanes := make([]int, nBooths)
	for i := range lanes {
		lanes[i] = []int{1, 1, 1, 2, 2, 3}[r.IntN(6)]
		if tight {
			lanes[i] = 1
		}
	}
	skew, onsite, minStay, spread := 0.6, 6, 120, 240
	if tight {
		skew, onsite, minStay, spread = 1.0, 8, 90, 150
	}
	p := schedule.Problem{Booths: fair(lanes, nSlots)}
	// popularity: booth weight ~ 1/(rank^0.6), sampled by inverse CDF
	cum := make([]float64, nBooths)
	total := 0.0
	for i := range nBooths {
		total += 1 / math.Pow(float64(i+1), skew)
		cum[i] = total
	}
	pickBooth := func() int {
		x := r.Float64() * total
		lo, hi := 0, nBooths-1
		for lo < hi {
			m := (lo + hi) / 2
			if cum[m] < x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo
	}
	dayMin := nSlots * 15
	for i := range nSeekers {
		s := schedule.Seeker{ID: int64(1 + i), Mode: schedule.Remote}
		if r.IntN(10) < onsite {
			s.Mode = schedule.OnSite
			stay := minStay + r.IntN(spread)
			a := r.IntN(max(1, dayMin-stay))
			s.Arrive, s.Leave = at(a), at(a+stay)
		}
		seen := map[int]bool{}
		for len(s.Choices) < 10 {
			b := pickBooth()
			if seen[b] {
				continue
			}
			seen[b] = true
			s.Choices = append(s.Choices, schedule.Choice{BoothID: int64(100 + b), Score: 0.3 + 0.7*r.Float64()})
		}
		p.Seekers = append(p.Seekers, s)
	}
	return p
}

func TestScaleFairDay(t *testing.T) {
	for _, tight := range []bool{false, true} {
		t.Run(map[bool]string{false: "issue", true: "tight"}[tight], func(t *testing.T) { scaleRun(t, scaleFair(1, 25_000, 2_410, 32, tight)) })
	}
}

func scaleRun(t *testing.T, p schedule.Problem) {
	o := schedule.Options{MaxPerSeeker: 3, WalkGap: 5 * time.Minute, Greedy: true}
	runtime.GC()
	start := time.Now()
	res, err := schedule.Solve(context.Background(), p, o)
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	rep := res.Report
	vs := verify.Check(p, nil, res.Interviews, 3, 5*time.Minute)
	t.Logf("solve %.2fs (phases ms %v; greedy included)", wall.Seconds(), rep.PhaseMillis)
	t.Logf("seekers %d, booths %d, free lane slots %d, demand %d", rep.Seekers, rep.Booths, rep.FreeLaneSlots, rep.Demand)
	t.Logf("interviews %d, seekers with ≥1: %d (%.2f%%; flow bound %d), per count %v",
		rep.Interviews, rep.SeekersWithOne, 100*float64(rep.SeekersWithOne)/float64(rep.Seekers), rep.FlowWithOne, rep.PerCount)
	t.Logf("score %.1f, flow upper bound %.1f, gap %.3f%%, dropped by time %d", rep.Score, rep.FlowScore, 100*rep.Gap, rep.DroppedByTime)
	t.Logf("greedy: interviews %d, seekers with ≥1 %d (%.2f%%), score %.1f", rep.Greedy.Interviews, rep.Greedy.SeekersWithOne,
		100*float64(rep.Greedy.SeekersWithOne)/float64(rep.Seekers), rep.Greedy.Score)
	t.Logf("independent check: %d violations", len(vs))
	for _, v := range vs[:min(5, len(vs))] {
		t.Error(v)
	}
}
