package schedule

import (
	"context"
	"math"
)

// Cost units: a score of 1 is scoreUnit; a seeker's first interview is worth
// firstBonus, more than all scores together, so coverage comes first.
const (
	scoreUnit  = 100_000
	firstBonus = int64(1) << 50
)

// flow is the assignment network: seekers -> booths -> sink T, plus
// seekers -> T "unused" arcs carrying the first-interview bonus. Supplies
// sit on the seekers (their wanted interviews); every unit reaches T.
// Successive shortest paths: each seeker is added with a potential that
// keeps reduced costs non-negative (no arc enters it yet, so the flow stays
// optimal), then each of its units goes along a shortest path to T found by
// Dijkstra stopped at T. Optimal for the whole network at the end.
type flow struct {
	st       *state
	n, T     int32
	head     []int32 // per node: first arc (CSR)
	to       []int32
	capa     []int32
	cost     []int64
	rev      []int32
	h        []int64 // potentials
	demand   int
	capacity int
	servable []bool
	units    []int // per seeker
}

type arcSpec struct {
	from, to int32
	cap      int32
	cost     int64
}

func newFlow(st *state) *flow {
	S, B := int32(len(st.sk)), int32(len(st.boothID))
	f := &flow{st: st, n: S + B + 1, T: S + B, servable: make([]bool, S), units: make([]int, S)}
	// free lane slots per booth and period
	boothFree := make([]int32, int(B)*st.P)
	for l, ln := range st.lanes {
		for c := range int32(st.P) {
			if st.use[st.idx(int32(l), c)] == free {
				boothFree[int(ln.booth)*st.P+int(c)]++
				f.capacity++
			}
		}
	}
	var arcs []arcSpec
	for s := range S {
		k := &st.sk[s]
		want := min(k.cap-k.nFixed, st.maxNew(s))
		nArcs := 0
		for _, ch := range k.choices {
			if containsB(k.fixedB, ch.booth) {
				continue
			}
			ok := false
			for c := range int32(st.P) {
				if boothFree[int(ch.booth)*st.P+int(c)] > 0 && st.compat(s, c, -1) {
					ok = true
					break
				}
			}
			if ok {
				f.servable[s] = true
				nArcs++
				arcs = append(arcs, arcSpec{s, S + ch.booth, 1, -int64(math.Round(ch.score * scoreUnit))})
			}
		}
		want = min(want, nArcs)
		if !f.servable[s] || want <= 0 {
			continue
		}
		f.units[s] = want
		f.demand += want
		rest := int32(want)
		if k.nFixed == 0 {
			arcs = append(arcs, arcSpec{s, f.T, 1, firstBonus})
			rest--
		}
		if rest > 0 {
			arcs = append(arcs, arcSpec{s, f.T, rest, 0})
		}
	}
	for b := range B {
		var c int32
		for p := range st.P {
			c += boothFree[int(b)*st.P+p]
		}
		if c > 0 {
			arcs = append(arcs, arcSpec{S + b, f.T, c, 0})
		}
	}
	// CSR with paired reverse arcs: arc a's reverse is rev[a]
	deg := make([]int32, f.n+1)
	for _, a := range arcs {
		deg[a.from]++
		deg[a.to]++
	}
	f.head = make([]int32, f.n+1)
	for v := range f.n {
		f.head[v+1] = f.head[v] + deg[v]
	}
	m := len(arcs) * 2
	f.to, f.capa, f.cost = make([]int32, m), make([]int32, m), make([]int64, m)
	f.rev = make([]int32, m)
	fill := make([]int32, f.n)
	copy(fill, f.head[:f.n])
	for _, a := range arcs {
		x, y := fill[a.from], fill[a.to]
		fill[a.from]++
		fill[a.to]++
		f.to[x], f.capa[x], f.cost[x], f.rev[x] = a.to, a.cap, a.cost, y
		f.to[y], f.capa[y], f.cost[y], f.rev[y] = a.from, 0, -a.cost, x
	}
	f.h = make([]int64, f.n)
	return f
}

