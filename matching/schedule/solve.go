package schedule

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"jobhall/internal/apperr"
)

type period struct{ start, end int64 } // unix seconds

type laneInfo struct {
	booth int32
	lane  int
}

type slotRef struct {
	id         int64
	lane       int32
	c          int32
	start, end time.Time // as given, time zone kept
}

type used struct {
	c    int32
	edge int32 // -1: a fixed interview
}

type seekerState struct {
	id      int64
	onsite  bool
	lo, hi  int64 // window, 0 = open
	cap     int   // total cap
	nFixed  int
	fixedB  []int32 // booths with a fixed interview
	colours []used
	choices []choice
	want    int // new interviews the flow may give
}

type choice struct {
	booth int32
	score float64
	job   int64
}

type edge struct {
	s, booth int32
	lane, c  int32 // -1 until timetabled
	score    float64
	job      int64
	alive    bool
}

// state is the timetable under construction.
type state struct {
	P         int
	periods   []period
	notBefore int64
	walkGap   int64
	lanes     []laneInfo
	boothID   []int64
	boothLane [][]int32
	slotAt    []int32 // lane*P+c -> slot index, -1 none
	use       []int32 // lane*P+c -> edge, free -1, fixed -2
	slots     []slotRef
	sk        []seekerState
	edges     []edge
}

const (
	free    = -1
	blocked = -2
)

func (st *state) idx(l, c int32) int32 { return l*int32(st.P) + c }

// compat reports whether seeker s can take period c, ignoring its edge except.
func (st *state) compat(s, c, except int32) bool {
	p := st.periods[c]
	k := &st.sk[s]
	if p.start < st.notBefore || (k.lo != 0 && p.start < k.lo) || (k.hi != 0 && p.end > k.hi) {
		return false
	}
	gap := int64(0)
	if k.onsite {
		gap = st.walkGap
	}
	for _, u := range k.colours {
		if u.edge == except && except >= 0 {
			continue
		}
		q := st.periods[u.c]
		if !(p.start >= q.end+gap || q.start >= p.end+gap) {
			return false
		}
	}
	return true
}

func (st *state) place(e, l, c int32) {
	ed := &st.edges[e]
	ed.lane, ed.c = l, c
	st.use[st.idx(l, c)] = e
	st.sk[ed.s].colours = append(st.sk[ed.s].colours, used{c, e})
}

func (st *state) unplace(e int32) {
	ed := &st.edges[e]
	if ed.c < 0 {
		return
	}
	st.use[st.idx(ed.lane, ed.c)] = free
	k := &st.sk[ed.s]
	k.colours = slices.DeleteFunc(k.colours, func(u used) bool { return u.edge == e })
	ed.lane, ed.c = -1, -1
}

// count is the seeker's interviews, fixed and placed.
func (st *state) count(s int32) int { return len(st.sk[s].colours) }

