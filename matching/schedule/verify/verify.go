// Package verify checks a fair-day schedule against its problem,
// independently of the scheduler's code: it reads only the exported
// problem and interviews, so a bug in the scheduler cannot hide itself.
package verify

import (
	"fmt"
	"time"

	"jobhall/matching/schedule"
)

// Violation is one broken rule.
type Violation struct {
	Rule string // slot, lane, seeker, gap, window, cap, choice, pair, fixed, fairness
	Text string
}

func (v Violation) String() string { return v.Rule + ": " + v.Text }

type slotInfo struct {
	booth      int64
	lane       int
	start, end time.Time
}

// Check validates fixed plus new interviews. maxPerSeeker and walkGap are
// the rules the schedule must meet (the defaults of schedule.Options are 3
// and 5 minutes).
func Check(p schedule.Problem, fixed, out []schedule.Interview, maxPerSeeker int, walkGap time.Duration) []Violation {
	var vs []Violation
	bad := func(rule, f string, a ...any) { vs = append(vs, Violation{rule, fmt.Sprintf(f, a...)}) }

	slots := map[int64]slotInfo{}
	for _, b := range p.Booths {
		for _, l := range b.Lanes {
			for _, s := range l.Slots {
				slots[s.ID] = slotInfo{b.ID, l.Lane, s.Start, s.End}
			}
		}
	}
	seekers := map[int64]schedule.Seeker{}
	for _, s := range p.Seekers {
		seekers[s.ID] = s
	}
	capOf := func(s schedule.Seeker) int {
		if s.Cap > 0 {
			return s.Cap
		}
		return maxPerSeeker
	}

	all := append(append([]schedule.Interview{}, fixed...), out...)
	isNew := func(i int) bool { return i >= len(fixed) }
	slotUse := map[int64]int{}
	bySeeker := map[int64][]int{}
	for i, iv := range all {
		si, ok := slots[iv.SlotID]
		if !ok {
			bad("slot", "interview %d: slot %d is not in the fair", i, iv.SlotID)
			continue
		}
		if si.booth != iv.BoothID || si.lane != iv.Lane || !si.start.Equal(iv.Start) || !si.end.Equal(iv.End) {
			bad("slot", "interview %d: slot %d is booth %d lane %d %s, interview says booth %d lane %d %s",
				i, iv.SlotID, si.booth, si.lane, si.start, iv.BoothID, iv.Lane, iv.Start)
		}
		if prev, dup := slotUse[iv.SlotID]; dup {
			bad("lane", "slot %d (booth %d lane %d) holds seekers %d and %d", iv.SlotID, si.booth, si.lane, all[prev].SeekerID, iv.SeekerID)
		}
		slotUse[iv.SlotID] = i
		bySeeker[iv.SeekerID] = append(bySeeker[iv.SeekerID], i)
		if isNew(i) {
			if !p.NotBefore.IsZero() && iv.Start.Before(p.NotBefore) {
				bad("slot", "seeker %d: new interview at %s starts before %s", iv.SeekerID, iv.Start, p.NotBefore)
			}
			s, ok := seekers[iv.SeekerID]
			if !ok {
				bad("choice", "new interview for unregistered seeker %d", iv.SeekerID)
				continue
			}
			found := false
			for _, c := range s.Choices {
				if c.BoothID == iv.BoothID && c.Score == iv.Score {
					found = true
				}
			}
			if !found {
				bad("choice", "seeker %d: booth %d with score %v is not one of its choices", iv.SeekerID, iv.BoothID, iv.Score)
			}
		}
	}

	for id, idx := range bySeeker {
		s, known := seekers[id]
		if known && len(idx) > capOf(s) {
			bad("cap", "seeker %d has %d interviews, cap %d", id, len(idx), capOf(s))
		}
		for a := 0; a < len(idx); a++ {
			x := all[idx[a]]
			if known && isNew(idx[a]) {
				if (!s.Arrive.IsZero() && x.Start.Before(s.Arrive)) || (!s.Leave.IsZero() && x.End.After(s.Leave)) {
					bad("window", "seeker %d: interview %s–%s outside %s–%s", id, x.Start, x.End, s.Arrive, s.Leave)
				}
			}
			for b := a + 1; b < len(idx); b++ {
				y := all[idx[b]]
				if isNew(idx[a]) || isNew(idx[b]) {
					if x.BoothID == y.BoothID {
						bad("pair", "seeker %d has two interviews at booth %d", id, x.BoothID)
					}
				}
				if x.Start.Before(y.End) && y.Start.Before(x.End) {
					bad("seeker", "seeker %d is in two interviews at once (%s, %s)", id, x.Start, y.Start)
					continue
				}
				if known && s.Mode == schedule.OnSite && x.BoothID != y.BoothID && (isNew(idx[a]) || isNew(idx[b])) {
					first, second := x, y
					if y.Start.Before(x.Start) {
						first, second = y, x
					}
					if second.Start.Sub(first.End) < walkGap {
						bad("gap", "on-site seeker %d: %s between booths %d and %d, need %s", id, second.Start.Sub(first.End), first.BoothID, second.BoothID, walkGap)
					}
				}
			}
		}
	}

	// fairness: nobody without an interview could have taken a slot that is
	// free or held by someone's third (or later) new interview
	count := func(id int64) int { return len(bySeeker[id]) }
	for _, s := range p.Seekers {
		if count(s.ID) > 0 || capOf(s) < 1 {
			continue
		}
		for _, c := range s.Choices {
			for _, b := range p.Booths {
				if b.ID != c.BoothID {
					continue
				}
				for _, l := range b.Lanes {
					for _, sl := range l.Slots {
						if (!p.NotBefore.IsZero() && sl.Start.Before(p.NotBefore)) ||
							(!s.Arrive.IsZero() && sl.Start.Before(s.Arrive)) || (!s.Leave.IsZero() && sl.End.After(s.Leave)) {
							continue
						}
						i, taken := slotUse[sl.ID]
						if !taken {
							bad("fairness", "seeker %d has no interview but slot %d at booth %d is free", s.ID, sl.ID, b.ID)
						} else if isNew(i) && count(all[i].SeekerID) >= 3 {
							bad("fairness", "seeker %d has no interview but slot %d at booth %d went to seeker %d's interview number %d",
								s.ID, sl.ID, b.ID, all[i].SeekerID, count(all[i].SeekerID))
						}
					}
				}
			}
		}
	}
	return vs
}
