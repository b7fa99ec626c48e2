package booking

// Matching wired to PostgreSQL: the in-memory index (matching.Index) is
// loaded from the seekers and job_posts tables, rebuilt periodically and
// kept current by the job and profile paths; the feed, candidate lists and
// match explanations are served from it. The database stays the authority
// on consent: every candidate row is re-checked and audited in one
// statement before it is shown.

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"jobhall/internal/apperr"
	"jobhall/matching"
)

// Recommender is an optional extension of Notifier: it delivers a new job
// post to a seeker it suits. A Notifier without it gets the push logged.
type Recommender interface {
	Recommend(ctx context.Context, r Recommendation) error
}

// Recommendation is one new job post pushed to one seeker.
type Recommendation struct {
	SeekerID  int64
	Phone     string
	JobPostID int64
	Title     string
	Employer  string
	Score     float64
	Summary   string // reasons, Chinese
}

// EventJobRecommended is the outbox event of a push.
const EventJobRecommended = "job.recommended"

func (l logNotifier) Recommend(ctx context.Context, r Recommendation) error {
	l.log.InfoContext(ctx, "booking: job recommendation (demo: logged instead of sent)", "seeker", r.SeekerID,
		"job", r.JobPostID, "score", r.Score)
	return nil
}

type matchState struct {
	ix      atomic.Pointer[matching.Index]
	built   atomic.Int64 // unix nanoseconds of the last build
	buildMu sync.Mutex   // one rebuild at a time
	every   time.Duration
	pushTop int
	pushMin float64
	kick    chan struct{} // a job was published: push soon
}

func (m *matchState) init(cfg Config) {
	m.every, m.pushTop, m.pushMin = cfg.MatchRebuild, cfg.PushTop, cfg.PushMinScore
	if m.every <= 0 {
		m.every = 30 * time.Minute
	}
	if m.pushTop <= 0 {
		m.pushTop = 50
	}
	if m.pushMin <= 0 {
		m.pushMin = 0.55
	}
	m.kick = make(chan struct{}, 1)
}

// countyCentres are the districts and counties of the demo city (Lanzhou).
// Seekers have no coordinates, so both sides fall back to their county's
// centre: distances are county to county, and the reasons say so.
var countyCentres = map[string]matching.Point{
	"城关区": {Lat: 36.057, Lon: 103.834}, "七里河区": {Lat: 36.066, Lon: 103.786}, "西固区": {Lat: 36.088, Lon: 103.628},
	"安宁区": {Lat: 36.104, Lon: 103.719}, "红古区": {Lat: 36.345, Lon: 102.859}, "永登县": {Lat: 36.736, Lon: 103.261},
	"皋兰县": {Lat: 36.332, Lon: 103.947}, "榆中县": {Lat: 35.845, Lon: 104.114}, "兰州新区": {Lat: 36.515, Lon: 103.680},
	"高新区": {Lat: 36.070, Lon: 103.900},
}

// IndexStats describes one build of the index.
type IndexStats struct {
	Seekers, Jobs int
	Load, Build   time.Duration
	HeapBytes     uint64 // live heap after the build (whole process)
}

const seekerCols = `s.id, s.county, s.education, s.skills, s.experience_years, s.desired_job, coalesce(s.desired_salary, 0), s.consent_profile_visible`

func scanSeeker(row pgx.Row, occ map[string]string) (matching.Seeker, error) {
	var sk matching.Seeker
	var county, edu string
	var exp int16
	var sal int32
	if err := row.Scan(&sk.ID, &county, &edu, &sk.Skills, &exp, &sk.DesiredTitle, &sal, &sk.Visible); err != nil {
		return sk, err
	}
	sk.Location, sk.Education, sk.ExperienceYears, sk.SalaryMin = countyCentres[county], matching.ParseEducation(edu), int(exp), int(sal)
	// The occupation of a desired title that job posts use (e.g. 电焊工 → 6-18-02-04).
	if c := occ[strings.TrimSpace(sk.DesiredTitle)]; c != "" {
		sk.OccupationCodes = []string{c}
	}
	return sk, nil
}

