package booking

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
)

type jobJSON struct {
	ID             int64      `json:"id"`
	EmployerID     int64      `json:"employer_id"`
	EmployerName   string     `json:"employer_name"`
	Title          string     `json:"title"`
	OccupationCode string     `json:"occupation_code"`
	Skills         []string   `json:"skills"`
	SalaryMin      *int32     `json:"salary_min"`
	SalaryMax      *int32     `json:"salary_max"`
	Education      string     `json:"education"`
	Experience     int16      `json:"experience_years"`
	County         string     `json:"county"`
	Address        string     `json:"address"`
	Latitude       *float64   `json:"latitude"`
	Longitude      *float64   `json:"longitude"`
	Headcount      int32      `json:"headcount"`
	Shift          string     `json:"shift"`
	Status         string     `json:"status"`
	PublishedAt    *time.Time `json:"published_at"`
	ExpiresAt      *time.Time `json:"expires_at"`
}

const jobCols = `j.id, j.employer_id, e.name, j.title, j.occupation_code, j.skills, j.salary_min, j.salary_max, j.education,
	j.experience_years, j.county, j.address, j.latitude, j.longitude, j.headcount, j.shift, j.status, j.published_at, j.expires_at`

func (s *Service) handleCreateJob(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		Title          string     `json:"title"`
		OccupationCode string     `json:"occupation_code"`
		Skills         []string   `json:"skills"`
		SalaryMin      *int32     `json:"salary_min"`
		SalaryMax      *int32     `json:"salary_max"`
		Education      string     `json:"education"`
		Experience     int16      `json:"experience_years"`
		County         string     `json:"county"`
		Address        string     `json:"address"`
		Latitude       *float64   `json:"latitude"`
		Longitude      *float64   `json:"longitude"`
		Headcount      int32      `json:"headcount"`
		Shift          string     `json:"shift"`
		ExpiresAt      *time.Time `json:"expires_at"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	now := s.now()
	for _, f := range []struct {
		name, v string
		lo, hi  int
	}{{"title", in.Title, 1, 200}, {"occupation_code", in.OccupationCode, 0, 20}, {"education", in.Education, 0, 20},
		{"county", in.County, 0, 50}, {"address", in.Address, 0, 200}, {"shift", in.Shift, 0, 50}} {
		if err := textField(f.name, f.v, f.lo, f.hi); err != nil {
			return err
		}
	}
	if err := checkSkills(in.Skills); err != nil {
		return err
	}
	switch {
	case in.SalaryMin != nil && *in.SalaryMin < 0, in.SalaryMax != nil && *in.SalaryMax < 0:
		return apperr.New(apperr.Invalid, "salary must not be negative")
	case in.SalaryMin != nil && in.SalaryMax != nil && *in.SalaryMin > *in.SalaryMax:
		return apperr.New(apperr.Invalid, "薪资范围颠倒 / salary_min must not be above salary_max")
	case in.Experience < 0 || in.Experience > 60:
		return apperr.New(apperr.Invalid, "experience_years must be 0 to 60")
	case in.Headcount < 1 || in.Headcount > 10000:
		return apperr.New(apperr.Invalid, "headcount must be 1 to 10000")
	case (in.Latitude == nil) != (in.Longitude == nil),
		in.Latitude != nil && (*in.Latitude < -90 || *in.Latitude > 90 || *in.Longitude < -180 || *in.Longitude > 180):
		return apperr.New(apperr.Invalid, "latitude and longitude go together, within -90..90 and -180..180")
	case in.ExpiresAt != nil && !in.ExpiresAt.After(now):
		return apperr.New(apperr.Invalid, "expires_at must be in the future")
	}
	if in.Skills == nil {
		in.Skills = []string{}
	}
	var id int64
	err := s.pool.QueryRow(r.Context(), `INSERT INTO job_posts (employer_id, title, occupation_code, skills, salary_min, salary_max, education,
			experience_years, county, address, latitude, longitude, headcount, shift, status, published_at, expires_at, push_due)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'published', $15, $16, true) RETURNING id`,
		p.ID, strings.TrimSpace(in.Title), in.OccupationCode, in.Skills, in.SalaryMin, in.SalaryMax, in.Education, in.Experience,
		in.County, in.Address, in.Latitude, in.Longitude, in.Headcount, in.Shift, now, in.ExpiresAt).Scan(&id)
	if err != nil {
		return verifiedRefusal(err, "create job post")
	}
	// Into the feed at once; the push to its best seekers follows (matching.go).
	s.indexJob(r.Context(), id)
	select {
	case s.match.kick <- struct{}{}:
	default:
	}
	return s.writeJob(w, r, id, http.StatusCreated)
}

// verifiedRefusal explains the database's "employer not verified" refusal.
func verifiedRefusal(err error, what string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "employer_verified" {
		return apperr.New(apperr.Forbidden, "单位尚未通过认证 / the employer is not verified yet; an officer must verify it first")
	}
	return internal(err, what)
}

func checkSkills(skills []string) error {
	if len(skills) > 20 {
		return apperr.New(apperr.Invalid, "at most 20 skills")
	}
	for _, sk := range skills {
		if n := utf8.RuneCountInString(sk); n < 1 || n > 30 {
			return apperr.New(apperr.Invalid, "each skill must be 1 to 30 characters")
		}
	}
	return nil
}

func (s *Service) writeJob(w http.ResponseWriter, r *http.Request, id int64, status int) error {
	rows, err := s.pool.Query(r.Context(), `SELECT `+jobCols+` FROM job_posts j JOIN employers e ON e.id = j.employer_id WHERE j.id = $1`, id)
	if err != nil {
		return internal(err, "read job post")
	}
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[jobJSON])
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个职位 / no job post with id %d", id)
	}
	if err != nil {
		return internal(err, "read job post")
	}
	j.Skills = nonNil(j.Skills)
	return writeJSON(w, status, j)
}

func (s *Service) handleGetJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	// A signed-in seeker's view is remembered so the employer may see the
	// card (if the seeker's consent allows). Anonymous views are fine.
	if p, err := s.sessionFrom(r); err == nil && p.Role == RoleSeeker {
		if _, err := s.pool.Exec(r.Context(), `INSERT INTO job_views (job_post_id, seeker_id, viewed_at)
			SELECT id, $2, $3 FROM job_posts WHERE id = $1
			ON CONFLICT (job_post_id, seeker_id) DO UPDATE SET viewed_at = EXCLUDED.viewed_at`, id, p.ID, s.now()); err != nil {
			return internal(err, "remember job view")
		}
	}
	return s.writeJob(w, r, id, http.StatusOK)
}

func (s *Service) handleListJobs(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 10_000)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	q, county, occ := strings.TrimSpace(qv.Get("q")), qv.Get("county"), qv.Get("occupation_code")
	for _, f := range [][2]string{{"q", q}, {"county", county}, {"occupation_code", occ}} {
		if err := textField(f[0], f[1], 0, 50); err != nil {
			return err
		}
	}
	employer, err := queryInt(r, "employer_id", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `SELECT `+jobCols+` FROM job_posts j JOIN employers e ON e.id = j.employer_id
		WHERE j.status = 'published' AND (j.expires_at IS NULL OR j.expires_at > $1)
			AND ($2 = '' OR j.title ILIKE '%' || $2 || '%') AND ($3 = '' OR j.county = $3) AND ($4 = '' OR j.occupation_code = $4)
			AND ($5 = 0 OR j.employer_id = $5)
		ORDER BY j.id DESC LIMIT $6 OFFSET $7`, s.now(), likeEscaper.Replace(q), county, occ, employer, limit, offset)
	if err != nil {
		return internal(err, "list jobs")
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jobJSON])
	if err != nil {
		return internal(err, "list jobs")
	}
	for i := range jobs {
		jobs[i].Skills = nonNil(jobs[i].Skills)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"jobs": nonNil(jobs), "limit": limit, "offset": offset})
}

// ownJob checks that the signed-in employer owns job id.
func (s *Service) ownJob(r *http.Request, p principal, id int64) error {
	var emp int64
	err := s.pool.QueryRow(r.Context(), `SELECT employer_id FROM job_posts WHERE id = $1`, id).Scan(&emp)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个职位 / no job post with id %d", id)
	}
	if err != nil {
		return internal(err, "look up job")
	}
	if emp != p.ID {
		return apperr.New(apperr.Forbidden, "这不是您单位的职位 / this job post belongs to another employer")
	}
	return nil
}

func (s *Service) handleApply(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Note string `json:"note"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := textField("note", in.Note, 0, 500); err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	var title, employer string
	var open bool
	err = s.pool.QueryRow(ctx, `SELECT j.title, e.name, j.status = 'published' AND (j.expires_at IS NULL OR j.expires_at > $2)
		FROM job_posts j JOIN employers e ON e.id = j.employer_id WHERE j.id = $1`, id, now).Scan(&title, &employer, &open)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个职位 / no job post with id %d", id)
	}
	if err != nil {
		return internal(err, "look up job")
	}
	if !open {
		return apperr.New(apperr.Conflict, "职位已关闭 / this job post is closed")
	}
	var appID int64
	err = s.pool.QueryRow(ctx, `WITH a AS (
			INSERT INTO applications (job_post_id, seeker_id, note, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (job_post_id, seeker_id) DO NOTHING RETURNING id),
		l AS (INSERT INTO employment_log (seeker_id, kind, at, data)
			SELECT $2, 'application_submitted', $4, jsonb_build_object('application_id', a.id, 'job_post_id', $1::bigint, 'title', $5::text, 'employer', $6::text) FROM a)
		SELECT id FROM a`, id, p.ID, in.Note, now, title, employer).Scan(&appID)
	if isNoRows(err) {
		return apperr.New(apperr.Conflict, "您已申请过这个职位 / you have already applied to this job")
	}
	if err != nil {
		return internal(err, "apply")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": appID, "job_post_id": id, "status": "submitted", "created_at": now.UTC()})
}

