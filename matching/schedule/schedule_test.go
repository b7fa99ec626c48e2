package schedule_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"jobhall/internal/apperr"
	"jobhall/matching/schedule"
	"jobhall/matching/schedule/verify"
)

var day = time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))

func at(min int) time.Time { return day.Add(time.Duration(min) * time.Minute) }

// fair builds booths with the given lanes, each with n 15-minute slots from 9:00.
func fair(lanes []int, n int) []schedule.Booth {
	var bs []schedule.Booth
	id := int64(1)
	for b, nl := range lanes {
		booth := schedule.Booth{ID: int64(100 + b)}
		for l := 1; l <= nl; l++ {
			lane := schedule.Lane{Lane: l}
			for k := range n {
				lane.Slots = append(lane.Slots, schedule.Slot{ID: id, Start: at(15 * k), End: at(15*k + 15)})
				id++
			}
			booth.Lanes = append(booth.Lanes, lane)
		}
		bs = append(bs, booth)
	}
	return bs
}

func randomProblem(r *rand.Rand, nSeekers, nBooths, nSlots int) schedule.Problem {
	lanes := make([]int, nBooths)
	for i := range lanes {
		lanes[i] = 1 + r.IntN(3)
	}
	p := schedule.Problem{Booths: fair(lanes, nSlots)}
	for i := range nSeekers {
		s := schedule.Seeker{ID: int64(1 + i), Mode: schedule.Mode(r.IntN(2))}
		if r.IntN(3) > 0 {
			a := r.IntN(nSlots * 15 / 2)
			s.Arrive, s.Leave = at(a), at(a+60+r.IntN(nSlots*15/2))
		}
		if r.IntN(10) == 0 {
			s.Cap = 1 + r.IntN(4)
		}
		for _, b := range r.Perm(nBooths)[:min(nBooths, 2+r.IntN(6))] {
			s.Choices = append(s.Choices, schedule.Choice{BoothID: int64(100 + b), Score: float64(r.IntN(1000)) / 1000, JobID: int64(b)})
		}
		p.Seekers = append(p.Seekers, s)
	}
	return p
}

func mustCheck(t *testing.T, p schedule.Problem, res schedule.Result, o schedule.Options) {
	t.Helper()
	if vs := verify.Check(p, p.Fixed, res.Interviews, o.MaxPerSeeker, o.WalkGap); len(vs) > 0 {
		for _, v := range vs[:min(10, len(vs))] {
			t.Error(v)
		}
		t.Fatalf("%d violations", len(vs))
	}
}

func TestRandomSchedulesMeetEveryConstraint(t *testing.T) {
	o := schedule.Options{MaxPerSeeker: 3, WalkGap: 5 * time.Minute, Greedy: true}
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 99))
		// from scarce to ample capacity
		p := randomProblem(r, 40+r.IntN(300), 3+r.IntN(20), 6+r.IntN(16))
		res, err := schedule.Solve(context.Background(), p, o)
		if err != nil {
			t.Fatal(err)
		}
		mustCheck(t, p, res, o)
		rep := res.Report
		if rep.Interviews != len(res.Interviews) || rep.SeekersWithOne > rep.FlowWithOne ||
			(rep.SeekersWithOne == rep.FlowWithOne && rep.Score > rep.FlowScore+1e-9) {
			t.Fatalf("seed %d: report inconsistent: %+v", seed, rep)
		}
		if rep.Greedy == nil || rep.Greedy.SeekersWithOne > rep.FlowWithOne {
			t.Fatalf("seed %d: greedy %+v beats the flow bound %d", seed, rep.Greedy, rep.FlowWithOne)
		}
		t.Logf("seed %d: %d seekers, %d with one (flow %d, greedy %d), score %.1f of %.1f (gap %.2f%%), dropped by time %d",
			seed, rep.Seekers, rep.SeekersWithOne, rep.FlowWithOne, rep.Greedy.SeekersWithOne, rep.Score, rep.FlowScore, 100*rep.Gap, rep.DroppedByTime)
	}
}