func containsB(bs []int32, b int32) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

type hitem struct {
	d int64
	v int32
}

func (f *flow) run(ctx context.Context, progress func(done, total int)) error {
	n := f.n
	dist := make([]int64, n)
	prev := make([]int32, n)
	seen := make([]uint32, n)
	done := make([]uint32, n)
	var gen uint32
	var heap []hitem
	var final []int32
	S := int32(len(f.st.sk))
	step := max(1, int(S)/100)
	for s := range S {
		if s%int32(step) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			progress(int(s), int(S))
		}
		if f.units[s] == 0 {
			continue
		}
		// a potential that makes the new seeker's arcs non-negative
		hs := int64(math.MinInt64)
		for a := f.head[s]; a < f.head[s+1]; a++ {
			if f.capa[a] > 0 {
				hs = max(hs, f.h[f.to[a]]-f.cost[a])
			}
		}
		f.h[s] = hs
		for range f.units[s] {
			gen++
			heap = heap[:0]
			final = final[:0]
			dist[s], seen[s] = 0, gen
			heap = push(heap, hitem{0, s})
			for len(heap) > 0 {
				var it hitem
				heap, it = pop(heap)
				v := it.v
				if done[v] == gen || it.d > dist[v] {
					continue
				}
				done[v] = gen
				final = append(final, v)
				if v == f.T {
					break
				}
				for a := f.head[v]; a < f.head[v+1]; a++ {
					if f.capa[a] <= 0 {
						continue
					}
					w := f.to[a]
					nd := it.d + f.cost[a] + f.h[v] - f.h[w]
					if done[w] != gen && (seen[w] != gen || nd < dist[w]) {
						seen[w], dist[w], prev[w] = gen, nd, a
						heap = push(heap, hitem{nd, w})
					}
				}
			}
			if done[f.T] != gen {
				break // cannot happen: the unused arc always leads to T
			}
			for v := f.T; v != s; {
				a := prev[v]
				f.capa[a]--
				f.capa[f.rev[a]]++
				v = f.to[f.rev[a]]
			}
			dT := dist[f.T]
			for _, v := range final {
				f.h[v] += dist[v] - dT
			}
		}
	}
	progress(int(S), int(S))
	return nil
}

// assignment reads the booths each seeker got.
func (f *flow) assignment() [][]choice {
	S := int32(len(f.st.sk))
	out := make([][]choice, S)
	for s := range S {
		for a := f.head[s]; a < f.head[s+1]; a++ {
			w := f.to[a]
			if w >= S && w < f.T && f.cost[a] <= 0 && f.capa[a] == 0 {
				b := w - S
				for _, ch := range f.st.sk[s].choices {
					if ch.booth == b {
						out[s] = append(out[s], ch)
						break
					}
				}
			}
		}
	}
	return out
}

// reducedCostsOK reports whether every residual arc has a non-negative
// reduced cost among the nodes added so far (an optimality certificate).
func (f *flow) reducedCostsOK() bool {
	S := int32(len(f.st.sk))
	for v := range f.n {
		if v < S && f.units[v] == 0 {
			continue
		}
		for a := f.head[v]; a < f.head[v+1]; a++ {
			w := f.to[a]
			if w < S && f.units[w] == 0 {
				continue
			}
			if f.capa[a] > 0 && v != f.T && f.cost[a]+f.h[v]-f.h[w] < 0 {
				return false
			}
		}
	}
	return true
}

func push(h []hitem, it hitem) []hitem {
	h = append(h, it)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].d <= h[i].d {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func pop(h []hitem) ([]hitem, hitem) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(h) && h[l].d < h[m].d {
			m = l
		}
		if l+1 < len(h) && h[l+1].d < h[m].d {
			m = l + 1
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return h, top
}