// jobCols for the index; $1 is now (expiry).
const matchJobCols = `j.id, j.employer_id, j.title, e.industry, j.occupation_code, j.skills, coalesce(j.salary_min, 0), coalesce(j.salary_max, 0),
	j.education, j.experience_years, j.county, j.latitude, j.longitude,
	j.status = 'published' AND (j.expires_at IS NULL OR j.expires_at > $1), coalesce(j.published_at, '-infinity')`

func scanJob(row pgx.Row) (matching.Job, error) {
	var j matching.Job
	var edu, county string
	var exp int16
	var lo, hi int32
	var lat, lon *float64
	if err := row.Scan(&j.ID, &j.EmployerID, &j.Title, &j.Description, &j.OccupationCode, &j.Skills, &lo, &hi, &edu, &exp, &county,
		&lat, &lon, &j.Active, &j.PublishedAt); err != nil {
		return j, err
	}
	j.SalaryMin, j.SalaryMax, j.Education, j.ExperienceYears = int(lo), int(hi), matching.ParseEducation(edu), int(exp)
	if lat != nil && lon != nil {
		j.Location = matching.Point{Lat: *lat, Lon: *lon}
	} else {
		j.Location = countyCentres[county]
	}
	if j.PublishedAt.Year() < 1900 {
		j.PublishedAt = time.Time{}
	}
	return j, nil
}

// loadJobs reads open job posts (all, or those of employers).
func loadJobs(ctx context.Context, q querier, now time.Time, employers []int64) ([]matching.Job, error) {
	sql := `SELECT ` + matchJobCols + ` FROM job_posts j JOIN employers e ON e.id = j.employer_id
		WHERE j.status = 'published' AND (j.expires_at IS NULL OR j.expires_at > $1)`
	args := []any{now}
	if employers != nil {
		sql += ` AND j.employer_id = ANY($2)`
		args = append(args, employers)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (matching.Job, error) { return scanJob(row) })
}

// titleOccupations maps each job title to the occupation code most of its
// posts carry, so seekers' desired titles gain a code.
func titleOccupations(jobs []matching.Job) map[string]string {
	count := map[[2]string]int{}
	for i := range jobs {
		if jobs[i].OccupationCode != "" {
			count[[2]string{strings.TrimSpace(jobs[i].Title), jobs[i].OccupationCode}]++
		}
	}
	best := map[string]string{}
	bestN := map[string]int{}
	for k, n := range count {
		if n > bestN[k[0]] || (n == bestN[k[0]] && k[1] < best[k[0]]) {
			best[k[0]], bestN[k[0]] = k[1], n
		}
	}
	return best
}

// loadSeekers reads seekers (all, or ids) with profile and consent.
func loadSeekers(ctx context.Context, q querier, ids []int64, occ map[string]string) ([]matching.Seeker, error) {
	sql := `SELECT ` + seekerCols + ` FROM seekers s`
	var args []any
	if ids != nil {
		sql += ` WHERE s.id = ANY($1)`
		args = append(args, ids)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (matching.Seeker, error) { return scanSeeker(row, occ) })
}

// RebuildIndex loads every seeker and open job post into a new index and
// swaps it in; queries keep using the old one until then.
func (s *Service) RebuildIndex(ctx context.Context) (IndexStats, error) {
	s.match.buildMu.Lock()
	defer s.match.buildMu.Unlock()
	var st IndexStats
	t0 := time.Now()
	jobs, err := loadJobs(ctx, s.pool, s.now(), nil)
	if err != nil {
		return st, fmt.Errorf("booking: load job posts: %w", err)
	}
	seekers, err := loadSeekers(ctx, s.pool, nil, titleOccupations(jobs))
	if err != nil {
		return st, fmt.Errorf("booking: load seekers: %w", err)
	}
	st.Load = time.Since(t0)
	t1 := time.Now()
	ix, err := matching.NewIndex(seekers, jobs, matching.Options{Now: s.now})
	if err != nil {
		return st, fmt.Errorf("booking: build index: %w", err)
	}
	st.Build, st.Seekers, st.Jobs = time.Since(t1), len(seekers), len(jobs)
	seekers, jobs = nil, nil
	s.match.ix.Store(ix)
	s.match.built.Store(time.Now().UnixNano())
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.HeapBytes = ms.HeapAlloc
	s.log.InfoContext(ctx, "booking: matching index built", "seekers", st.Seekers, "jobs", st.Jobs,
		"load", st.Load.Round(time.Millisecond), "build", st.Build.Round(time.Millisecond), "heap_mib", st.HeapBytes>>20)
	return st, nil
}