func TestFairnessBeatsGreedy(t *testing.T) {
	// A likes all three one-slot booths best; B can only use booth 100.
	p := schedule.Problem{Booths: fair([]int{1, 1, 1}, 1), Seekers: []schedule.Seeker{
		{ID: 1, Mode: schedule.Remote, Choices: []schedule.Choice{{BoothID: 100, Score: 0.9}, {BoothID: 101, Score: 0.9}, {BoothID: 102, Score: 0.9}}},
		{ID: 2, Mode: schedule.Remote, Choices: []schedule.Choice{{BoothID: 100, Score: 0.2}}},
	}}
	// one slot per booth at the same time: A can have only one anyway, so use a longer grid
	p.Booths = fair([]int{1, 1, 1}, 3)
	for i := range p.Booths {
		p.Booths[i].Lanes[0].Slots = p.Booths[i].Lanes[0].Slots[i : i+1] // booth i has only slot i
	}
	o := schedule.Options{MaxPerSeeker: 3, Greedy: true}
	res, err := schedule.Solve(context.Background(), p, o)
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, p, res, o)
	got := map[int64]int{}
	for _, iv := range res.Interviews {
		got[iv.SeekerID]++
	}
	if got[1] != 2 || got[2] != 1 {
		t.Fatalf("want A 2, B 1; got %v", got)
	}
	if res.Report.Greedy.SeekersWithOne != 1 || res.Report.SeekersWithOne != 2 {
		t.Fatalf("greedy should serve 1, scheduler 2: %+v", res.Report)
	}
}

func TestWalkingGapOnSiteOnly(t *testing.T) {
	// two booths, two back-to-back slots in the seeker's window
	bs := fair([]int{1, 1}, 2)
	for _, mode := range []schedule.Mode{schedule.OnSite, schedule.Remote} {
		p := schedule.Problem{Booths: bs, Seekers: []schedule.Seeker{{ID: 1, Mode: mode, Arrive: at(0), Leave: at(30),
			Choices: []schedule.Choice{{BoothID: 100, Score: 0.5}, {BoothID: 101, Score: 0.6}}}}}
		o := schedule.Options{MaxPerSeeker: 3, WalkGap: 5 * time.Minute}
		res, err := schedule.Solve(context.Background(), p, o)
		if err != nil {
			t.Fatal(err)
		}
		mustCheck(t, p, res, o)
		want := map[schedule.Mode]int{schedule.OnSite: 1, schedule.Remote: 2}[mode]
		if len(res.Interviews) != want {
			t.Fatalf("mode %d: %d interviews, want %d", mode, len(res.Interviews), want)
		}
		if mode == schedule.OnSite && res.Interviews[0].BoothID != 101 {
			t.Fatalf("on-site seeker should get the better booth: %+v", res.Interviews)
		}
	}
}

func TestCheckerCatchesViolations(t *testing.T) {
	bs := fair([]int{1, 1}, 4)
	p := schedule.Problem{Booths: bs, Seekers: []schedule.Seeker{
		{ID: 1, Mode: schedule.OnSite, Arrive: at(0), Leave: at(45), Choices: []schedule.Choice{{BoothID: 100, Score: 0.5}, {BoothID: 101, Score: 0.5}}},
		{ID: 2, Mode: schedule.Remote, Choices: []schedule.Choice{{BoothID: 100, Score: 0.5}}},
	}}
	iv := func(seeker, booth int64, k int) schedule.Interview {
		slot := int64(1 + k)
		if booth == 101 {
			slot += 4
		}
		return schedule.Interview{SeekerID: seeker, BoothID: booth, Lane: 1, SlotID: slot, Start: at(15 * k), End: at(15*k + 15), Score: 0.5}
	}
	cases := map[string][]schedule.Interview{
		"lane":     {iv(1, 100, 0), iv(2, 100, 0)},
		"seeker":   {iv(1, 100, 1), iv(1, 101, 1), iv(2, 100, 0)},
		"gap":      {iv(1, 100, 0), iv(1, 101, 1), iv(2, 100, 3)},
		"window":   {iv(1, 100, 3), iv(2, 100, 0)},
		"choice":   {iv(2, 101, 0), iv(1, 100, 0)},
		"fairness": {iv(1, 100, 0)},
	}
	for rule, ivs := range cases {
		vs := verify.Check(p, nil, ivs, 3, 5*time.Minute)
		found := false
		for _, v := range vs {
			found = found || v.Rule == rule
		}
		if !found {
			t.Errorf("%s not caught: %v", rule, vs)
		}
	}
}

