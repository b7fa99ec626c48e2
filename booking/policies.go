package booking

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
)

// Policy notices, job-post reports and the poverty-alleviation follow-up.

// PolicyCategories are the categories a policy notice may carry.
var PolicyCategories = []string{"employment_subsidy", "training_allowance", "entrepreneurship", "social_insurance", "poverty_alleviation", "other"}

type policyJSON struct {
	ID          int64     `json:"id"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	Categories  []string  `json:"categories"`
	Counties    []string  `json:"counties"`
	PovertyOnly bool      `json:"poverty_only"`
	PublishedAt time.Time `json:"published_at"`
}

func (s *Service) handleCreatePolicy(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		Title       string   `json:"title"`
		Body        string   `json:"body"`
		Categories  []string `json:"categories"`
		Counties    []string `json:"counties"`
		PovertyOnly bool     `json:"poverty_only"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Title) == "" {
		return apperr.New(apperr.Invalid, "请填写政策标题 / title is required")
	}
	if err := textField("title", in.Title, 1, 200); err != nil {
		return err
	}
	if err := textField("body", in.Body, 0, 20000); err != nil {
		return err
	}
	if len(in.Categories) == 0 || len(in.Categories) > len(PolicyCategories) {
		return apperr.New(apperr.Invalid, "请选择政策类别 / categories must hold 1 to %d of %v", len(PolicyCategories), PolicyCategories)
	}
	for _, c := range in.Categories {
		if !slices.Contains(PolicyCategories, c) {
			return apperr.New(apperr.Invalid, "unknown category %q; categories are %v", c, PolicyCategories)
		}
	}
	if len(in.Counties) > 50 {
		return apperr.New(apperr.Invalid, "at most 50 counties")
	}
	for _, c := range in.Counties {
		if err := textField("county", c, 1, 50); err != nil {
			return err
		}
	}
	in.Categories, in.Counties = slices.Compact(slices.Sorted(slices.Values(in.Categories))), nonNil(slices.Compact(slices.Sorted(slices.Values(in.Counties))))
	var out policyJSON
	err := s.pool.QueryRow(r.Context(), `INSERT INTO policies (title, body, categories, counties, poverty_only, published_by, published_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, title, body, categories, counties, poverty_only, published_at`,
		strings.TrimSpace(in.Title), in.Body, in.Categories, in.Counties, in.PovertyOnly, p.actor(), s.now()).
		Scan(&out.ID, &out.Title, &out.Body, &out.Categories, &out.Counties, &out.PovertyOnly, &out.PublishedAt)
	if err != nil {
		return internal(err, "publish policy")
	}
	return writeJSON(w, http.StatusCreated, out)
}

// handleListPolicies is the public feed: searchable by words in the title
// or body, filterable by category and county (city-wide notices always
// match a county).
func (s *Service) handleListPolicies(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len([]rune(q)) > 100 {
		return apperr.New(apperr.Invalid, "q must be at most 100 characters")
	}
	cat := r.URL.Query().Get("category")
	if cat != "" && !slices.Contains(PolicyCategories, cat) {
		return apperr.New(apperr.Invalid, "category must be one of %v", PolicyCategories)
	}
	county := r.URL.Query().Get("county")
	if err := textField("county", county, 0, 50); err != nil {
		return err
	}
	return s.listPolicies(w, r, q, cat, county, nil)
}

// handleMyPolicies: the notices that apply to the signed-in seeker (their
// county or city-wide; poverty-only ones for registered seekers).
func (s *Service) handleMyPolicies(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var county string
	var poverty bool
	if err := s.pool.QueryRow(r.Context(), `SELECT county, poverty_registered FROM seekers WHERE id = $1`, p.ID).Scan(&county, &poverty); err != nil {
		if isNoRows(err) {
			return apperr.New(apperr.Unauthorized, "your account no longer exists; please sign in again")
		}
		return internal(err, "look up seeker")
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len([]rune(q)) > 100 {
		return apperr.New(apperr.Invalid, "q must be at most 100 characters")
	}
	return s.listPolicies(w, r, q, "", county, &poverty)
}

func (s *Service) listPolicies(w http.ResponseWriter, r *http.Request, q, cat, county string, poverty *bool) error {
	limit, err := queryInt(r, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 100_000)
	if err != nil {
		return err
	}
	// Every word must appear (Chinese has no spaces; a phrase is one word).
	words := strings.Fields(q)
	patterns := make([]string, len(words))
	for i, wd := range words {
		patterns[i] = "%" + likeEscaper.Replace(wd) + "%"
	}
	rows, err := s.pool.Query(r.Context(), `SELECT id, title, body, categories, counties, poverty_only, published_at FROM policies
		WHERE (SELECT bool_and(title ILIKE x OR body ILIKE x) FROM unnest($1::text[]) AS x) IS NOT FALSE
			AND ($2 = '' OR $2 = ANY (categories))
			AND ($3 = '' OR counties = '{}' OR $3 = ANY (counties))
			AND ($4::boolean IS NULL OR $4 OR NOT poverty_only)
		ORDER BY published_at DESC, id DESC LIMIT $5 OFFSET $6`, patterns, cat, county, poverty, limit, offset)
	if err != nil {
		return internal(err, "list policies")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[policyJSON])
	if err != nil {
		return internal(err, "list policies")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"policies": nonNil(list), "limit": limit, "offset": offset})
}

// --- job post reports ---