func (s *Service) handleListApplications(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50, 1, 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 100_000)
	if err != nil {
		return err
	}
	if err := s.ownJob(r, p, id); err != nil {
		return err
	}
	type app struct {
		ID        int64     `json:"id"`
		SeekerID  int64     `json:"seeker_id"`
		Name      string    `json:"seeker_name"`
		Status    string    `json:"status"`
		Note      string    `json:"note"`
		CreatedAt time.Time `json:"created_at"`
	}
	rows, err := s.pool.Query(r.Context(), `SELECT a.id, a.seeker_id, sk.name, a.status, a.note, a.created_at
		FROM applications a JOIN seekers sk ON sk.id = a.seeker_id WHERE a.job_post_id = $1 ORDER BY a.id LIMIT $2 OFFSET $3`, id, limit, offset)
	if err != nil {
		return internal(err, "list applications")
	}
	apps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[app])
	if err != nil {
		return internal(err, "list applications")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"job_post_id": id, "applications": nonNil(apps), "limit": limit, "offset": offset})
}

func (s *Service) handleJobViewers(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50, 1, 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 100_000)
	if err != nil {
		return err
	}
	if err := s.ownJob(r, p, id); err != nil {
		return err
	}
	type viewer struct {
		SeekerID int64     `json:"seeker_id"`
		ViewedAt time.Time `json:"viewed_at"`
	}
	// Only consenting seekers are listed; names come with the (audited) card.
	rows, err := s.pool.Query(r.Context(), `SELECT v.seeker_id, v.viewed_at FROM job_views v JOIN seekers sk ON sk.id = v.seeker_id
		WHERE v.job_post_id = $1 AND sk.consent_profile_visible ORDER BY v.viewed_at DESC, v.seeker_id LIMIT $2 OFFSET $3`, id, limit, offset)
	if err != nil {
		return internal(err, "list viewers")
	}
	vs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[viewer])
	if err != nil {
		return internal(err, "list viewers")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"job_post_id": id, "viewers": nonNil(vs), "limit": limit, "offset": offset})
}

