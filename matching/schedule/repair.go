package schedule

import "slices"

// repair runs after colouring: (1) an uncoloured edge tries to make room by
// moving one of its seeker's other interviews; (2) edges still uncoloured
// are dropped and their seekers try their next choices; (3) fairness:
// a seeker with no interview takes a free slot at a chosen booth, or one
// held by a seeker with three or more, then two or more, who then tries to
// re-place the lost interview elsewhere.
func (st *state) repair(progress func(done, total int)) {
	lost := make([]int, len(st.sk))
	n := len(st.edges)
	for e := range int32(n) {
		if st.edges[e].c < 0 && !st.moveOther(e) {
			st.edges[e].alive = false
			lost[st.edges[e].s]++
		}
	}
	progress(1, 3)
	for s := range st.sk {
		for ; lost[s] > 0 && st.tryAdd(int32(s)); lost[s]-- {
		}
	}
	progress(2, 3)
	for s := range int32(len(st.sk)) {
		if st.count(s) == 0 && len(st.sk[s].choices) > 0 && st.sk[s].cap > 0 {
			st.serveFirst(s)
		}
	}
	progress(3, 3)
}

// moveOther tries to colour e after moving one other interview of its seeker.
func (st *state) moveOther(e int32) bool {
	s := st.edges[e].s
	for _, u := range slices.Clone(st.sk[s].colours) {
		if u.edge < 0 {
			continue
		}
		o := u.edge
		ol, oc := st.edges[o].lane, st.edges[o].c
		st.unplace(o)
		if st.colourDirect(e) {
			if st.colourDirect(o) {
				return true
			}
			st.unplace(e)
		}
		st.place(o, ol, oc)
	}
	return false
}

func (st *state) hasBooth(s, b int32) bool {
	if containsB(st.sk[s].fixedB, b) {
		return true
	}
	for _, u := range st.sk[s].colours {
		if u.edge >= 0 && st.edges[u.edge].booth == b {
			return true
		}
	}
	return false
}

// tryAdd gives seeker s one more interview at its best choice that can
// still hold one.
func (st *state) tryAdd(s int32) bool {
	k := &st.sk[s]
	if st.count(s) >= k.cap {
		return false
	}
	for _, ch := range k.choices {
		if st.hasBooth(s, ch.booth) {
			continue
		}
		e := int32(len(st.edges))
		st.edges = append(st.edges, edge{s: s, booth: ch.booth, lane: -1, c: -1, score: ch.score, job: ch.job, alive: true})
		if st.colourDirect(e) || st.colourKempe(e) {
			return true
		}
		st.edges = st.edges[:e]
	}
	return false
}

// serveFirst gives seeker s (with no interview) one, bumping a seeker with
// three or more, then two or more, if every fitting slot is taken.
func (st *state) serveFirst(s int32) {
	if st.tryAdd(s) {
		return
	}
	k := &st.sk[s]
	for _, floor := range []int{3, 2} {
		best, bestCh := int32(-1), choice{}
		var bl, bc int32
		for _, ch := range k.choices {
			if containsB(k.fixedB, ch.booth) {
				continue
			}
			for _, l := range st.boothLane[ch.booth] {
				for c := range int32(st.P) {
					o := st.use[st.idx(l, c)]
					if o < 0 || !st.compat(s, c, -1) {
						continue
					}
					ow := st.edges[o].s
					if st.count(ow) < floor {
						continue
					}
					if best < 0 || st.count(ow) > st.count(st.edges[best].s) ||
						(st.count(ow) == st.count(st.edges[best].s) && st.edges[o].score < st.edges[best].score) {
						best, bestCh, bl, bc = o, ch, l, c
					}
				}
			}
		}
		if best < 0 {
			continue
		}
		victim := st.edges[best].s
		st.unplace(best)
		st.edges[best].alive = false
		e := int32(len(st.edges))
		st.edges = append(st.edges, edge{s: s, booth: bestCh.booth, lane: -1, c: -1, score: bestCh.score, job: bestCh.job, alive: true})
		st.place(e, bl, bc)
		st.tryAdd(victim)
		return
	}
}

// greedy is the baseline: all (seeker, booth) pairs by score, each placed
// in the first free fitting slot while the seeker is under its cap.
func (st *state) greedy() *Baseline {
	type pair struct {
		s  int32
		ch choice
	}
	var pairs []pair
	for s := range st.sk {
		for _, ch := range st.sk[s].choices {
			pairs = append(pairs, pair{int32(s), ch})
		}
	}
	slices.SortStableFunc(pairs, func(a, b pair) int {
		switch {
		case a.ch.score > b.ch.score:
			return -1
		case a.ch.score < b.ch.score:
			return 1
		}
		return 0
	})
	out := &Baseline{}
	for _, p := range pairs {
		if st.count(p.s) >= st.sk[p.s].cap || st.hasBooth(p.s, p.ch.booth) {
			continue
		}
		e := int32(len(st.edges))
		st.edges = append(st.edges, edge{s: p.s, booth: p.ch.booth, lane: -1, c: -1, score: p.ch.score, alive: true})
		if !st.colourDirect(e) {
			st.edges = st.edges[:e]
			continue
		}
		out.Interviews++
		out.Score += p.ch.score
	}
	for s := range int32(len(st.sk)) {
		if st.count(s) > 0 {
			out.SeekersWithOne++
		}
	}
	return out
}
