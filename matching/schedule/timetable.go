package schedule

import (
	"context"
	"slices"
)

// colourAll timetables the flow's edges: round k colours every seeker's
// k-th best edge, so first interviews get the pick of the slots; within a
// round, seekers with narrower windows go first.
func (st *state) colourAll(ctx context.Context, progress func(done, total int)) {
	bySeeker := make([][]int32, len(st.sk))
	for e := range st.edges {
		s := st.edges[e].s
		bySeeker[s] = append(bySeeker[s], int32(e))
	}
	order := make([]int32, 0, len(st.sk))
	for s := range st.sk {
		if len(bySeeker[s]) > 0 {
			order = append(order, int32(s))
		}
	}
	width := func(s int32) int64 {
		k := &st.sk[s]
		lo, hi := k.lo, k.hi
		if lo == 0 {
			lo = st.periods[0].start
		}
		if hi == 0 {
			hi = st.periods[st.P-1].end
		}
		return hi - lo
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		wa, wb := width(a), width(b)
		switch {
		case wa < wb:
			return -1
		case wa > wb:
			return 1
		}
		return 0
	})
	total, done := len(st.edges), 0
	step := max(1, total/100)
	for round := 0; ; round++ {
		any := false
		for _, s := range order {
			if round >= len(bySeeker[s]) {
				continue
			}
			any = true
			e := bySeeker[s][round] // edges per seeker are in choice order: best first
			if !st.colourDirect(e) {
				st.colourKempe(e)
			}
			done++
			if done%step == 0 {
				if ctx.Err() != nil {
					return
				}
				progress(done, total)
			}
		}
		if !any {
			break
		}
	}
	progress(total, total)
}

// colourDirect gives edge e a period free in one of its booth's lanes and
// open to its seeker, scanning periods from a seeker-dependent start so that
// lanes fill evenly.
func (st *state) colourDirect(e int32) bool {
	ed := &st.edges[e]
	off := int32(st.sk[ed.s].id % int64(st.P))
	if off < 0 {
		off += int32(st.P)
	}
	for i := range int32(st.P) {
		c := (off + i) % int32(st.P)
		if !st.compat(ed.s, c, e) {
			continue
		}
		for _, l := range st.boothLane[ed.booth] {
			if st.use[st.idx(l, c)] == free {
				st.place(e, l, c)
				return true
			}
		}
	}
	return false
}

const (
	maxKempePairs = 48
	maxPathLen    = 64
)

// colourKempe frees a period for edge e in one of its booth's lanes by
// flipping an alternating α/β path: α is open to the seeker but taken in the
// lane, β is free in the lane. Flips keep every inner vertex's set of
// periods, so only the path's last vertex needs checking.
func (st *state) colourKempe(e int32) bool {
	ed := &st.edges[e]
	tries := 0
	for _, l := range st.boothLane[ed.booth] {
		var alphas, betas []int32
		for c := range int32(st.P) {
			switch u := st.use[st.idx(l, c)]; {
			case u == free:
				betas = append(betas, c)
			case u >= 0 && st.compat(ed.s, c, e):
				alphas = append(alphas, c)
			}
		}
		for _, a := range alphas {
			for _, b := range betas {
				if tries++; tries > maxKempePairs {
					return false
				}
				if st.flip(l, a, b, ed.s) {
					st.place(e, l, a)
					return true
				}
			}
		}
	}
	return false
}

// flip swaps α and β along the path that starts with lane l's α edge.
func (st *state) flip(l, a, b, s int32) bool {
	var path []int32
	lane, onLane := l, true
	var sk int32
	col, other := a, b
	for len(path) < maxPathLen {
		if onLane {
			u := st.use[st.idx(lane, col)]
			if u == blocked {
				return false
			}
			if u == free {
				break
			}
			path = append(path, u)
			sk, onLane = st.edges[u].s, false
		} else {
			next := int32(-1)
			for _, x := range st.sk[sk].colours {
				if x.c == col {
					if x.edge < 0 {
						return false // a fixed interview is in the way
					}
					next = x.edge
				}
			}
			if next < 0 {
				break
			}
			path = append(path, next)
			lane, onLane = st.edges[next].lane, true
		}
		col, other = other, col
	}
	if len(path) == 0 || len(path) >= maxPathLen {
		return false
	}
	// the last edge changes colour; check its far end
	last := path[len(path)-1]
	cur := st.edges[last].c
	nc := a
	if cur == a {
		nc = b
	}
	if onLane {
		// path ended at a lane that lacks colour `col`; its last edge moves there
		if st.slotAt[st.idx(lane, nc)] < 0 || st.use[st.idx(lane, nc)] != free {
			return false
		}
	} else {
		if sk == s || !st.compat(sk, nc, last) {
			return false
		}
	}
	cols := make([]int32, len(path))
	lanes := make([]int32, len(path))
	for i, x := range path {
		cols[i], lanes[i] = st.edges[x].c, st.edges[x].lane
		st.unplace(x)
	}
	for i, x := range path {
		c := a
		if cols[i] == a {
			c = b
		}
		st.place(x, lanes[i], c)
	}
	return true
}
