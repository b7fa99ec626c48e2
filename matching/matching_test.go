package matching

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"jobhall/internal/apperr"
)

var testNow = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func opts() Options { return Options{Now: func() time.Time { return testNow }} }

// north returns the point km kilometres north of p.
func north(p Point, km float64) Point {
	return Point{p.Lat + km/(earthKm*3.141592653589793/180), p.Lon}
}

var home = Point{30.25, 120.15}

func baseSeeker() Seeker {
	return Seeker{ID: 1, Location: home, MaxCommuteKm: 30, Education: EduSenior, ExperienceYears: 4,
		Skills: []string{"焊接", "气割", "读图"}, Certificates: []string{"焊工证"}, OccupationCodes: []string{"6-18-02-04"},
		DesiredTitle: "电焊工", Summary: "在造船厂做过五年电焊，会气割和看图纸", SalaryMin: 5000, SalaryMax: 9000, Visible: true}
}

func baseJob() Job {
	return Job{ID: 10, EmployerID: 100, Title: "电焊工", Description: "船体焊接，要求会气割、能看图纸",
		OccupationCode: "6-18-02-04", Skills: []string{"焊接", "气割", "读图", "叉车"}, Certificates: []string{"焊工证"},
		Education: EduJunior, ExperienceYears: 2, SalaryMin: 6000, SalaryMax: 8000,
		Location: north(home, 12), Active: true, PublishedAt: testNow.Add(-48 * time.Hour)}
}

func TestTokenize(t *testing.T) {
	got := Tokenize("高级电焊工，ＣＡＤ制图/C1驾照 工")
	want := []string{"高级", "级电", "电焊", "焊工", "cad", "制图", "c1", "驾照", "工"}
	if !slices.Equal(got, want) {
		t.Fatalf("Tokenize = %q, want %q", got, want)
	}
	if s := TokenSet("焊工 焊工 java"); !slices.Equal(s, []string{"java", "焊工"}) {
		t.Fatalf("TokenSet = %q", s)
	}
	if ParseEducation("大专") != EduCollege || ParseEducation("中专") != EduSenior || ParseEducation("硕士研究生") != EduPostgrad || ParseEducation("") != EduNone {
		t.Fatal("ParseEducation")
	}
}

func TestExplanationConstructedCase(t *testing.T) {
	ix, err := NewIndex([]Seeker{baseSeeker()}, []Job{baseJob()}, opts())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ix.Explain(1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Eligible || m.Score <= 0 || m.Score > 1 {
		t.Fatalf("not eligible or bad score: %+v", m)
	}
	wantEN := "3 of 4 required skills; 12 km; salary within range; same occupation (6-18-02-04); 4 years' experience (2 required); " +
		"education meets requirement (junior middle school); holds required certificates: 焊工证; title matches desired job; posted 2 days ago"
	if m.SummaryEN() != wantEN {
		t.Fatalf("EN:\n got %s\nwant %s", m.SummaryEN(), wantEN)
	}
	wantZH := "具备4项要求技能中的3项；12公里；薪资在期望范围内；职业相符（6-18-02-04）；4年经验（要求2年）；学历符合要求（初中）；持有所需证书：焊工证；职位与求职意向相符；2天前发布"
	if m.SummaryZH() != wantZH {
		t.Fatalf("ZH:\n got %s\nwant %s", m.SummaryZH(), wantZH)
	}
	if m.DistanceKm < 11.99 || m.DistanceKm > 12.01 {
		t.Fatalf("distance %v", m.DistanceKm)
	}
	// harmonic mean of the two sides
	if h := 2 * m.SeekerSide * m.EmployerSide / (m.SeekerSide + m.EmployerSide); h != m.Score {
		t.Fatalf("score %v is not the harmonic mean %v", m.Score, h)
	}
}

func TestExplanationVariants(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*Seeker, *Job)
		wantEN string // first reasons, prefix match
	}{
		{"all skills, near", func(s *Seeker, j *Job) { j.Skills = j.Skills[:3]; j.Location = north(home, 0.4) }, "3 of 3 required skills; under 1 km; salary within range"},
		{"salary starts below wish", func(s *Seeker, j *Job) { j.SalaryMin = 4000 }, "3 of 4 required skills; 12 km; salary partly within range"},
		{"no salary stated", func(s *Seeker, j *Job) { j.SalaryMin, j.SalaryMax = 0, 0 }, "3 of 4 required skills; 12 km; salary negotiable"},
		{"seeker open on salary", func(s *Seeker, j *Job) { s.SalaryMin, s.SalaryMax = 0, 0 }, "3 of 4 required skills; 12 km; pay 6000–8000 CNY/month"},
		{"no skills required, unknown place", func(s *Seeker, j *Job) { j.Skills = nil; j.Location = Point{} }, "no required skills; distance unknown"},
		{"related occupation", func(s *Seeker, j *Job) { j.OccupationCode = "6-18-01-01" }, "3 of 4 required skills; 12 km; salary within range; related occupation (6-18-01-01)"},
	}
	for _, c := range cases {
		s, j := baseSeeker(), baseJob()
		c.edit(&s, &j)
		ix, err := NewIndex([]Seeker{s}, []Job{j}, opts())
		if err != nil {
			t.Fatal(err)
		}
		m, _ := ix.Explain(1, 10)
		if !m.Eligible || !strings.HasPrefix(m.SummaryEN(), c.wantEN) {
			t.Errorf("%s: got %q (eligible %v), want prefix %q", c.name, m.SummaryEN(), m.Eligible, c.wantEN)
		}
	}
}