// build validates p and indexes it.
func build(p *Problem, o Options) (*state, error) {
	if len(p.Booths) == 0 {
		return nil, apperr.New(apperr.Invalid, "the fair has no booths")
	}
	st := &state{walkGap: int64(o.WalkGap / time.Second)}
	if !p.NotBefore.IsZero() {
		st.notBefore = p.NotBefore.Unix()
	}
	// periods: the distinct (start, end) of all slots
	pset := map[period]int32{}
	nSlots := 0
	for _, b := range p.Booths {
		for _, l := range b.Lanes {
			for _, s := range l.Slots {
				if !s.End.After(s.Start) {
					return nil, apperr.New(apperr.Invalid, "booth %d lane %d: slot %d ends before it starts", b.ID, l.Lane, s.ID)
				}
				pset[period{s.Start.Unix(), s.End.Unix()}] = 0
				nSlots++
			}
		}
	}
	if nSlots == 0 {
		return nil, apperr.New(apperr.Invalid, "the fair's booths have no slots")
	}
	for pr := range pset {
		st.periods = append(st.periods, pr)
	}
	slices.SortFunc(st.periods, func(a, b period) int {
		if a.start != b.start {
			return int(a.start - b.start)
		}
		return int(a.end - b.end)
	})
	for i, pr := range st.periods {
		pset[pr] = int32(i)
	}
	st.P = len(st.periods)

	boothIdx := make(map[int64]int32, len(p.Booths))
	slotIdx := make(map[int64]int32, nSlots)
	for bi, b := range p.Booths {
		if _, dup := boothIdx[b.ID]; dup {
			return nil, apperr.New(apperr.Invalid, "booth %d listed twice", b.ID)
		}
		boothIdx[b.ID] = int32(bi)
		st.boothID = append(st.boothID, b.ID)
		var ls []int32
		seenLane := map[int]bool{}
		for _, l := range b.Lanes {
			if seenLane[l.Lane] {
				return nil, apperr.New(apperr.Invalid, "booth %d: lane %d listed twice", b.ID, l.Lane)
			}
			seenLane[l.Lane] = true
			li := int32(len(st.lanes))
			st.lanes = append(st.lanes, laneInfo{int32(bi), l.Lane})
			ls = append(ls, li)
			for range st.P {
				st.slotAt = append(st.slotAt, free)
				st.use = append(st.use, blocked)
			}
			for _, s := range l.Slots {
				if _, dup := slotIdx[s.ID]; dup {
					return nil, apperr.New(apperr.Invalid, "slot %d listed twice", s.ID)
				}
				c := pset[period{s.Start.Unix(), s.End.Unix()}]
				// slots of one lane must not overlap
				for c2 := range int32(st.P) {
					if st.slotAt[st.idx(li, c2)] >= 0 && overlaps(st.periods[c], st.periods[c2]) {
						return nil, apperr.New(apperr.Invalid, "booth %d lane %d: slots %d and %d overlap", b.ID, l.Lane, s.ID, st.slots[st.slotAt[st.idx(li, c2)]].id)
					}
				}
				slotIdx[s.ID] = int32(len(st.slots))
				st.slotAt[st.idx(li, c)] = int32(len(st.slots))
				st.slots = append(st.slots, slotRef{s.ID, li, c, s.Start, s.End})
				if st.periods[c].start >= st.notBefore {
					st.use[st.idx(li, c)] = free
				}
			}
		}
		st.boothLane = append(st.boothLane, ls)
	}

	maxCap := o.MaxPerSeeker
	if maxCap < 1 {
		return nil, apperr.New(apperr.Invalid, "the cap per seeker must be at least 1")
	}
	seekerIdx := make(map[int64]int32, len(p.Seekers))
	for si, s := range p.Seekers {
		if _, dup := seekerIdx[s.ID]; dup {
			return nil, apperr.New(apperr.Invalid, "seeker %d listed twice", s.ID)
		}
		seekerIdx[s.ID] = int32(si)
		k := seekerState{id: s.ID, onsite: s.Mode == OnSite, cap: s.Cap}
		if k.cap <= 0 {
			k.cap = maxCap
		}
		if !s.Arrive.IsZero() {
			k.lo = s.Arrive.Unix()
		}
		if !s.Leave.IsZero() {
			k.hi = s.Leave.Unix()
		}
		if k.lo != 0 && k.hi != 0 && k.hi <= k.lo {
			return nil, apperr.New(apperr.Invalid, "seeker %d: leaves before arriving", s.ID)
		}
		var cs []choice
		for _, ch := range s.Choices {
			b, ok := boothIdx[ch.BoothID]
			if !ok {
				return nil, apperr.New(apperr.NotFound, "seeker %d: booth %d is not in this fair", s.ID, ch.BoothID)
			}
			if math.IsNaN(ch.Score) || ch.Score < 0 || ch.Score > 1 {
				return nil, apperr.New(apperr.Invalid, "seeker %d: score %v for booth %d is outside [0,1]", s.ID, ch.Score, ch.BoothID)
			}
			cs = append(cs, choice{b, ch.Score, ch.JobID})
		}
		slices.SortStableFunc(cs, func(a, b choice) int {
			switch {
			case a.score > b.score:
				return -1
			case a.score < b.score:
				return 1
			}
			return 0
		})
		seenB := map[int32]bool{}
		for _, ch := range cs {
			if !seenB[ch.booth] { // one interview per booth: keep the best choice
				seenB[ch.booth] = true
				k.choices = append(k.choices, ch)
			}
		}
		st.sk = append(st.sk, k)
	}

	for _, f := range p.Fixed {
		si, ok := slotIdx[f.SlotID]
		if !ok {
			return nil, apperr.New(apperr.NotFound, "fixed interview: slot %d is not in this fair", f.SlotID)
		}
		sr := st.slots[si]
		ln := st.lanes[sr.lane]
		if st.boothID[ln.booth] != f.BoothID || ln.lane != f.Lane {
			return nil, apperr.New(apperr.Invalid, "fixed interview: slot %d is booth %d lane %d, not booth %d lane %d", f.SlotID, st.boothID[ln.booth], ln.lane, f.BoothID, f.Lane)
		}
		i := st.idx(sr.lane, sr.c)
		if st.use[i] == -3 {
			return nil, apperr.New(apperr.Conflict, "fixed interviews share slot %d", f.SlotID)
		}
		st.use[i] = -3 // marks "taken by fixed" during this loop
		if s, ok := seekerIdx[f.SeekerID]; ok {
			k := &st.sk[s]
			for _, u := range k.colours {
				if overlaps(st.periods[u.c], st.periods[sr.c]) {
					return nil, apperr.New(apperr.Conflict, "fixed interviews of seeker %d overlap", f.SeekerID)
				}
			}
			k.colours = append(k.colours, used{sr.c, -1})
			k.nFixed++
			k.fixedB = append(k.fixedB, ln.booth)
		}
	}
	for i, u := range st.use {
		if u == -3 {
			st.use[i] = blocked
		}
	}
	return st, nil
}