type profileJSON struct {
	ID                int64    `json:"id"`
	Name              string   `json:"name"`
	Phone             string   `json:"phone,omitempty"`
	NationalID        string   `json:"national_id,omitempty"` // always masked
	County            string   `json:"county"`
	Address           string   `json:"address,omitempty"`
	Education         string   `json:"education"`
	Skills            []string `json:"skills"`
	Experience        int16    `json:"experience_years"`
	DesiredJob        string   `json:"desired_job"`
	DesiredSalary     *int32   `json:"desired_salary"`
	Availability      string   `json:"availability"`
	PovertyRegistered *bool    `json:"poverty_registered,omitempty"`
	ConsentProfile    *bool    `json:"consent_profile_visible,omitempty"`
	ConsentRecording  *bool    `json:"consent_recording,omitempty"`
}

func (s *Service) readProfile(r *http.Request, q querier, id int64) (profileJSON, bool, bool, error) {
	var pr profileJSON
	var last4 *string
	var pov, cProfile, cRec bool
	err := q.QueryRow(r.Context(), `SELECT id, name, phone, national_id_last4, county, address, education, skills, experience_years,
			desired_job, desired_salary, availability, poverty_registered, consent_profile_visible, consent_recording
		FROM seekers WHERE id = $1`, id).Scan(&pr.ID, &pr.Name, &pr.Phone, &last4, &pr.County, &pr.Address, &pr.Education, &pr.Skills,
		&pr.Experience, &pr.DesiredJob, &pr.DesiredSalary, &pr.Availability, &pov, &cProfile, &cRec)
	if isNoRows(err) {
		return pr, false, false, apperr.New(apperr.NotFound, "没有这个求职者 / no seeker with id %d", id)
	}
	if err != nil {
		return pr, false, false, internal(err, "read profile")
	}
	if last4 != nil {
		pr.NationalID = maskNationalID(*last4)
	}
	pr.Skills = nonNil(pr.Skills)
	pr.PovertyRegistered, pr.ConsentProfile, pr.ConsentRecording = &pov, &cProfile, &cRec
	return pr, cProfile, cRec, nil
}