func (s *Service) handleReportJob(w http.ResponseWriter, r *http.Request) error {
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
	if err := textField("reason", in.Reason, 1, 500); err != nil {
		return apperr.New(apperr.Invalid, "请说明举报原因 / reason is required (1 to 500 characters)")
	}
	_, err = s.pool.Exec(r.Context(), `INSERT INTO job_post_reports (job_post_id, seeker_id, reason, created_at) VALUES ($1, $2, $3, $4)`,
		id, p.ID, strings.TrimSpace(in.Reason), s.now())
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return apperr.New(apperr.Conflict, "您已举报过这个岗位 / you have already reported this job post")
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return apperr.New(apperr.NotFound, "没有这个职位 / no job post with id %d", id)
	case err != nil:
		return internal(err, "report job post")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"job_post_id": id, "reported": true})
}

// --- poverty-alleviation follow-up ---

// Follow-up outcomes an officer records.
var followUpStatuses = map[string]bool{"employed": true, "seeking": true, "in_training": true, "unreachable": true, "not_seeking": true}

func (s *Service) handleFollowUp(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Channel string `json:"channel"`
		Status  string `json:"status"`
		Note    string `json:"note"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Channel != "phone" && in.Channel != "visit" && in.Channel != "message" {
		return apperr.New(apperr.Invalid, `channel must be "phone", "visit" or "message"`)
	}
	if !followUpStatuses[in.Status] {
		return apperr.New(apperr.Invalid, `status must be "employed", "seeking", "in_training", "unreachable" or "not_seeking"`)
	}
	if err := textField("note", in.Note, 0, 1000); err != nil {
		return err
	}
	now := s.now()
	var logID int64
	var poverty bool
	err = s.pool.QueryRow(r.Context(), `WITH sk AS (SELECT id, poverty_registered FROM seekers WHERE id = $1),
		ins AS (INSERT INTO employment_log (seeker_id, kind, at, data)
			SELECT id, $2, $3, jsonb_build_object('channel', $4::text, 'status', $5::text, 'note', $6::text, 'by', $7::text) FROM sk WHERE poverty_registered
			RETURNING id)
		SELECT coalesce((SELECT id FROM ins), 0), poverty_registered FROM sk`, id, KindFollowUp, now, in.Channel, in.Status, in.Note, p.actor()).
		Scan(&logID, &poverty)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个求职者 / no seeker with id %d", id)
	}
	if err != nil {
		return internal(err, "record follow-up")
	}
	if !poverty {
		return apperr.New(apperr.Conflict, "该求职者不是登记帮扶对象 / this seeker is not a registered poverty-alleviation seeker")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": logID, "seeker_id": id, "channel": in.Channel, "status": in.Status, "at": now.UTC()})
}

// handleFollowUpList is the officer's list of registered poverty-alleviation
// seekers without a job who have had no interview, or no change of status,
// for `days` days. Status comes from the latest follow-up call or interview
// outcome (an intention to hire counts as employed). Each listing is
// written to the audit log, one row per seeker shown.
func (s *Service) handleFollowUpList(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	days, err := queryInt(r, "days", 30, 1, 365)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	type row struct {
		SeekerID        int64      `json:"seeker_id"`
		Name            string     `json:"name"`
		County          string     `json:"county"`
		Status          string     `json:"status"`
		StatusAt        *time.Time `json:"status_at"`
		LastInterviewAt *time.Time `json:"last_interview_at"`
		LastContactAt   *time.Time `json:"last_contact_at"`
		NoInterview     bool       `json:"no_interview"`
		NoJob           bool       `json:"no_job"`
	}
	ctx, now := r.Context(), s.now()
	since := now.AddDate(0, 0, -days)
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	rows, err := tx.Query(ctx, `SELECT sk.id, sk.name, sk.county, coalesce(st.status, 'unknown'), st.at, iv.at, ct.at,
			iv.at IS NULL OR iv.at < $2, coalesce(st.status, '') <> 'employed'
		FROM seekers sk
		LEFT JOIN LATERAL (SELECT l.at, CASE WHEN l.kind = 'followup' THEN l.data->>'status'
				WHEN l.data->>'outcome' = 'hire_intent' THEN 'employed' ELSE 'seeking' END AS status
			FROM employment_log l WHERE l.seeker_id = sk.id AND l.kind IN ('followup', 'outcome_recorded', 'walkin_outcome')
			ORDER BY l.at DESC, l.id DESC LIMIT 1) st ON true
		LEFT JOIN LATERAL (SELECT max(l.at) AS at FROM employment_log l WHERE l.seeker_id = sk.id
			AND l.kind IN ('interview_started', 'outcome_recorded', 'walkin_outcome')) iv ON true
		LEFT JOIN LATERAL (SELECT max(l.at) AS at FROM employment_log l WHERE l.seeker_id = sk.id AND l.kind = ANY ($4)) ct ON true
		WHERE sk.poverty_registered AND sk.id > $1 AND coalesce(st.status, '') <> 'employed'
			AND (iv.at IS NULL OR iv.at < $2 OR coalesce(st.at, sk.created_at) < $2)
		ORDER BY sk.id LIMIT $3`, after, since, limit, contactKinds)
	if err != nil {
		return internal(err, "follow-up list")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return internal(err, "follow-up list")
	}
	ids := make([]int64, len(list))
	for i, x := range list {
		ids[i] = x.SeekerID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, seeker_id, subject, at) SELECT $1, 'view_followup_list', x, 'poverty follow-up list', $3
		FROM unnest($2::bigint[]) AS x`, p.actor(), ids, now); err != nil {
		return internal(err, "audit follow-up list")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "follow-up list")
	}
	out := map[string]any{"days": days, "seekers": nonNil(list), "limit": limit}
	if len(list) == limit {
		out["next_after"] = list[len(list)-1].SeekerID
	}
	return writeJSON(w, http.StatusOK, out)
}
