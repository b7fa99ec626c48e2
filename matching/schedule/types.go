// Package schedule turns a fair day's registrations into a conflict-free
// interview timetable.
//
// Method (solve.go): (1) assignment of seekers to booths by min-cost flow
// (successive shortest paths with potentials, written here), where a
// seeker's first interview carries a bonus larger than any sum of scores, so
// the flow first maximizes how many seekers get one interview and then the
// total match score; (2) a timetable by bipartite edge colouring of the
// seeker × lane multigraph, colours being the slot periods, with alternating
// (Kempe) path flips when no colour is free at both ends (timetable.go);
// (3) a local repair pass: moves a seeker's other interview to make room,
// re-routes dropped interviews to other chosen booths, and gives seekers
// without any interview a slot, taking it from a seeker with two or more if
// needed (repair.go).
//
// Constraints: no lane slot used twice, no seeker in two interviews at once,
// on-site seekers keep Options.WalkGap between interviews at different
// booths (remote seekers may go back to back), arrival windows, a cap per
// seeker, one interview per seeker and booth, interviews in Problem.Fixed
// (booked or already notified) never move, nothing starts before
// Problem.NotBefore.
//
// Solve is single-threaded and starts no goroutines; Runner refuses a second
// concurrent run for the same fair.
package schedule

import "time"

// Mode is how a seeker attends.
type Mode uint8

const (
	OnSite Mode = iota // walks between booths: WalkGap applies
	Remote             // video: back to back allowed
)

// Choice is a booth a seeker matched, with the match score in [0,1]
// (e.g. the best matching.Match.Score among the booth's jobs).
type Choice struct {
	BoothID int64
	Score   float64
	JobID   int64 // carried into the interview; 0 if none
}

// Seeker is a registered seeker of the fair.
type Seeker struct {
	ID      int64
	Mode    Mode
	Arrive  time.Time // window for interviews; zero = open
	Leave   time.Time
	Cap     int // most interviews, fixed ones included; 0 = Options.MaxPerSeeker
	Choices []Choice
}

// Slot is one bookable interval of a lane (booking's slots row).
type Slot struct {
	ID         int64
	Start, End time.Time
}

// Lane is one interviewer lane of a booth.
type Lane struct {
	Lane  int // lane number, as in booking
	Slots []Slot
}

// Booth is a booth of the fair with its lanes.
type Booth struct {
	ID    int64
	Lanes []Lane
}

// Interview is one seeker in one lane slot.
type Interview struct {
	SeekerID int64     `json:"seeker_id"`
	BoothID  int64     `json:"booth_id"`
	Lane     int       `json:"lane"`
	SlotID   int64     `json:"slot_id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Score    float64   `json:"score"`
	JobID    int64     `json:"job_id,omitempty"`
}

// Problem is one fair day to schedule.
type Problem struct {
	Seekers   []Seeker
	Booths    []Booth
	Fixed     []Interview // booked or notified interviews: kept as they are; may name seekers not in Seekers
	NotBefore time.Time   // no new interview starts before this (a re-solve during the day)
}

// Options tune Solve.
type Options struct {
	MaxPerSeeker int           // cap per seeker (3)
	WalkGap      time.Duration // between an on-site seeker's interviews at different booths (5 min); negative = none
	Greedy       bool          // also run the greedy baseline for the report
	Progress     func(Progress)
}

func (o Options) withDefaults() Options {
	if o.MaxPerSeeker == 0 {
		o.MaxPerSeeker = 3
	}
	if o.WalkGap == 0 {
		o.WalkGap = 5 * time.Minute
	}
	if o.WalkGap < 0 {
		o.WalkGap = 0
	}
	return o
}

// Progress is reported at phase boundaries and about every 1% of a phase.
type Progress struct {
	Phase       string `json:"phase"` // validate, flow, timetable, repair, greedy, done
	Done, Total int
}

// Result is the new interviews (Fixed ones are not repeated) and the report.
type Result struct {
	Interviews []Interview `json:"interviews"`
	Report     Report      `json:"report"`
}

// Report sums up a run. Scores are sums of Choice.Score.
type Report struct {
	Seekers        int   `json:"seekers"`
	Booths         int   `json:"booths"`
	FreeLaneSlots  int   `json:"free_lane_slots"`  // usable capacity after fixed interviews and NotBefore
	Demand         int   `json:"demand"`           // interviews wanted: sum over seekers of what cap and window allow
	Interviews     int   `json:"interviews"`       // new interviews
	SeekersWithOne int   `json:"seekers_with_one"` // seekers with at least one interview (fixed included)
	Servable       int   `json:"servable"`         // seekers with a choice booth that has a free slot in their window
	PerCount       []int `json:"per_count"`        // PerCount[k] = seekers with k interviews (fixed included)

	Score         float64          `json:"score"`           // of the new interviews
	FlowScore     float64          `json:"flow_score"`      // the flow's assignment before timetabling: the upper bound
	FlowWithOne   int              `json:"flow_with_one"`   // seekers with ≥1 in the flow's assignment
	Gap           float64          `json:"gap"`             // (FlowScore-Score)/FlowScore
	DroppedByTime int              `json:"dropped_by_time"` // flow assignments that no timetable slot could hold
	Greedy        *Baseline        `json:"greedy,omitempty"`
	Unserved      []Unserved       `json:"unserved,omitempty"` // seekers left without any interview, with why
	PhaseMillis   map[string]int64 `json:"phase_millis"`
}

// Baseline is the greedy comparison: pairs by score, first feasible slot.
type Baseline struct {
	Interviews     int     `json:"interviews"`
	SeekersWithOne int     `json:"seekers_with_one"`
	Score          float64 `json:"score"`
}

// Unserved says why a seeker got no interview: "no_choices" (no matched
// booth in the fair), "no_time" (no matched booth has a free slot in the
// seeker's window), "capacity" (free slots exist but went to other seekers
// who could use nothing else).
type Unserved struct {
	SeekerID int64  `json:"seeker_id"`
	Reason   string `json:"reason"`
}