func TestHardFilters(t *testing.T) {
	cases := []struct {
		name, code, wantEN string
		edit               func(*Seeker, *Job)
	}{
		{"inactive", "inactive", "job is no longer open", func(s *Seeker, j *Job) { j.Active = false }},
		{"too far", "distance", "45 km, beyond the 30 km commute", func(s *Seeker, j *Job) { j.Location = north(home, 45) }},
		{"education", "education", "education below requirement (bachelor)", func(s *Seeker, j *Job) { j.Education = EduBachelor }},
		{"experience", "experience", "needs 6 years' experience, has 4", func(s *Seeker, j *Job) { j.ExperienceYears = 6 }},
		{"salary too low", "salary", "salary 3000–4500 outside desired 5000–9000", func(s *Seeker, j *Job) { j.SalaryMin, j.SalaryMax = 3000, 4500 }},
		{"salary above range", "salary", "salary 10000–12000 outside desired 5000–9000", func(s *Seeker, j *Job) { j.SalaryMin, j.SalaryMax = 10000, 12000 }},
		{"certificate", "certificates", "missing certificates: 叉车证", func(s *Seeker, j *Job) { j.Certificates = []string{"焊工证", "叉车证"} }},
	}
	for _, c := range cases {
		s, j := baseSeeker(), baseJob()
		c.edit(&s, &j)
		ix, err := NewIndex([]Seeker{s}, []Job{j}, opts())
		if err != nil {
			t.Fatal(err)
		}
		m, _ := ix.Explain(1, 10)
		if m.Eligible || m.Rejected == nil || m.Rejected.Code != c.code || m.Rejected.EN != c.wantEN || m.Rejected.ZH == "" {
			t.Errorf("%s: got %+v, want rejection %s %q", c.name, m.Rejected, c.code, c.wantEN)
		}
		// a rejected pair never reaches either list
		if pg, _ := ix.TopJobs(1, Query{}); len(pg.Items) != 0 {
			t.Errorf("%s: feed returned a rejected job", c.name)
		}
		if pg, err := ix.TopCandidates(10, Query{}); err == nil && len(pg.Items) != 0 {
			t.Errorf("%s: candidates returned a rejected seeker", c.name)
		}
	}
}