// RunMatching builds the index, then rebuilds it every Config.MatchRebuild
// (inverted lists only grow between builds) and pushes newly published
// job posts every few seconds, until ctx ends.
func (s *Service) RunMatching(ctx context.Context) {
	if _, err := s.RebuildIndex(ctx); err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "booking: matching index", "err", err)
	}
	rebuild := time.NewTicker(s.match.every)
	defer rebuild.Stop()
	push := time.NewTicker(5 * time.Second)
	defer push.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rebuild.C:
			if _, err := s.RebuildIndex(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "booking: matching index", "err", err)
			}
			continue
		case <-push.C:
		case <-s.match.kick:
		}
		if s.match.ix.Load() == nil {
			continue
		}
		if _, err := s.PushRecommendations(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "booking: job recommendations", "err", err)
		}
	}
}

func (s *Service) index() (*matching.Index, error) {
	ix := s.match.ix.Load()
	if ix == nil {
		return nil, apperr.New(apperr.Unavailable, "推荐服务正在准备中，请稍后再试 / recommendations are warming up; retry shortly")
	}
	return ix, nil
}

// indexJob re-reads one job post into the index (create, close, or a post
// the index has not seen yet). Best effort: the periodic rebuild repairs.
func (s *Service) indexJob(ctx context.Context, id int64) {
	ix := s.match.ix.Load()
	if ix == nil {
		return
	}
	rows, err := s.pool.Query(ctx, `SELECT `+matchJobCols+` FROM job_posts j JOIN employers e ON e.id = j.employer_id WHERE j.id = $2`, s.now(), id)
	if err == nil {
		var j matching.Job
		if j, err = pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (matching.Job, error) { return scanJob(row) }); err == nil {
			ix.UpsertJob(j)
			return
		}
	}
	s.log.WarnContext(ctx, "booking: index job post", "job", id, "err", err)
}

// indexSeeker re-reads one seeker into the index (a profile or consent change).
func (s *Service) indexSeeker(ctx context.Context, id int64) {
	ix := s.match.ix.Load()
	if ix == nil {
		return
	}
	sks, err := loadSeekers(ctx, s.pool, []int64{id}, s.titleCodes(ctx))
	if err != nil || len(sks) != 1 {
		s.log.WarnContext(ctx, "booking: index seeker", "seeker", id, "err", err)
		return
	}
	ix.UpsertSeeker(sks[0])
}

