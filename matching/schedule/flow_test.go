package schedule

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestFlowIsOptimal compares the flow with exhaustive search on tiny
// instances: most seekers with one interview first, then the best score.
func TestFlowIsOptimal(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 1))
		nS, nB := 2+r.IntN(4), 1+r.IntN(3)
		p := Problem{}
		id := int64(1)
		for b := range nB {
			bo := Booth{ID: int64(b)}
			ln := Lane{Lane: 1}
			for k := range 1 + r.IntN(3) {
				start := time.Unix(int64(k)*900, 0)
				ln.Slots = append(ln.Slots, Slot{ID: id, Start: start, End: start.Add(15 * time.Minute)})
				id++
			}
			bo.Lanes = []Lane{ln}
			p.Booths = append(p.Booths, bo)
		}
		for s := range nS {
			sk := Seeker{ID: int64(s), Mode: Remote, Cap: 1 + r.IntN(2)}
			for b := range nB {
				if r.IntN(3) > 0 {
					sk.Choices = append(sk.Choices, Choice{BoothID: int64(b), Score: float64(r.IntN(100)) / 100})
				}
			}
			p.Seekers = append(p.Seekers, sk)
		}
		st, err := build(&p, Options{MaxPerSeeker: 3}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		fl := newFlow(st)
		if err := fl.run(context.Background(), func(int, int) {}); err != nil {
			t.Fatal(err)
		}
		if !fl.reducedCostsOK() {
			t.Fatalf("seed %d: negative reduced cost left", seed)
		}
		got := objective(fl.assignment())
		best := bruteForce(st)
		if math.Abs(got-best) > 1e-6 {
			t.Fatalf("seed %d: flow %v, optimum %v", seed, got, best)
		}
	}
}

func objective(a [][]choice) float64 {
	v := 0.0
	for _, cs := range a {
		if len(cs) > 0 {
			v += 1000
		}
		for _, c := range cs {
			v += c.score
		}
	}
	return v
}

// bruteForce tries every subset of (seeker, booth) pairs within caps and
// booth capacities (time is ignored, as in the flow).
func bruteForce(st *state) float64 {
	type pr struct {
		s int
		c choice
	}
	var pairs []pr
	for s, k := range st.sk {
		for _, c := range k.choices {
			pairs = append(pairs, pr{s, c})
		}
	}
	capB := make([]int, len(st.boothID))
	for l, ln := range st.lanes {
		for c := range int32(st.P) {
			if st.use[st.idx(int32(l), c)] == free {
				capB[ln.booth]++
			}
		}
	}
	best := 0.0
	for mask := 0; mask < 1<<len(pairs); mask++ {
		per := make([][]choice, len(st.sk))
		useB := make([]int, len(st.boothID))
		ok := true
		for i, p := range pairs {
			if mask&(1<<i) != 0 {
				per[p.s] = append(per[p.s], p.c)
				useB[p.c.booth]++
				if useB[p.c.booth] > capB[p.c.booth] || len(per[p.s]) > min(st.sk[p.s].cap, st.P) {
					ok = false
					break
				}
			}
		}
		if ok {
			best = max(best, objective(per))
		}
	}
	return best
}
