package booking_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"jobhall/booking"
)

func items(r resp, key string) []map[string]any {
	raw, _ := r.Body[key].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	return v
}

// visibleSeekerWithMatches finds a consenting seeker whose feed is not empty.
func (e *env) feedSeeker() (int64, string) {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT id FROM seekers WHERE consent_profile_visible AND desired_job <> '' ORDER BY id LIMIT 20`)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		tok := e.signIn("seeker", id)
		if r := e.get("/api/v1/me/feed?limit=10", tok); r.Status == http.StatusOK && len(items(r, "items")) == 10 {
			return id, tok
		}
	}
	e.t.Fatal("no seeker with a full feed")
	return 0, ""
}

func TestMatchingFeedCandidatesAndExplanations(t *testing.T) {
	e := newEnv(t)
	seekers := e.seekerIDs(1)
	mustStatus(t, e.get("/api/v1/me/feed", e.signIn("seeker", seekers[0])), http.StatusServiceUnavailable, "feed before the index is built")
	st, err := e.svc.RebuildIndex(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.count(`SELECT count(*) FROM seekers`); st.Seekers != want {
		t.Fatalf("index holds %d seekers, database %d", st.Seekers, want)
	}
	if want := e.count(`SELECT count(*) FROM job_posts WHERE status = 'published'`); st.Jobs != want {
		t.Fatalf("index holds %d jobs, database %d", st.Jobs, want)
	}

	// The feed: best first, reasons in both languages, filters, pages.
	sid, tok := e.feedSeeker()
	r := e.get("/api/v1/me/feed?limit=10", tok)
	feed := items(r, "items")
	prev := 2.0
	for _, it := range feed {
		sc, _ := field(it, "match", "score").(float64)
		if sc > prev || sc <= 0 || field(it, "job", "title") == "" || field(it, "match", "summary_zh") == "" || field(it, "match", "summary_en") == "" {
			t.Fatalf("feed item out of order or incomplete: %v", it)
		}
		prev = sc
	}
	if num(r.Body["next_offset"]) != 10 {
		t.Fatalf("next_offset %v, want 10", r.Body["next_offset"])
	}
	p2 := items(e.get("/api/v1/me/feed?limit=10&offset=10", tok), "items")
	for _, a := range p2 {
		for _, b := range feed {
			if num(field(a, "job", "id")) == num(field(b, "job", "id")) {
				t.Fatalf("job %v on both pages", field(a, "job", "id"))
			}
		}
	}
	occ, _ := field(feed[0], "job", "occupation_code").(string)
	prefix := occ[:strings.LastIndexByte(occ, '-')]
	for _, it := range items(e.get("/api/v1/me/feed?limit=20&min_salary=5000&occupation="+prefix, tok), "items") {
		if !strings.HasPrefix(field(it, "job", "occupation_code").(string), prefix) || max(num(field(it, "job", "salary_min")), num(field(it, "job", "salary_max"))) < 5000 {
			t.Fatalf("filtered feed item %v", it)
		}
	}
	skills, _ := field(feed[0], "job", "skills").([]any)
	for _, it := range items(e.get("/api/v1/me/feed?limit=20&skill="+skills[0].(string), tok), "items") {
		found := false
		for _, s := range field(it, "job", "skills").([]any) {
			found = found || s == skills[0]
		}
		if !found {
			t.Fatalf("feed item without skill %v: %v", skills[0], it)
		}
	}
	for _, q := range []string{"limit=0", "limit=51", "offset=-1", "max_km=-3", "max_km=abc", "min_salary=-1"} {
		if r := e.get("/api/v1/me/feed?"+q, tok); r.Status != http.StatusBadRequest || r.str("message") == "" {
			t.Fatalf("feed?%s: %d %s", q, r.Status, r.Raw)
		}
	}

	// The explanation of one pair, for the seeker.
	job := num(field(feed[0], "job", "id"))
	ex := e.get(fmtPath("/api/v1/jobs/%d/match", job), tok)
	mustStatus(t, ex, http.StatusOK, "explain")
	if field(ex.Body, "match", "eligible") != true || len(field(ex.Body, "match", "reasons").([]any)) == 0 {
		t.Fatalf("explanation %s", ex.Raw)
	}
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d/match", 1<<40), tok), http.StatusNotFound, "explain an unknown job")

	// Candidates for the job: its employer only; consenting seekers only; audited.
	var emp int64
	if err := e.pool.QueryRow(e.ctx, `SELECT employer_id FROM job_posts WHERE id = $1`, job).Scan(&emp); err != nil {
		t.Fatal(err)
	}
	empTok := e.signIn("employer", emp)
	c := e.get(fmtPath("/api/v1/jobs/%d/candidates?limit=20", job), empTok)
	mustStatus(t, c, http.StatusOK, "candidates")
	cands := items(c, "candidates")
	if len(cands) == 0 {
		t.Fatalf("no candidates: %s", c.Raw)
	}
	for _, cd := range cands {
		id := num(cd["seeker_id"])
		if e.count(`SELECT count(*) FROM seekers WHERE id = $1 AND consent_profile_visible`, id) != 1 {
			t.Fatalf("seeker %d listed without consent", id)
		}
		if e.count(`SELECT count(*) FROM audit_log WHERE seeker_id = $1 AND action = 'view_candidates' AND actor = $2 AND subject = $3`,
			id, "employer:"+itoa(emp), "job:"+itoa(job)) != 1 {
			t.Fatalf("candidate %d view not audited", id)
		}
	}
	// Consent withdrawn behind the index's back: the database leaves the seeker out.
	gone := num(cands[0]["seeker_id"])
	if _, err := e.pool.Exec(e.ctx, `UPDATE seekers SET consent_profile_visible = false WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	for _, cd := range items(e.get(fmtPath("/api/v1/jobs/%d/candidates?limit=20", job), empTok), "candidates") {
		if num(cd["seeker_id"]) == gone {
			t.Fatalf("seeker %d listed after withdrawing consent", gone)
		}
	}
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d/match?seeker_id=%d", job, gone), empTok), http.StatusForbidden, "explain a non-consenting seeker")
	other := num(cands[1]["seeker_id"])
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d/match?seeker_id=%d", job, other), empTok), http.StatusOK, "employer explains a candidate")
	if e.count(`SELECT count(*) FROM audit_log WHERE seeker_id = $1 AND action = 'view_match'`, other) != 1 {
		t.Fatal("explanation to an employer not audited")
	}
	// A seeker who withdraws consent through the API leaves the index at once.
	if _, err := e.pool.Exec(e.ctx, `UPDATE seekers SET consent_profile_visible = true WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.request("PUT", "/api/v1/me/profile", e.signIn("seeker", other), "application/json", map[string]any{"consent_profile_visible": false}),
		http.StatusOK, "withdraw consent")
	for _, cd := range items(e.get(fmtPath("/api/v1/jobs/%d/candidates?limit=50", job), empTok), "candidates") {
		if num(cd["seeker_id"]) == other {
			t.Fatal("seeker listed after withdrawing consent through the API")
		}
	}
	if n := e.count(`SELECT count(*) FROM seekers WHERE NOT consent_profile_visible`); n == 0 {
		t.Fatal("the demo has no non-consenting seekers to leave out")
	}
	// Officers of a fair the employer attends; filters; bad input.
	officer := e.officerOf(e.fairID)
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d/candidates?min_education=大专", job), officer), http.StatusOK, "officer candidates")
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d/candidates?min_education=xyz", job), officer), http.StatusBadRequest, "bad education")
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d/candidates", 1<<40), officer), http.StatusNotFound, "candidates of an unknown job")

	// Closing the job takes it out of feeds and candidate lists.
	mustStatus(t, e.post(fmtPath("/api/v1/jobs/%d/close", job), empTok, map[string]any{"reason": "招满了"}), http.StatusOK, "close job")
	mustStatus(t, e.get(fmtPath("/api/v1/jobs/%d/candidates", job), empTok), http.StatusConflict, "candidates of a closed job")
	for _, it := range items(e.get("/api/v1/me/feed?limit=50", tok), "items") {
		if num(field(it, "job", "id")) == job {
			t.Fatal("closed job still in the feed")
		}
	}
	if ex := e.get(fmtPath("/api/v1/jobs/%d/match", job), tok); field(ex.Body, "match", "eligible") != false || field(ex.Body, "match", "rejected", "code") != "inactive" {
		t.Fatalf("explanation of a closed job: %s", ex.Raw)
	}
	_ = sid
}

// recordingNotifier keeps recommendations delivered through the outbox.
type recordingNotifier struct {
	mu   sync.Mutex
	recs []booking.Recommendation
}

func (n *recordingNotifier) Remind(context.Context, booking.Reminder) error { return nil }
func (n *recordingNotifier) Recommend(_ context.Context, r booking.Recommendation) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.recs = append(n.recs, r)
	return nil
}

func TestNewJobIsPushedToBestSeekers(t *testing.T) {
	notes := &recordingNotifier{}
	e := newEnvWith(t, func(c *booking.Config) { c.Notifier, c.PushTop, c.PushMinScore = notes, 20, 0.3 })
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.svc.RunMatching(ctx) }()
	defer func() { cancel(); <-done }()
	// Publish once the index is up (RunMatching builds it first).
	deadline := time.Now().Add(time.Minute)
	_, emps := e.booths(1)
	empTok := e.signIn("employer", emps[0])
	for e.get("/api/v1/me/feed", e.signIn("seeker", e.seekerIDs(1)[0])).Status == http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("index not built within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	j := e.post("/api/v1/jobs", empTok, map[string]any{"title": "电焊工", "occupation_code": "6-18-02-04", "skills": []string{"电焊", "识图"},
		"salary_min": 5000, "salary_max": 8000, "education": "初中", "county": "城关区", "headcount": 3})
	mustStatus(t, j, http.StatusCreated, "publish")
	job := num(j.Body["id"])
	// The push is queued by the background pass (kicked by the publish).
	for e.count(`SELECT count(*) FROM job_posts WHERE id = $1 AND push_due`, job) == 1 {
		if time.Now().After(deadline) {
			t.Fatal("new job not pushed within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := e.count(`SELECT count(*) FROM outbox WHERE kind = 'recommendation' AND event = 'job.recommended' AND job_post_id = $1`, job)
	if n == 0 || n > 20 {
		t.Fatalf("%d recommendations queued, want 1..20", n)
	}
	// The pushes go to the job's top candidates, in the database's consent.
	admin, _ := e.account(booking.RoleAdmin, 0)
	top := items(e.get(fmtPath("/api/v1/jobs/%d/candidates?limit=%d", job, n), admin), "candidates")
	for _, c := range top {
		if e.count(`SELECT count(*) FROM outbox WHERE kind = 'recommendation' AND job_post_id = $1 AND seeker_id = $2`, job, num(c["seeker_id"])) != 1 {
			t.Fatalf("top candidate %v not pushed", c["seeker_id"])
		}
	}
	// Delivered like reminders, once; a second pass queues nothing more.
	if q, err := e.svc.PushRecommendations(e.ctx); err != nil || q != 0 {
		t.Fatalf("second push pass queued %d (%v)", q, err)
	}
	for range 10 {
		if _, err := e.svc.DeliverDue(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	notes.mu.Lock()
	got := len(notes.recs)
	first := notes.recs[0]
	notes.mu.Unlock()
	if got != n || first.JobPostID != job || first.Title != "电焊工" || first.Phone == "" || first.Summary == "" {
		t.Fatalf("delivered %d of %d; first %+v", got, n, first)
	}
	// Bulk-loaded posts (the demo's) were never pushed.
	if m := e.count(`SELECT count(*) FROM outbox WHERE kind = 'recommendation' AND job_post_id <> $1`, job); m != 0 {
		t.Fatalf("%d pushes for bulk-loaded posts", m)
	}
}