// randomWorld builds a small city where every list query has many answers.
func randomWorld(r *rand.Rand, nSeekers, nJobs int) ([]Seeker, []Job) {
	skills := []string{"焊接", "气割", "叉车", "电工", "数控", "缝纫", "烹饪", "收银", "驾驶", "保洁", "育婴", "CAD"}
	titles := []string{"电焊工", "叉车司机", "电工", "数控车工", "缝纫工", "厨师", "收银员", "货车司机", "保洁员", "育婴师"}
	occs := []string{"6-18-02-04", "4-02-03-01", "6-31-01-03", "6-18-01-01", "6-05-01-01", "4-03-02-01", "4-01-02-01", "4-02-02-01"}
	pick := func(n int, from []string) []string {
		out := slices.Clone(from)
		r.Shuffle(len(out), func(i, k int) { out[i], out[k] = out[k], out[i] })
		return out[:n]
	}
	at := func() Point { return Point{home.Lat + (r.Float64()-0.5)*0.8, home.Lon + (r.Float64()-0.5)*0.8} }
	var ss []Seeker
	for i := range nSeekers {
		lo := 3000 + 500*r.IntN(6)
		ss = append(ss, Seeker{ID: int64(i + 1), Location: at(), MaxCommuteKm: float64(10 + r.IntN(40)),
			Education: Education(1 + r.IntN(5)), ExperienceYears: r.IntN(12), Skills: pick(1+r.IntN(4), skills),
			OccupationCodes: pick(1, occs), DesiredTitle: titles[r.IntN(len(titles))], SalaryMin: lo, Visible: r.IntN(10) > 0})
	}
	var js []Job
	for i := range nJobs {
		lo := 3000 + 500*r.IntN(8)
		js = append(js, Job{ID: int64(1000 + i), EmployerID: int64(1 + r.IntN(40)), Title: titles[r.IntN(len(titles))],
			Description: "工作认真负责", OccupationCode: occs[r.IntN(len(occs))], Skills: pick(r.IntN(4), skills),
			Education: Education(r.IntN(4)), ExperienceYears: r.IntN(4), SalaryMin: lo, SalaryMax: lo + 2000,
			Location: at(), Active: r.IntN(10) > 0, PublishedAt: testNow.Add(-time.Duration(r.IntN(30*24)) * time.Hour)})
	}
	return ss, js
}