func overlaps(a, b period) bool { return a.start < b.end && b.start < a.end }

// maxNew is how many more interviews seeker s could hold by time alone:
// earliest-end-first over the periods it can take.
func (st *state) maxNew(s int32) int {
	k := &st.sk[s]
	saved := k.colours
	k.colours = slices.Clone(saved)
	n := 0
	for c := range int32(st.P) { // periods sorted by start; earliest-end-first is close enough for equal grids
		if st.compat(s, c, -1) {
			k.colours = append(k.colours, used{c, -2})
			n++
		}
	}
	k.colours = saved
	return n
}

// Solve schedules the fair. ctx cancels a long run (checked between seekers).
func Solve(ctx context.Context, p Problem, o Options) (Result, error) {
	o = o.withDefaults()
	prog := func(phase string, done, total int) {
		if o.Progress != nil {
			o.Progress(Progress{phase, done, total})
		}
	}
	rep := Report{PhaseMillis: map[string]int64{}}
	t0 := time.Now()
	lap := func(name string) {
		rep.PhaseMillis[name] = time.Since(t0).Milliseconds()
		t0 = time.Now()
	}
	prog("validate", 0, 1)
	st, err := build(&p, o)
	if err != nil {
		return Result{}, fmt.Errorf("schedule: %w", err)
	}
	lap("validate")

	fl := newFlow(st)
	rep.Demand, rep.FreeLaneSlots = fl.demand, fl.capacity
	if err := fl.run(ctx, func(d, t int) { prog("flow", d, t) }); err != nil {
		return Result{}, fmt.Errorf("schedule: %w", apperr.Wrap(err, apperr.Unavailable, "scheduling was cancelled"))
	}
	flowEdges := fl.assignment()
	for s := range st.sk {
		n := st.sk[s].nFixed
		for _, e := range flowEdges[s] {
			rep.FlowScore += e.score
			n++
		}
		if n > 0 {
			rep.FlowWithOne++
		}
	}
	lap("flow")

	for s, es := range flowEdges {
		for _, e := range es {
			st.edges = append(st.edges, edge{s: int32(s), booth: e.booth, lane: -1, c: -1, score: e.score, job: e.job, alive: true})
		}
	}
	st.colourAll(ctx, func(d, t int) { prog("timetable", d, t) })
	lap("timetable")
	for _, e := range st.edges {
		if e.c < 0 {
			rep.DroppedByTime++
		}
	}
	st.repair(func(d, t int) { prog("repair", d, t) })
	lap("repair")
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("schedule: %w", apperr.Wrap(err, apperr.Unavailable, "scheduling was cancelled"))
	}

	res := Result{Interviews: st.interviews()}
	st.summarize(&rep, fl)
	for _, iv := range res.Interviews {
		rep.Score += iv.Score
	}
	if rep.FlowScore > 0 {
		rep.Gap = (rep.FlowScore - rep.Score) / rep.FlowScore
	}
	if o.Greedy {
		prog("greedy", 0, 1)
		g, err := build(&p, o)
		if err != nil {
			return Result{}, fmt.Errorf("schedule: %w", err)
		}
		rep.Greedy = g.greedy()
		lap("greedy")
	}
	res.Report = rep
	prog("done", 1, 1)
	return res, nil
}

func (st *state) interviews() []Interview {
	var out []Interview
	for _, e := range st.edges {
		if !e.alive || e.c < 0 {
			continue
		}
		sl := st.slots[st.slotAt[st.idx(e.lane, e.c)]]
		out = append(out, Interview{
			SeekerID: st.sk[e.s].id, BoothID: st.boothID[e.booth], Lane: st.lanes[e.lane].lane, SlotID: sl.id,
			Start: sl.start, End: sl.end, Score: e.score, JobID: e.job,
		})
	}
	return out
}

func (st *state) summarize(rep *Report, fl *flow) {
	rep.Seekers, rep.Booths = len(st.sk), len(st.boothID)
	for s := range st.sk {
		n := st.count(int32(s))
		for len(rep.PerCount) <= n {
			rep.PerCount = append(rep.PerCount, 0)
		}
		rep.PerCount[n]++
		if n > 0 {
			rep.SeekersWithOne++
		}
		if fl.servable[s] {
			rep.Servable++
		}
		if n == 0 {
			reason := "capacity"
			switch {
			case len(st.sk[s].choices) == 0:
				reason = "no_choices"
			case !fl.servable[s]:
				reason = "no_time"
			}
			rep.Unserved = append(rep.Unserved, Unserved{st.sk[s].id, reason})
		}
	}
	for _, e := range st.edges {
		if e.alive && e.c >= 0 {
			rep.Interviews++
		}
	}
}