func TestIncrementalKeepsNotified(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	p := randomProblem(r, 200, 10, 16)
	o := schedule.Options{MaxPerSeeker: 3, WalkGap: 5 * time.Minute}
	first, err := schedule.Solve(context.Background(), p, o)
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, p, first, o)
	notified := map[int64]bool{} // by slot id
	for i, iv := range first.Interviews {
		if i%2 == 0 {
			notified[iv.SlotID] = true
		}
	}
	var cancel, noShow []int64
	for _, iv := range first.Interviews[:20] {
		if notified[iv.SlotID] && len(cancel) < 3 {
			cancel = append(cancel, iv.SlotID)
		}
	}
	noShow = append(noShow, first.Interviews[1].SeekerID)
	walkIns := randomProblem(r, 30, 10, 16).Seekers
	for i := range walkIns {
		walkIns[i].ID += 10_000
	}
	now := at(60)
	next, err := schedule.Replan(p, first.Interviews, schedule.Changes{
		Now: now, Notified: func(iv schedule.Interview) bool { return notified[iv.SlotID] },
		WalkIns: walkIns, Cancelled: cancel, NoShows: noShow,
	})
	if err != nil {
		t.Fatal(err)
	}
	second, err := schedule.Solve(context.Background(), next, o)
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, next, second, o)
	// every notified interview that was not cancelled and not a no-show's future one is still there, unchanged
	fixed := map[int64]schedule.Interview{}
	for _, iv := range next.Fixed {
		fixed[iv.SlotID] = iv
	}
	kept := 0
	for _, iv := range first.Interviews {
		gone := iv.SeekerID == noShow[0] && !iv.Start.Before(now)
		for _, c := range cancel {
			gone = gone || c == iv.SlotID
		}
		if notified[iv.SlotID] && !gone {
			if fixed[iv.SlotID] != iv {
				t.Fatalf("notified interview moved or lost: %+v", iv)
			}
			kept++
		}
		if gone {
			if _, still := fixed[iv.SlotID]; still {
				t.Fatalf("cancelled or no-show interview kept: %+v", iv)
			}
		}
	}
	for _, iv := range second.Interviews {
		if _, clash := fixed[iv.SlotID]; clash || iv.Start.Before(now) {
			t.Fatalf("new interview on a fixed slot or in the past: %+v", iv)
		}
	}
	walkInServed := 0
	for _, iv := range second.Interviews {
		if iv.SeekerID > 10_000 {
			walkInServed++
		}
	}
	if kept == 0 || walkInServed == 0 {
		t.Fatalf("kept %d notified, %d walk-in interviews", kept, walkInServed)
	}
	if _, err := schedule.Replan(next, nil, schedule.Changes{Now: now, WalkIns: walkIns[:1]}); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("walk-in twice: %v", err)
	}
	if _, err := schedule.Replan(next, nil, schedule.Changes{Now: now, NoShows: []int64{999_999}}); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("unknown no-show: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	ok := schedule.Problem{Booths: fair([]int{1}, 2), Seekers: []schedule.Seeker{{ID: 1, Choices: []schedule.Choice{{BoothID: 100, Score: 0.5}}}}}
	edit := func(f func(p *schedule.Problem)) schedule.Problem {
		p := ok
		p.Booths = fair([]int{1}, 2)
		p.Seekers = []schedule.Seeker{{ID: 1, Choices: []schedule.Choice{{BoothID: 100, Score: 0.5}}}}
		f(&p)
		return p
	}
	slot1 := schedule.Interview{SeekerID: 7, BoothID: 100, Lane: 1, SlotID: 1, Start: at(0), End: at(15)}
	cases := []struct {
		name string
		p    schedule.Problem
		code apperr.Code
		msg  string
	}{
		{"no booths", edit(func(p *schedule.Problem) { p.Booths = nil }), apperr.Invalid, "no booths"},
		{"no slots", edit(func(p *schedule.Problem) { p.Booths[0].Lanes[0].Slots = nil }), apperr.Invalid, "no slots"},
		{"unknown booth", edit(func(p *schedule.Problem) { p.Seekers[0].Choices[0].BoothID = 5 }), apperr.NotFound, "booth 5"},
		{"duplicate seeker", edit(func(p *schedule.Problem) { p.Seekers = append(p.Seekers, p.Seekers[0]) }), apperr.Invalid, "seeker 1"},
		{"bad score", edit(func(p *schedule.Problem) { p.Seekers[0].Choices[0].Score = 1.5 }), apperr.Invalid, "score"},
		{"window", edit(func(p *schedule.Problem) { p.Seekers[0].Arrive, p.Seekers[0].Leave = at(30), at(0) }), apperr.Invalid, "leaves"},
		{"unknown fixed slot", edit(func(p *schedule.Problem) { f := slot1; f.SlotID = 77; p.Fixed = []schedule.Interview{f} }), apperr.NotFound, "slot 77"},
		{"fixed twice", edit(func(p *schedule.Problem) { p.Fixed = []schedule.Interview{slot1, slot1} }), apperr.Conflict, "slot 1"},
		{"overlapping slots", edit(func(p *schedule.Problem) { p.Booths[0].Lanes[0].Slots[1].Start = at(10) }), apperr.Invalid, "overlap"},
	}
	for _, c := range cases {
		_, err := schedule.Solve(context.Background(), c.p, schedule.Options{})
		if apperr.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %s containing %q", c.name, err, c.code, c.msg)
		}
	}
}