func TestListsRankFilterAndPage(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	ss, js := randomWorld(r, 400, 2000)
	ix, err := NewIndex(ss, js, opts())
	if err != nil {
		t.Fatal(err)
	}
	jobByID := map[int64]Job{}
	for _, j := range js {
		jobByID[j.ID] = j
	}
	checkPage := func(pg Page, what string) {
		for i, m := range pg.Items {
			if !m.Eligible || m.Rejected != nil || len(m.Reasons) == 0 {
				t.Fatalf("%s: ineligible item %+v", what, m)
			}
			if i > 0 && m.Score > pg.Items[i-1].Score {
				t.Fatalf("%s: not sorted", what)
			}
			e, _ := ix.Explain(m.SeekerID, m.JobID)
			if e.Score != m.Score {
				t.Fatalf("%s: score %v differs from Explain %v", what, m.Score, e.Score)
			}
		}
	}
	nonEmpty := 0
	for _, s := range ss[:100] {
		full, err := ix.TopJobs(s.ID, Query{K: 20})
		if err != nil {
			t.Fatal(err)
		}
		checkPage(full, "feed")
		if len(full.Items) > 0 {
			nonEmpty++
		}
		// pages concatenate to the full list
		p1, _ := ix.TopJobs(s.ID, Query{K: 10})
		p2, _ := ix.TopJobs(s.ID, Query{K: 10, Offset: 10})
		if got := append(slices.Clone(p1.Items), p2.Items...); len(got) != len(full.Items) || !slices.EqualFunc(got, full.Items, func(a, b Match) bool { return a.JobID == b.JobID }) {
			t.Fatalf("seeker %d: pages do not concatenate", s.ID)
		}
		if len(full.Items) == 20 && p1.NextOffset != 10 {
			t.Fatalf("next offset %d", p1.NextOffset)
		}
		// filters hold
		f, _ := ix.TopJobs(s.ID, Query{K: 20, MaxDistanceKm: 8, MinSalary: 6000, Skill: s.Skills[0], Exclude: map[int64]bool{}})
		for _, m := range f.Items {
			j := jobByID[m.JobID]
			if m.DistanceKm > 8 || max(j.SalaryMin, j.SalaryMax) < 6000 || !slices.Contains(j.Skills, s.Skills[0]) {
				t.Fatalf("filter broken: %+v", m)
			}
		}
		emp := map[int64]bool{1: true, 2: true, 3: true}
		f, _ = ix.TopJobs(s.ID, Query{K: 20, Employers: emp, OnePerEmployer: true})
		seen := map[int64]bool{}
		for _, m := range f.Items {
			if !emp[m.EmployerID] || seen[m.EmployerID] {
				t.Fatalf("employer filter broken: %+v", f.Items)
			}
			seen[m.EmployerID] = true
		}
	}
	if nonEmpty < 50 {
		t.Fatalf("only %d of 100 feeds non-empty", nonEmpty)
	}
	visible := map[int64]bool{}
	for _, s := range ss {
		visible[s.ID] = s.Visible
	}
	for _, j := range js[:100] {
		pg, err := ix.TopCandidates(j.ID, Query{K: 15, MinEducation: EduJunior, OccupationPrefix: "6-"})
		if !j.Active {
			if apperr.CodeOf(err) != apperr.Conflict {
				t.Fatalf("closed job: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		checkPage(pg, "candidates")
		for _, m := range pg.Items {
			s := ss[m.SeekerID-1]
			if !visible[m.SeekerID] || s.Education < EduJunior || !strings.HasPrefix(s.OccupationCodes[0], "6-") {
				t.Fatalf("candidate filter broken: %+v", m)
			}
		}
	}
}

func TestUpsertAndErrors(t *testing.T) {
	ix, err := NewIndex([]Seeker{baseSeeker()}, nil, opts())
	if err != nil {
		t.Fatal(err)
	}
	if pg, _ := ix.TopJobs(1, Query{}); len(pg.Items) != 0 {
		t.Fatal("empty index returned jobs")
	}
	ix.UpsertJob(baseJob()) // a new post reaches the seeker at once
	pg, _ := ix.TopJobs(1, Query{})
	if len(pg.Items) != 1 {
		t.Fatalf("new job not found: %+v", pg)
	}
	cand, _ := ix.TopCandidates(10, Query{K: 5})
	if len(cand.Items) != 1 || cand.Items[0].SeekerID != 1 {
		t.Fatalf("push candidates: %+v", cand)
	}
	if err := ix.SetJobActive(10, false); err != nil {
		t.Fatal(err)
	}
	if pg, _ := ix.TopJobs(1, Query{}); len(pg.Items) != 0 {
		t.Fatal("closed job still listed")
	}
	for _, err := range []error{
		func() error { _, err := ix.TopJobs(99, Query{}); return err }(),
		func() error { _, err := ix.TopCandidates(99, Query{}); return err }(),
		func() error { _, err := ix.Explain(1, 99); return err }(),
		ix.SetJobActive(99, true),
	} {
		if apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("want not_found, got %v", err)
		}
	}
	if _, err := ix.TopJobs(1, Query{K: 10, Offset: 995}); apperr.CodeOf(err) != apperr.Invalid {
		t.Errorf("window: %v", err)
	}
	if _, err := NewIndex([]Seeker{baseSeeker(), baseSeeker()}, nil, opts()); apperr.CodeOf(err) != apperr.Invalid {
		t.Errorf("duplicate: %v", err)
	}
	var ae *apperr.Error
	if _, err := ix.TopJobs(1, Query{K: -1}); !errors.As(err, &ae) {
		t.Errorf("negative k: %v", err)
	}
}
