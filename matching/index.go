package matching

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"jobhall/internal/apperr"
)

// Options tune an Index. Zero fields take the defaults in parentheses.
type Options struct {
	DefaultCommuteKm float64          // commute limit of a seeker who set none (30)
	SearchRadiusKm   float64          // largest commute honoured when looking for candidates of a job (80)
	CellDeg          float64          // geo cell size in degrees (0.25, about 28 km)
	CandidateBudget  int              // most candidates scored per query (40,000)
	MaxWindow        int              // largest Offset+K (1,000)
	Now              func() time.Time // clock for freshness (time.Now)
}

func (o Options) withDefaults() Options {
	if o.DefaultCommuteKm <= 0 {
		o.DefaultCommuteKm = 30
	}
	if o.SearchRadiusKm <= 0 {
		o.SearchRadiusKm = 80
	}
	if o.CellDeg <= 0 {
		o.CellDeg = 0.25
	}
	if o.CandidateBudget <= 0 {
		o.CandidateBudget = 40_000
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

type cjob struct {
	id, emp        int64
	lat, lon       float32
	hasLoc, active bool
	edu            Education
	exp            int8
	salMin, salMax int32
	pub            int64
	occ            string
	skills, certs  []uint32 // tag ids, sorted
	title, text    []uint32 // token ids, sorted; text = title + description
}

type cseeker struct {
	id              int64
	lat, lon        float32
	hasLoc, visible bool
	commute         float32
	edu             Education
	exp             int8
	salMin, salMax  int32
	occ             []string
	skills, certs   []uint32
	title, text     []uint32 // text = summary + desired title
}

// Index holds compiled seekers and jobs with inverted lists for retrieval.
type Index struct {
	opt Options

	mu       sync.RWMutex
	tags     map[string]uint32 // "s:"skill, "c:"certificate, "o:"occupation, "p:"occupation prefix
	tagName  []string
	toks     map[string]uint32
	df       []uint32
	idfs     []float32
	nDocs    int
	jobs     []cjob
	jobPos   map[int64]int32
	seekers  []cseeker
	seekPos  map[int64]int32
	jobPost  map[uint64][]int32 // (cell, term) -> job positions
	seekPost map[uint64][]int32 // (cell, term) -> seeker positions

	jobMarks, seekMarks sync.Pool // *marks for de-duplicating candidates
}

const (
	kindAll = 0
	kindTag = 1
	kindTok = 2

	cellUnknown = math.MaxUint32     // entries without a location
	cellAny     = math.MaxUint32 - 1 // every entry, for queries without a location
)

func postKey(cell uint32, kind, id uint32) uint64 {
	return uint64(cell)<<32 | uint64(kind)<<30 | uint64(id)
}

// NewIndex compiles seekers and jobs. Duplicate ids are Invalid.
func NewIndex(seekers []Seeker, jobs []Job, opt Options) (*Index, error) {
	ix := &Index{
		opt:      opt.withDefaults(),
		tags:     map[string]uint32{"": 0},
		tagName:  []string{""},
		toks:     map[string]uint32{"": 0},
		df:       []uint32{0},
		jobPos:   make(map[int64]int32, len(jobs)),
		seekPos:  make(map[int64]int32, len(seekers)),
		jobPost:  map[uint64][]int32{},
		seekPost: map[uint64][]int32{},
	}
	ix.jobs = make([]cjob, 0, len(jobs))
	ix.seekers = make([]cseeker, 0, len(seekers))
	for i := range jobs {
		if _, dup := ix.jobPos[jobs[i].ID]; dup {
			return nil, apperr.New(apperr.Invalid, "duplicate job id %d", jobs[i].ID)
		}
		ix.jobPos[jobs[i].ID] = int32(len(ix.jobs))
		ix.jobs = append(ix.jobs, ix.compileJob(&jobs[i]))
	}
	for i := range seekers {
		if _, dup := ix.seekPos[seekers[i].ID]; dup {
			return nil, apperr.New(apperr.Invalid, "duplicate seeker id %d", seekers[i].ID)
		}
		ix.seekPos[seekers[i].ID] = int32(len(ix.seekers))
		ix.seekers = append(ix.seekers, ix.compileSeeker(&seekers[i]))
	}
	ix.computeIDF()
	for p := range ix.jobs {
		ix.postJob(int32(p))
	}
	for p := range ix.seekers {
		ix.postSeeker(int32(p))
	}
	return ix, nil
}

func (ix *Index) computeIDF() {
	ix.idfs = make([]float32, len(ix.df))
	for t, n := range ix.df {
		ix.idfs[t] = float32(math.Log(1 + float64(ix.nDocs)/float64(1+n)))
	}
}

func (ix *Index) idf(t uint32) float32 {
	if int(t) < len(ix.idfs) {
		return ix.idfs[t]
	}
	return float32(math.Log(1 + float64(ix.nDocs))) // added after the last idf pass: rare
}

func (ix *Index) tag(prefix, name string) uint32 {
	k := prefix + normTag(name)
	if id, ok := ix.tags[k]; ok {
		return id
	}
	id := uint32(len(ix.tagName))
	ix.tags[k] = id
	ix.tagName = append(ix.tagName, k)
	return id
}

func (ix *Index) tagSet(prefix string, names []string) []uint32 {
	var out []uint32
	for _, n := range names {
		if strings.TrimSpace(n) != "" {
			out = append(out, ix.tag(prefix, n))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (ix *Index) tagNames(ids []uint32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = ix.tagName[id][2:]
	}
	return out
}

// tokenSet interns the tokens of texts; count adds them to document frequencies.
func (ix *Index) tokenSet(count bool, texts ...string) []uint32 {
	var out []uint32
	for _, s := range texts {
		for _, t := range Tokenize(s) {
			id, ok := ix.toks[t]
			if !ok {
				id = uint32(len(ix.df))
				ix.toks[t] = id
				ix.df = append(ix.df, 0)
			}
			out = append(out, id)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if count {
		ix.nDocs++
		for _, id := range out {
			ix.df[id]++
		}
	}
	return out
}

func clampExp(y int) int8 { return int8(max(0, min(y, 60))) }

func (ix *Index) compileJob(j *Job) cjob {
	c := cjob{
		id: j.ID, emp: j.EmployerID, hasLoc: j.Location.Valid(), active: j.Active,
		lat: float32(j.Location.Lat), lon: float32(j.Location.Lon),
		edu: j.Education.clamp(), exp: clampExp(j.ExperienceYears),
		salMin: int32(max(0, j.SalaryMin)), salMax: int32(max(0, j.SalaryMax)),
		pub: j.PublishedAt.Unix(), occ: strings.TrimSpace(j.OccupationCode),
		skills: ix.tagSet("s:", j.Skills), certs: ix.tagSet("c:", j.Certificates),
		title: ix.tokenSet(false, j.Title),
		text:  ix.tokenSet(true, j.Title, j.Description),
	}
	if j.PublishedAt.IsZero() {
		c.pub = 0
	}
	return c
}

func (ix *Index) compileSeeker(s *Seeker) cseeker {
	commute := s.MaxCommuteKm
	if commute <= 0 {
		commute = ix.opt.DefaultCommuteKm
	}
	c := cseeker{
		id: s.ID, hasLoc: s.Location.Valid(), visible: s.Visible,
		lat: float32(s.Location.Lat), lon: float32(s.Location.Lon), commute: float32(commute),
		edu: s.Education.clamp(), exp: clampExp(s.ExperienceYears),
		salMin: int32(max(0, s.SalaryMin)), salMax: int32(max(0, s.SalaryMax)),
		skills: ix.tagSet("s:", s.Skills), certs: ix.tagSet("c:", s.Certificates),
		title: ix.tokenSet(false, s.DesiredTitle),
		text:  ix.tokenSet(true, s.Summary, s.DesiredTitle),
	}
	for _, o := range s.OccupationCodes {
		if o = strings.TrimSpace(o); o != "" {
			c.occ = append(c.occ, o)
		}
	}
	return c
}

// occPrefix is the first two segments of an occupation code ("6-18").
func occPrefix(code string) string {
	if i := strings.IndexByte(code, '-'); i >= 0 {
		if k := strings.IndexByte(code[i+1:], '-'); k >= 0 {
			return code[:i+1+k]
		}
	}
	return code
}

// terms are the retrieval keys of a record: skills, occupation codes and
// their prefixes, title tokens.
func (ix *Index) terms(skills []uint32, occ []string, title []uint32, intern bool) [][2]uint32 {
	out := make([][2]uint32, 0, len(skills)+2*len(occ)+len(title))
	for _, s := range skills {
		out = append(out, [2]uint32{kindTag, s})
	}
	for _, o := range occ {
		for _, k := range []string{"o:" + o, "p:" + occPrefix(o)} {
			if id, ok := ix.tags[k]; ok {
				out = append(out, [2]uint32{kindTag, id})
			} else if intern {
				out = append(out, [2]uint32{kindTag, ix.tag(k[:2], k[2:])})
			}
		}
	}
	for _, t := range title {
		out = append(out, [2]uint32{kindTok, t})
	}
	return out
}

func (ix *Index) cellOf(hasLoc bool, lat, lon float32) uint32 {
	if !hasLoc {
		return cellUnknown
	}
	la := uint32((float64(lat) + 90) / ix.opt.CellDeg)
	lo := uint32((float64(lon) + 180) / ix.opt.CellDeg)
	return la<<16 | lo
}

// cellsWithin lists the cells that may hold points within r km of p, plus
// the cell of entries without a location.
func (ix *Index) cellsWithin(hasLoc bool, lat, lon float32, r float64) []uint32 {
	if !hasLoc {
		return []uint32{cellAny}
	}
	d := ix.opt.CellDeg
	dLat := r / 111.2
	dLon := r / (111.2 * max(0.05, math.Cos(float64(lat)*math.Pi/180)))
	la0, la1 := int((float64(lat)-dLat+90)/d), int((float64(lat)+dLat+90)/d)
	lo0, lo1 := int((float64(lon)-dLon+180)/d), int((float64(lon)+dLon+180)/d)
	out := make([]uint32, 0, (la1-la0+1)*(lo1-lo0+1)+1)
	for la := max(0, la0); la <= la1; la++ {
		for lo := max(0, lo0); lo <= lo1; lo++ {
			out = append(out, uint32(la)<<16|uint32(lo))
		}
	}
	return append(out, cellUnknown)
}

func (ix *Index) postJob(p int32) {
	j := &ix.jobs[p]
	cell := ix.cellOf(j.hasLoc, j.lat, j.lon)
	var occ []string
	if j.occ != "" {
		occ = []string{j.occ}
	}
	for _, c := range []uint32{cell, cellAny} {
		ix.jobPost[postKey(c, kindAll, 0)] = append(ix.jobPost[postKey(c, kindAll, 0)], p)
		for _, t := range ix.terms(j.skills, occ, j.title, true) {
			k := postKey(c, t[0], t[1])
			ix.jobPost[k] = append(ix.jobPost[k], p)
		}
	}
}

func (ix *Index) postSeeker(p int32) {
	s := &ix.seekers[p]
	cell := ix.cellOf(s.hasLoc, s.lat, s.lon)
	for _, c := range []uint32{cell, cellAny} {
		ix.seekPost[postKey(c, kindAll, 0)] = append(ix.seekPost[postKey(c, kindAll, 0)], p)
		for _, t := range ix.terms(s.skills, s.occ, s.title, true) {
			k := postKey(c, t[0], t[1])
			ix.seekPost[k] = append(ix.seekPost[k], p)
		}
	}
}

// UpsertJob adds a job or replaces the one with the same id (a new post,
// an edit, a close). Its lists are appended; stale entries are harmless
// because every candidate is re-scored from its current record.
func (ix *Index) UpsertJob(j Job) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c := ix.compileJob(&j)
	if p, ok := ix.jobPos[j.ID]; ok {
		ix.jobs[p] = c
		ix.postJob(p)
		return
	}
	p := int32(len(ix.jobs))
	ix.jobs = append(ix.jobs, c)
	ix.jobPos[j.ID] = p
	ix.postJob(p)
}

// UpsertSeeker adds or replaces a seeker profile.
func (ix *Index) UpsertSeeker(s Seeker) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c := ix.compileSeeker(&s)
	if p, ok := ix.seekPos[s.ID]; ok {
		ix.seekers[p] = c
		ix.postSeeker(p)
		return
	}
	p := int32(len(ix.seekers))
	ix.seekers = append(ix.seekers, c)
	ix.seekPos[s.ID] = p
	ix.postSeeker(p)
}

// SetJobActive opens or closes a job without re-reading it.
func (ix *Index) SetJobActive(jobID int64, active bool) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	p, ok := ix.jobPos[jobID]
	if !ok {
		return apperr.New(apperr.NotFound, "job %d not found", jobID)
	}
	ix.jobs[p].active = active
	return nil
}

// Len reports how many seekers and jobs the index holds.
func (ix *Index) Len() (seekers, jobs int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.seekers), len(ix.jobs)
}

// Explain scores one pair with its reasons, or says which hard filter
// rejects it (Eligible false, Rejected set).
func (ix *Index) Explain(seekerID, jobID int64) (Match, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	sp, ok := ix.seekPos[seekerID]
	if !ok {
		return Match{}, apperr.New(apperr.NotFound, "seeker %d not found", seekerID)
	}
	jp, ok := ix.jobPos[jobID]
	if !ok {
		return Match{}, apperr.New(apperr.NotFound, "job %d not found", jobID)
	}
	return ix.explain(&ix.seekers[sp], &ix.jobs[jp], ix.opt.Now().Unix()), nil
}

// Query selects and pages a top-K list. Fields that do not apply to a list
// are ignored (noted per field).
type Query struct {
	K      int // page size, 1..; default 50
	Offset int // skip this many; Offset+K ≤ Options.MaxWindow

	MinScore         float64
	MaxDistanceKm    float64        // tighter than the commute limit; 0 = none
	OccupationPrefix string         // job's code (feed) or any of the seeker's codes (candidates) starts with it
	Skill            string         // the job requires it (feed) or the seeker holds it (candidates)
	MinSalary        int            // feed: the job can pay at least this
	MinEducation     Education      // candidates: at least this level
	Employers        map[int64]bool // feed: only these employers' jobs (e.g. a fair's booths)
	OnePerEmployer   bool           // feed: keep only each employer's best job
	Exclude          map[int64]bool // job ids (feed) or seeker ids (candidates) to leave out
}

// Page is one page of a top-K list, best first.
type Page struct {
	Items      []Match `json:"items"`
	Offset     int     `json:"offset"`
	NextOffset int     `json:"next_offset"` // -1 when there is no further page
	Considered int     `json:"considered"`  // candidates scored (bounded by the budget)
}

func (ix *Index) checkQuery(q *Query) error {
	if q.K == 0 {
		q.K = 50
	}
	if q.K < 0 || q.Offset < 0 {
		return apperr.New(apperr.Invalid, "k and offset must not be negative")
	}
	if q.K+q.Offset > ix.opt.MaxWindow {
		return apperr.New(apperr.Invalid, "offset+k must be at most %d", ix.opt.MaxWindow)
	}
	return nil
}

type marks struct {
	gen uint32
	m   []uint32
}

func getMarks(pool *sync.Pool, n int) *marks {
	mk, _ := pool.Get().(*marks)
	if mk == nil {
		mk = &marks{}
	}
	if len(mk.m) < n {
		mk.m = make([]uint32, n+n/8)
		mk.gen = 0
	}
	mk.gen++
	if mk.gen == 0 {
		clear(mk.m)
		mk.gen = 1
	}
	return mk
}

// gather collects candidate positions from the lists of terms in cells,
// shortest lists first, until the budget; it falls back to every entry of
// the cells when the terms give fewer than want.
func gather(post map[uint64][]int32, cells []uint32, terms [][2]uint32, mk *marks, budget, want int) []int32 {
	lists := make([][]int32, 0, len(cells)*len(terms))
	for _, c := range cells {
		for _, t := range terms {
			if l := post[postKey(c, t[0], t[1])]; len(l) > 0 {
				lists = append(lists, l)
			}
		}
	}
	slices.SortFunc(lists, func(a, b []int32) int { return len(a) - len(b) })
	var out []int32
	take := func(l []int32) bool {
		for _, p := range l {
			if mk.m[p] != mk.gen {
				mk.m[p] = mk.gen
				out = append(out, p)
				if len(out) >= budget {
					return false
				}
			}
		}
		return true
	}
	for _, l := range lists {
		if !take(l) {
			return out
		}
	}
	if len(out) < want {
		for _, c := range cells {
			if !take(post[postKey(c, kindAll, 0)]) {
				return out
			}
		}
	}
	return out
}

type ranked struct {
	score float64
	id    int64
	pos   int32
}

// worse orders the heap: lower score, then higher id, is worse.
func worse(a, b ranked) bool { return a.score < b.score || (a.score == b.score && a.id > b.id) }

// topN keeps the n best in a min-heap on worse.
type topN struct {
	n int
	h []ranked
}

func (t *topN) push(r ranked) {
	if len(t.h) < t.n {
		t.h = append(t.h, r)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !worse(t.h[i], t.h[p]) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	if !worse(t.h[0], r) {
		return
	}
	t.h[0] = r
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(t.h) && worse(t.h[l], t.h[m]) {
			m = l
		}
		if l+1 < len(t.h) && worse(t.h[l+1], t.h[m]) {
			m = l + 1
		}
		if m == i {
			break
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

func (t *topN) sorted() []ranked {
	slices.SortFunc(t.h, func(a, b ranked) int {
		if worse(a, b) {
			return 1
		}
		if worse(b, a) {
			return -1
		}
		return 0
	})
	return t.h
}

func page(q Query, best []ranked, considered int, mk func(r ranked) Match) Page {
	pg := Page{Offset: q.Offset, NextOffset: -1, Considered: considered, Items: []Match{}}
	if q.Offset < len(best) {
		for _, r := range best[q.Offset:min(len(best), q.Offset+q.K)] {
			pg.Items = append(pg.Items, mk(r))
		}
	}
	if len(best) == q.Offset+q.K {
		pg.NextOffset = q.Offset + q.K // there may be more: the window was full
	}
	return pg
}

// TopJobs is a seeker's feed: the best eligible jobs, explained.
func (ix *Index) TopJobs(seekerID int64, q Query) (Page, error) {
	if err := ix.checkQuery(&q); err != nil {
		return Page{}, fmt.Errorf("matching: top jobs: %w", err)
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	sp, ok := ix.seekPos[seekerID]
	if !ok {
		return Page{}, apperr.New(apperr.NotFound, "seeker %d not found", seekerID)
	}
	s := &ix.seekers[sp]
	now := ix.opt.Now().Unix()
	skill := uint32(0)
	if q.Skill != "" {
		if skill, ok = ix.tags["s:"+normTag(q.Skill)]; !ok {
			return page(q, nil, 0, nil), nil
		}
	}
	mk := getMarks(&ix.jobMarks, len(ix.jobs))
	defer ix.jobMarks.Put(mk)
	want := q.Offset + q.K
	cands := gather(ix.jobPost, ix.cellsWithin(s.hasLoc, s.lat, s.lon, float64(s.commute)),
		ix.terms(s.skills, s.occ, s.title, false), mk, ix.opt.CandidateBudget, 4*want)

	top := topN{n: want}
	var perEmp map[int64]ranked
	if q.OnePerEmployer {
		perEmp = map[int64]ranked{}
	}
	var p parts
	for _, jp := range cands {
		j := &ix.jobs[jp]
		if !j.active || q.Exclude[j.id] || (q.Employers != nil && !q.Employers[j.emp]) ||
			(q.OccupationPrefix != "" && !strings.HasPrefix(j.occ, q.OccupationPrefix)) ||
			(skill != 0 && !contains(j.skills, skill)) ||
			(q.MinSalary > 0 && max(j.salMin, j.salMax) < int32(q.MinSalary)) {
			continue
		}
		if !ix.evalPair(s, j, now, &p) || p.score < q.MinScore ||
			(q.MaxDistanceKm > 0 && (p.dist < 0 || p.dist > q.MaxDistanceKm)) {
			continue
		}
		r := ranked{p.score, j.id, jp}
		if perEmp != nil {
			if b, ok := perEmp[j.emp]; ok && !worse(b, r) {
				continue
			}
			perEmp[j.emp] = r
			continue
		}
		top.push(r)
	}
	for _, r := range perEmp {
		top.push(r)
	}
	return page(q, top.sorted(), len(cands), func(r ranked) Match { return ix.explain(s, &ix.jobs[r.pos], now) }), nil
}

// TopCandidates lists the best eligible, visible seekers for a job, explained.
func (ix *Index) TopCandidates(jobID int64, q Query) (Page, error) {
	if err := ix.checkQuery(&q); err != nil {
		return Page{}, fmt.Errorf("matching: top candidates: %w", err)
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	jp, ok := ix.jobPos[jobID]
	if !ok {
		return Page{}, apperr.New(apperr.NotFound, "job %d not found", jobID)
	}
	j := &ix.jobs[jp]
	if !j.active {
		return Page{}, apperr.New(apperr.Conflict, "job %d is not open", jobID)
	}
	now := ix.opt.Now().Unix()
	skill := uint32(0)
	if q.Skill != "" {
		if skill, ok = ix.tags["s:"+normTag(q.Skill)]; !ok {
			return page(q, nil, 0, nil), nil
		}
	}
	var occ []string
	if j.occ != "" {
		occ = []string{j.occ}
	}
	mk := getMarks(&ix.seekMarks, len(ix.seekers))
	defer ix.seekMarks.Put(mk)
	want := q.Offset + q.K
	cands := gather(ix.seekPost, ix.cellsWithin(j.hasLoc, j.lat, j.lon, ix.opt.SearchRadiusKm),
		ix.terms(j.skills, occ, j.title, false), mk, ix.opt.CandidateBudget, 4*want)

	top := topN{n: want}
	var p parts
	for _, sp := range cands {
		s := &ix.seekers[sp]
		if !s.visible || q.Exclude[s.id] || s.edu < q.MinEducation ||
			(skill != 0 && !contains(s.skills, skill)) ||
			(q.OccupationPrefix != "" && !slices.ContainsFunc(s.occ, func(o string) bool { return strings.HasPrefix(o, q.OccupationPrefix) })) {
			continue
		}
		if !ix.evalPair(s, j, now, &p) || p.score < q.MinScore ||
			(q.MaxDistanceKm > 0 && (p.dist < 0 || p.dist > q.MaxDistanceKm)) {
			continue
		}
		top.push(ranked{p.score, s.id, sp})
	}
	return page(q, top.sorted(), len(cands), func(r ranked) Match { return ix.explain(&ix.seekers[r.pos], j, now) }), nil
}
