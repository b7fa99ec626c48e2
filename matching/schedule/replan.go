package schedule

import (
	"context"
	"fmt"
	"sync"
	"time"

	"jobhall/internal/apperr"
)

// Changes are what happened since the last run of a fair day.
type Changes struct {
	Now       time.Time               // new interviews start at or after this
	Notified  func(iv Interview) bool // interviews of the last run the seeker has been told about
	WalkIns   []Seeker                // seekers who registered on the day
	Cancelled []int64                 // slot ids of interviews cancelled by either side
	NoShows   []int64                 // seekers who did not come: their interviews from Now on are freed
}

// Replan builds the next Problem: the last run's notified interviews become
// Fixed (never moved), unnotified ones are dropped to be planned again,
// cancelled slots and no-shows' future interviews are freed, walk-ins join.
func Replan(prev Problem, last []Interview, ch Changes) (Problem, error) {
	noShow := map[int64]bool{}
	for _, id := range ch.NoShows {
		noShow[id] = true
	}
	cancelled := map[int64]bool{}
	for _, id := range ch.Cancelled {
		cancelled[id] = true
	}
	now := ch.Now.Unix()
	keep := func(iv Interview) bool {
		return !cancelled[iv.SlotID] && !(noShow[iv.SeekerID] && iv.Start.Unix() >= now)
	}
	next := Problem{Booths: prev.Booths, NotBefore: ch.Now}
	for _, iv := range prev.Fixed {
		if keep(iv) {
			next.Fixed = append(next.Fixed, iv)
		}
	}
	for _, iv := range last {
		if keep(iv) && ch.Notified != nil && ch.Notified(iv) {
			next.Fixed = append(next.Fixed, iv)
		}
	}
	known := map[int64]bool{}
	for _, s := range prev.Seekers {
		known[s.ID] = true
		if !noShow[s.ID] {
			next.Seekers = append(next.Seekers, s)
		}
	}
	for _, s := range ch.WalkIns {
		if known[s.ID] {
			return Problem{}, apperr.New(apperr.Conflict, "walk-in seeker %d is already registered", s.ID)
		}
		known[s.ID] = true
		next.Seekers = append(next.Seekers, s)
	}
	for id := range noShow {
		if !known[id] {
			return Problem{}, apperr.New(apperr.NotFound, "no-show seeker %d is not registered", id)
		}
	}
	return next, nil
}

// Runner runs Solve at most once at a time per fair.
type Runner struct {
	mu      sync.Mutex
	running map[int64]bool
}

// Run solves fairID's problem, or fails with Conflict while another run of
// the same fair is in progress.
func (r *Runner) Run(ctx context.Context, fairID int64, p Problem, o Options) (Result, error) {
	r.mu.Lock()
	if r.running == nil {
		r.running = map[int64]bool{}
	}
	if r.running[fairID] {
		r.mu.Unlock()
		return Result{}, apperr.New(apperr.Conflict, "fair %d is already being scheduled", fairID)
	}
	r.running[fairID] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.running, fairID)
		r.mu.Unlock()
	}()
	res, err := Solve(ctx, p, o)
	if err != nil {
		return Result{}, fmt.Errorf("fair %d: %w", fairID, err)
	}
	return res, nil
}

// Timetable groups interviews per booth and lane, ordered by start: the
// per-booth view.
func Timetable(ivs []Interview) map[int64]map[int][]Interview {
	out := map[int64]map[int][]Interview{}
	for _, iv := range ivs {
		if out[iv.BoothID] == nil {
			out[iv.BoothID] = map[int][]Interview{}
		}
		out[iv.BoothID][iv.Lane] = append(out[iv.BoothID][iv.Lane], iv)
	}
	for _, lanes := range out {
		for l, list := range lanes {
			sortByStart(list)
			lanes[l] = list
		}
	}
	return out
}

func sortByStart(l []Interview) {
	for i := 1; i < len(l); i++ {
		for k := i; k > 0 && l[k].Start.Before(l[k-1].Start); k-- {
			l[k], l[k-1] = l[k-1], l[k]
		}
	}
}