func (s *Service) handleGetProfile(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	pr, _, _, err := s.readProfile(r, s.pool, p.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pr)
}

func (s *Service) handlePutProfile(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		Name             *string   `json:"name"`
		NationalID       *string   `json:"national_id"`
		County           *string   `json:"county"`
		Address          *string   `json:"address"`
		Education        *string   `json:"education"`
		Skills           *[]string `json:"skills"`
		Experience       *int16    `json:"experience_years"`
		DesiredJob       *string   `json:"desired_job"`
		DesiredSalary    *int32    `json:"desired_salary"`
		Availability     *string   `json:"availability"`
		ConsentProfile   *bool     `json:"consent_profile_visible"`
		ConsentRecording *bool     `json:"consent_recording"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	str := func(name string, v *string, lo, hi int) error {
		if v == nil {
			return nil
		}
		return textField(name, *v, lo, hi)
	}
	for _, err := range []error{str("name", in.Name, 1, 100), str("county", in.County, 0, 50), str("address", in.Address, 0, 200),
		str("education", in.Education, 0, 20), str("desired_job", in.DesiredJob, 0, 100), str("availability", in.Availability, 0, 200)} {
		if err != nil {
			return err
		}
	}
	if in.Skills != nil {
		if err := checkSkills(*in.Skills); err != nil {
			return err
		}
	}
	if in.Experience != nil && (*in.Experience < 0 || *in.Experience > 60) {
		return apperr.New(apperr.Invalid, "experience_years must be 0 to 60")
	}
	if in.DesiredSalary != nil && (*in.DesiredSalary < 0 || *in.DesiredSalary > 1_000_000) {
		return apperr.New(apperr.Invalid, "desired_salary must be 0 to 1000000")
	}
	var enc, mac []byte
	var last4 *string
	if in.NationalID != nil {
		id, err := normalizeNationalID(*in.NationalID)
		if err != nil {
			return err
		}
		e, m, l4, err := s.sealNationalID(id)
		if err != nil {
			return internal(err, "protect national id")
		}
		enc, mac, last4 = e, m, &l4
	}
	if in.Name != nil {
		t := strings.TrimSpace(*in.Name)
		in.Name = &t
	}
	_, err := s.pool.Exec(r.Context(), `UPDATE seekers SET name = coalesce($2, name), county = coalesce($3, county), address = coalesce($4, address),
			education = coalesce($5, education), skills = coalesce($6, skills), experience_years = coalesce($7, experience_years),
			desired_job = coalesce($8, desired_job), desired_salary = coalesce($9, desired_salary), availability = coalesce($10, availability),
			consent_profile_visible = coalesce($11, consent_profile_visible), consent_recording = coalesce($12, consent_recording),
			national_id_enc = coalesce($13, national_id_enc), national_id_hmac = coalesce($14, national_id_hmac),
			national_id_last4 = coalesce($15, national_id_last4), updated_at = $16
		WHERE id = $1`, p.ID, in.Name, in.County, in.Address, in.Education, in.Skills, in.Experience, in.DesiredJob, in.DesiredSalary,
		in.Availability, in.ConsentProfile, in.ConsentRecording, enc, mac, last4, s.now())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return apperr.New(apperr.Conflict, "这个身份证号已被其他账号使用 / this national ID is registered to another account")
	}
	if err != nil {
		return internal(err, "update profile")
	}
	s.indexSeeker(r.Context(), p.ID) // consent and profile changes reach candidate lists at once
	return s.handleGetProfile(w, r)
}

// handleProfileCard shows a seeker's card to an employer who has a reason
// to see it (an application, a booking, or a consented job view), or to
// officers and administrators. Every view is audited in the same
// transaction as the read.
func (s *Service) handleProfileCard(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	pr, consent, _, err := s.readProfile(r, tx, id)
	if err != nil {
		return err
	}
	if p.Role == RoleEmployer {
		var related, viewed bool
		if err := tx.QueryRow(ctx, `SELECT
				EXISTS (SELECT 1 FROM applications a JOIN job_posts j ON j.id = a.job_post_id WHERE a.seeker_id = $1 AND j.employer_id = $2)
				OR EXISTS (SELECT 1 FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE bk.seeker_id = $1 AND b.employer_id = $2),
				EXISTS (SELECT 1 FROM job_views v JOIN job_posts j ON j.id = v.job_post_id WHERE v.seeker_id = $1 AND j.employer_id = $2)`,
			id, p.ID).Scan(&related, &viewed); err != nil {
			return internal(err, "check relationship")
		}
		if !related && !(viewed && consent) {
			return apperr.New(apperr.Forbidden, "求职者未授权您查看其资料 / this seeker has not applied to, booked with, or (with consent) viewed your jobs")
		}
		// Employers see the card, not the contact or protected data.
		pr.Phone, pr.NationalID, pr.Address, pr.PovertyRegistered, pr.ConsentProfile, pr.ConsentRecording = "", "", "", nil, nil, nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, seeker_id, subject, at) VALUES ($1, 'view_profile', $2, 'card', $3)`,
		p.actor(), id, s.now()); err != nil {
		return internal(err, "audit")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "audit")
	}
	return writeJSON(w, http.StatusOK, pr)
}

func (s *Service) handleMyAudit(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	limit, err := queryInt(r, "limit", 50, 1, 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 100_000)
	if err != nil {
		return err
	}
	type entry struct {
		ID      int64     `json:"id"`
		Actor   string    `json:"actor"`
		Action  string    `json:"action"`
		Subject string    `json:"subject"`
		At      time.Time `json:"at"`
	}
	rows, err := s.pool.Query(r.Context(), `SELECT id, actor, action, subject, at FROM audit_log WHERE seeker_id = $1
		ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3`, p.ID, limit, offset)
	if err != nil {
		return internal(err, "read audit log")
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByPos[entry])
	if err != nil {
		return internal(err, "read audit log")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": nonNil(es), "limit": limit, "offset": offset})
}