func TestPartialCapacityReport(t *testing.T) {
	p := schedule.Problem{Booths: fair([]int{1}, 3)}
	for i := range 10 {
		p.Seekers = append(p.Seekers, schedule.Seeker{ID: int64(i + 1), Mode: schedule.Remote, Choices: []schedule.Choice{{BoothID: 100, Score: 0.5}}})
	}
	p.Seekers = append(p.Seekers,
		schedule.Seeker{ID: 50},
		schedule.Seeker{ID: 51, Arrive: at(120), Leave: at(180), Choices: []schedule.Choice{{BoothID: 100, Score: 0.9}}})
	o := schedule.Options{}
	res, err := schedule.Solve(context.Background(), p, o)
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, p, res, schedule.Options{MaxPerSeeker: 3, WalkGap: 5 * time.Minute})
	reasons := map[string]int{}
	byID := map[int64]string{}
	for _, u := range res.Report.Unserved {
		reasons[u.Reason]++
		byID[u.SeekerID] = u.Reason
	}
	if len(res.Interviews) != 3 || reasons["capacity"] != 7 || byID[50] != "no_choices" || byID[51] != "no_time" ||
		res.Report.FreeLaneSlots != 3 || res.Report.Demand != 10 {
		t.Fatalf("report: %+v", res.Report)
	}
}

func TestRunnerRefusesSecondRunAndReportsProgress(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r schedule.Runner
	p := randomProblem(rand.New(rand.NewPCG(1, 2)), 50, 5, 8)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var phases []string
	o := schedule.Options{Progress: func(pr schedule.Progress) {
		if pr.Done > pr.Total {
			panic(fmt.Sprintf("progress %+v", pr))
		}
		if len(phases) == 0 || phases[len(phases)-1] != pr.Phase {
			phases = append(phases, pr.Phase)
		}
		if pr.Phase == "flow" {
			once.Do(func() { close(entered); <-release })
		}
	}}
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, 7, p, o)
		done <- err
	}()
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("timeout")
	}
	if _, err := r.Run(ctx, 7, p, schedule.Options{}); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("second run: %v", err)
	}
	if _, err := r.Run(ctx, 8, p, schedule.Options{}); err != nil { // another fair runs
		t.Errorf("other fair: %v", err)
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("timeout")
	}
	if got := strings.Join(phases, ","); got != "validate,flow,timetable,repair,done" {
		t.Fatalf("phases %s", got)
	}
	if _, err := r.Run(ctx, 7, p, schedule.Options{}); err != nil {
		t.Fatalf("run after the first finished: %v", err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := schedule.Solve(cctx, p, schedule.Options{}); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestTimetableView(t *testing.T) {
	p := randomProblem(rand.New(rand.NewPCG(3, 3)), 60, 4, 8)
	res, err := schedule.Solve(context.Background(), p, schedule.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, lanes := range schedule.Timetable(res.Interviews) {
		for _, list := range lanes {
			for i := 1; i < len(list); i++ {
				if list[i].Start.Before(list[i-1].Start) {
					t.Fatal("not ordered")
				}
			}
			n += len(list)
		}
	}
	if n != len(res.Interviews) {
		t.Fatalf("view has %d of %d", n, len(res.Interviews))
	}
}