// titleCodes is a small title → occupation map for single-seeker loads.
func (s *Service) titleCodes(ctx context.Context) map[string]string {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (title) title, occupation_code FROM (
			SELECT title, occupation_code, count(*) AS n FROM job_posts WHERE status = 'published' AND occupation_code <> ''
			GROUP BY 1, 2) x ORDER BY title, n DESC, occupation_code LIMIT 10000`)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for rows.Next() {
		var t, c string
		if rows.Scan(&t, &c) == nil {
			out[strings.TrimSpace(t)] = c
		}
	}
	rows.Close()
	return out
}

// withSeeker runs f, loading the seeker into the index first if it is new
// since the last build (a fresh sign-up).
func (s *Service) withSeeker(ctx context.Context, ix *matching.Index, id int64, f func() error) error {
	err := f()
	if apperr.CodeOf(err) == apperr.NotFound && strings.HasPrefix(errMsg(err), "seeker ") {
		s.indexSeeker(ctx, id)
		err = f()
	}
	if apperr.CodeOf(err) == apperr.NotFound && strings.HasPrefix(errMsg(err), "seeker ") {
		return apperr.New(apperr.NotFound, "没有这个求职者 / no seeker with id %d", id)
	}
	return err
}

// withJob is withSeeker for job posts.
func (s *Service) withJob(ctx context.Context, ix *matching.Index, id int64, f func() error) error {
	err := f()
	if apperr.CodeOf(err) == apperr.NotFound && strings.HasPrefix(errMsg(err), "job ") {
		s.indexJob(ctx, id)
		err = f()
	}
	switch {
	case apperr.CodeOf(err) == apperr.NotFound && strings.HasPrefix(errMsg(err), "job "):
		return apperr.New(apperr.NotFound, "没有这个职位 / no job post with id %d", id)
	case apperr.CodeOf(err) == apperr.Conflict && strings.Contains(errMsg(err), "not open"):
		return apperr.New(apperr.Conflict, "职位已关闭 / this job post is closed")
	}
	return err
}

// matchQuery reads the list filters shared by the feed and candidate lists.
func matchQuery(r *http.Request, feed bool) (matching.Query, error) {
	var q matching.Query
	var err error
	if q.K, err = queryInt(r, "limit", 20, 1, 50); err != nil {
		return q, err
	}
	if q.Offset, err = queryInt(r, "offset", 0, 0, 1000-q.K); err != nil {
		return q, err
	}
	v := r.URL.Query()
	if km := v.Get("max_km"); km != "" {
		f, err := strconv.ParseFloat(km, 64)
		if err != nil || math.IsNaN(f) || f <= 0 || f > 500 {
			return q, apperr.New(apperr.Invalid, "max_km must be a number above 0 and at most 500")
		}
		q.MaxDistanceKm = f
	}
	q.OccupationPrefix, q.Skill = strings.TrimSpace(v.Get("occupation")), strings.TrimSpace(v.Get("skill"))
	if err := textField("occupation", q.OccupationPrefix, 0, 20); err != nil {
		return q, err
	}
	if err := textField("skill", q.Skill, 0, 30); err != nil {
		return q, err
	}
	if feed {
		q.MinSalary, err = queryInt(r, "min_salary", 0, 0, 1_000_000)
	} else if e := v.Get("min_education"); e != "" {
		if q.MinEducation = matching.ParseEducation(e); q.MinEducation == matching.EduNone {
			return q, apperr.New(apperr.Invalid, "min_education must name a level, e.g. 高中, 大专, 本科")
		}
	}
	return q, err
}

type reasonJSON = matching.Reason

type matchJSON struct {
	Score        float64      `json:"score"`
	SeekerSide   float64      `json:"seeker_side"`
	EmployerSide float64      `json:"employer_side"`
	DistanceKm   *float64     `json:"distance_km"` // county to county; null when unknown
	Eligible     bool         `json:"eligible"`
	Rejected     *reasonJSON  `json:"rejected,omitempty"`
	Reasons      []reasonJSON `json:"reasons"`
	SummaryZH    string       `json:"summary_zh"`
	SummaryEN    string       `json:"summary_en"`
}

// matchOut rewrites distance reasons to say they are estimated by county.
func matchOut(m matching.Match) matchJSON {
	fix := func(r *matching.Reason) {
		if r == nil || r.Code != "distance" || m.DistanceKm < 0 {
			return
		}
		switch {
		case m.Rejected == r:
			r.ZH = fmt.Sprintf("约%.0f公里（按区县估算），超出通勤范围", m.DistanceKm)
			r.EN = fmt.Sprintf("about %.0f km (by county), beyond the commute", m.DistanceKm)
		case m.DistanceKm < 1:
			r.ZH, r.EN = "同一区县", "same county"
		default:
			r.ZH = fmt.Sprintf("约%.0f公里（按区县估算）", m.DistanceKm)
			r.EN = fmt.Sprintf("about %.0f km (by county)", m.DistanceKm)
		}
	}
	for i := range m.Reasons {
		fix(&m.Reasons[i])
	}
	fix(m.Rejected)
	out := matchJSON{Score: round3(m.Score), SeekerSide: round3(m.SeekerSide), EmployerSide: round3(m.EmployerSide), Eligible: m.Eligible,
		Rejected: m.Rejected, Reasons: nonNil(m.Reasons), SummaryZH: m.SummaryZH(), SummaryEN: m.SummaryEN()}
	if m.DistanceKm >= 0 {
		d := math.Round(m.DistanceKm*10) / 10
		out.DistanceKm = &d
	}
	return out
}

func errMsg(err error) string { return apperr.As(err).Message }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// --- the seeker's feed ---

func (s *Service) handleFeed(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	q, err := matchQuery(r, true)
	if err != nil {
		return err
	}
	ix, err := s.index()
	if err != nil {
		return err
	}
	ctx := r.Context()
	var pg matching.Page
	if err := s.withSeeker(ctx, ix, p.ID, func() (err error) { pg, err = ix.TopJobs(p.ID, q); return err }); err != nil {
		return err
	}
	ids := make([]int64, len(pg.Items))
	for i, m := range pg.Items {
		ids[i] = m.JobID
	}
	// The database has the last word on which posts are still open.
	rows, err := s.pool.Query(ctx, `SELECT `+jobCols+` FROM job_posts j JOIN employers e ON e.id = j.employer_id
		WHERE j.id = ANY($1) AND j.status = 'published' AND (j.expires_at IS NULL OR j.expires_at > $2)`, ids, s.now())
	if err != nil {
		return internal(err, "read job posts")
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jobJSON])
	if err != nil {
		return internal(err, "read job posts")
	}
	byID := make(map[int64]jobJSON, len(jobs))
	for _, j := range jobs {
		j.Skills = nonNil(j.Skills)
		byID[j.ID] = j
	}
	type item struct {
		Job   jobJSON   `json:"job"`
		Match matchJSON `json:"match"`
	}
	items := make([]item, 0, len(pg.Items))
	for _, m := range pg.Items {
		if j, ok := byID[m.JobID]; ok {
			items = append(items, item{j, matchOut(m)})
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items, "limit": q.K, "offset": pg.Offset, "next_offset": pg.NextOffset})
}

// --- candidates for a job and one pair's explanation (staff) ---

// jobAccess checks that p may see matches of job id: staff of its
// employer, an officer of a fair where that employer has a booth, or an
// administrator. It returns the job's employer.
func (s *Service) jobAccess(ctx context.Context, p principal, id int64) (int64, error) {
	var emp int64
	var officer bool
	err := s.pool.QueryRow(ctx, `SELECT j.employer_id, EXISTS (SELECT 1 FROM booths b JOIN fair_officers fo ON fo.fair_id = b.fair_id
			WHERE b.employer_id = j.employer_id AND fo.account_id = $2)
		FROM job_posts j WHERE j.id = $1`, id, p.Account).Scan(&emp, &officer)
	if isNoRows(err) {
		return 0, apperr.New(apperr.NotFound, "没有这个职位 / no job post with id %d", id)
	}
	if err != nil {
		return 0, internal(err, "look up job")
	}
	switch {
	case p.Role == RoleAdmin, p.Role == RoleEmployer && p.ID == emp, p.Role == RoleOfficer && officer:
		return emp, nil
	case p.Role == RoleEmployer:
		return 0, apperr.New(apperr.Forbidden, "这不是您单位的职位 / this job post belongs to another employer")
	case p.Role == RoleOfficer:
		return 0, apperr.New(apperr.Forbidden, "您不负责这家单位参加的招聘会 / you are not an officer of a fair this employer attends")
	default:
		return 0, forbiddenRoles(p.Role, []string{RoleEmployer, RoleOfficer, RoleAdmin})
	}
}

type candidateJSON struct {
	SeekerID   int64     `json:"seeker_id"`
	Name       string    `json:"name"`
	County     string    `json:"county"`
	Education  string    `json:"education"`
	Skills     []string  `json:"skills"`
	Experience int16     `json:"experience_years"`
	DesiredJob string    `json:"desired_job"`
	Match      matchJSON `json:"match"`
}

func (s *Service) handleCandidates(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q, err := matchQuery(r, false)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.jobAccess(ctx, p, id); err != nil {
		return err
	}
	ix, err := s.index()
	if err != nil {
		return err
	}
	var pg matching.Page
	if err := s.withJob(ctx, ix, id, func() (err error) { pg, err = ix.TopCandidates(id, q); return err }); err != nil {
		return err
	}
	ids := make([]int64, len(pg.Items))
	for i, m := range pg.Items {
		ids[i] = m.SeekerID
	}
	// Consent is re-read and every shown seeker audited in one statement:
	// a seeker who withdrew consent since the index was built is left out.
	rows, err := s.pool.Query(ctx, `WITH v AS (
			SELECT id, name, county, education, skills, experience_years, desired_job FROM seekers
			WHERE id = ANY($1) AND consent_profile_visible),
		a AS (INSERT INTO audit_log (actor, action, seeker_id, subject, at) SELECT $2, 'view_candidates', id, $3, $4 FROM v)
		SELECT * FROM v`, ids, p.actor(), "job:"+strconv.FormatInt(id, 10), s.now())
	if err != nil {
		return internal(err, "read candidates")
	}
	type row struct {
		ID         int64
		Name       string
		County     string
		Education  string
		Skills     []string
		Experience int16
		DesiredJob string
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return internal(err, "read candidates")
	}
	byID := make(map[int64]row, len(found))
	for _, c := range found {
		byID[c.ID] = c
	}
	out := make([]candidateJSON, 0, len(pg.Items))
	for _, m := range pg.Items {
		if c, ok := byID[m.SeekerID]; ok {
			out = append(out, candidateJSON{c.ID, c.Name, c.County, c.Education, nonNil(c.Skills), c.Experience, c.DesiredJob, matchOut(m)})
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"job_post_id": id, "candidates": out, "limit": q.K, "offset": pg.Offset,
		"next_offset": pg.NextOffset})
}

func (s *Service) handleExplainMatch(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	jobID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	seekerID := p.ID
	if v := r.URL.Query().Get("seeker_id"); v != "" || p.Role != RoleSeeker {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return apperr.New(apperr.Invalid, "seeker_id must be a positive integer")
		}
		if p.Role == RoleSeeker && n != p.ID {
			return apperr.New(apperr.Forbidden, "只能查看您自己的匹配 / seekers can only see their own matches")
		}
		seekerID = n
	}
	ctx := r.Context()
	if p.Role != RoleSeeker {
		if _, err := s.jobAccess(ctx, p, jobID); err != nil {
			return err
		}
		var exists, visible bool
		err := s.pool.QueryRow(ctx, `WITH v AS (SELECT id FROM seekers WHERE id = $1 AND consent_profile_visible),
			a AS (INSERT INTO audit_log (actor, action, seeker_id, subject, at) SELECT $2, 'view_match', id, $3, $4 FROM v)
			SELECT EXISTS (SELECT 1 FROM seekers WHERE id = $1), EXISTS (SELECT 1 FROM v)`,
			seekerID, p.actor(), "job:"+strconv.FormatInt(jobID, 10), s.now()).Scan(&exists, &visible)
		if err != nil {
			return internal(err, "check consent")
		}
		if !exists {
			return apperr.New(apperr.NotFound, "没有这个求职者 / no seeker with id %d", seekerID)
		}
		if !visible {
			return apperr.New(apperr.Forbidden, "求职者未同意向单位展示资料 / this seeker has not agreed to show the profile to employers")
		}
	} else if err := s.checkJobExists(ctx, jobID); err != nil {
		return err
	}
	ix, err := s.index()
	if err != nil {
		return err
	}
	var m matching.Match
	err = s.withSeeker(ctx, ix, seekerID, func() error {
		return s.withJob(ctx, ix, jobID, func() (err error) { m, err = ix.Explain(seekerID, jobID); return err })
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"seeker_id": seekerID, "job_post_id": jobID, "employer_id": m.EmployerID, "match": matchOut(m)})
}

// --- closing a job post ---

func (s *Service) handleCloseJob(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := textField("reason", in.Reason, 0, 500); err != nil {
		return err
	}
	if p.Role == RoleEmployer {
		if err := s.ownJob(r, p, id); err != nil {
			return err
		}
	} else if err := s.checkJobExists(r.Context(), id); err != nil {
		return err
	}
	if _, err := s.pool.Exec(r.Context(), `UPDATE job_posts SET status = 'closed', push_due = false WHERE id = $1 AND status <> 'closed'`, id); err != nil {
		return internal(err, "close job post")
	}
	if ix := s.match.ix.Load(); ix != nil {
		_ = ix.SetJobActive(id, false) // not indexed: nothing to close
	}
	return s.writeJob(w, r, id, http.StatusOK)
}

// --- pushing new posts to their best seekers ---

// PushRecommendations pushes job posts published since the last pass to
// their best-matching seekers: one outbox row each ('job.recommended',
// delivered like reminders), written with the post's push_due flag cleared
// in one transaction. Posts are claimed with SKIP LOCKED, so nodes share
// the work. It returns how many recommendations it queued.
func (s *Service) PushRecommendations(ctx context.Context) (int, error) {
	ix, err := s.index()
	if err != nil {
		return 0, err
	}
	now := s.now()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	rows, err := tx.Query(ctx, `SELECT `+matchJobCols+`, e.name FROM job_posts j JOIN employers e ON e.id = j.employer_id
		WHERE j.push_due ORDER BY j.id LIMIT 20 FOR UPDATE OF j SKIP LOCKED`, now)
	if err != nil {
		return 0, err
	}
	type due struct {
		job      matching.Job
		employer string
	}
	claimed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (due, error) {
		var d due
		var j matching.Job
		var edu, county string
		var exp int16
		var lo, hi int32
		var lat, lon *float64
		err := row.Scan(&j.ID, &j.EmployerID, &j.Title, &j.Description, &j.OccupationCode, &j.Skills, &lo, &hi, &edu, &exp, &county,
			&lat, &lon, &j.Active, &j.PublishedAt, &d.employer)
		j.SalaryMin, j.SalaryMax, j.Education, j.ExperienceYears = int(lo), int(hi), matching.ParseEducation(edu), int(exp)
		if lat != nil && lon != nil {
			j.Location = matching.Point{Lat: *lat, Lon: *lon}
		} else {
			j.Location = countyCentres[county]
		}
		d.job = j
		return d, err
	})
	if err != nil {
		return 0, err
	}
	queued := 0
	for _, d := range claimed {
		ix.UpsertJob(d.job) // this node may not have seen the post yet
		if d.job.Active {
			pg, err := ix.TopCandidates(d.job.ID, matching.Query{K: s.match.pushTop, MinScore: s.match.pushMin})
			if err != nil {
				return queued, err
			}
			sids, scores, summaries := make([]int64, 0, len(pg.Items)), make([]float64, 0, len(pg.Items)), make([]string, 0, len(pg.Items))
			for _, m := range pg.Items {
				sids, scores, summaries = append(sids, m.SeekerID), append(scores, round3(m.Score)), append(summaries, matchOut(m).SummaryZH)
			}
			tag, err := tx.Exec(ctx, `INSERT INTO outbox (kind, event, seeker_id, job_post_id, payload, due_at)
				SELECT 'recommendation', $5, x.sid, $1, jsonb_build_object('seeker_id', x.sid, 'job_post_id', $1::bigint, 'title', $6::text,
					'employer', $7::text, 'score', x.score, 'summary', x.summary), $8
				FROM unnest($2::bigint[], $3::float8[], $4::text[]) AS x(sid, score, summary)
				ON CONFLICT (job_post_id, seeker_id) WHERE kind = 'recommendation' DO NOTHING`,
				d.job.ID, sids, scores, summaries, EventJobRecommended, d.job.Title, d.employer, now)
			if err != nil {
				return queued, err
			}
			queued += int(tag.RowsAffected())
		}
		if _, err := tx.Exec(ctx, `UPDATE job_posts SET push_due = false, pushed_at = $2 WHERE id = $1`, d.job.ID, now); err != nil {
			return queued, err
		}
	}
	return queued, tx.Commit(ctx)
}

// sendRecommendation delivers one push unless the post closed meanwhile.
func (s *Service) sendRecommendation(ctx context.Context, tx pgx.Tx, o outboxRow) error {
	var rec Recommendation
	var open bool
	err := tx.QueryRow(ctx, `SELECT sk.id, sk.phone, j.id, j.title, e.name, j.status = 'published' AND (j.expires_at IS NULL OR j.expires_at > $3),
			coalesce((o.payload->>'score')::float8, 0), coalesce(o.payload->>'summary', '')
		FROM outbox o JOIN seekers sk ON sk.id = o.seeker_id JOIN job_posts j ON j.id = o.job_post_id JOIN employers e ON e.id = j.employer_id
		WHERE o.id = $1 AND o.id = $2`, o.id, o.id, s.now()).
		Scan(&rec.SeekerID, &rec.Phone, &rec.JobPostID, &rec.Title, &rec.Employer, &open, &rec.Score, &rec.Summary)
	if err != nil {
		return err
	}
	if !open {
		return nil // closed before delivery: nothing to recommend
	}
	if rn, ok := s.notifier.(Recommender); ok {
		return rn.Recommend(ctx, rec)
	}
	s.log.InfoContext(ctx, "booking: job recommendation (the notifier cannot push it; logged)", slog.Int64("seeker", rec.SeekerID),
		slog.Int64("job", rec.JobPostID))
	return nil
}
