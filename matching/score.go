package matching

import (
	"fmt"
	"math"
	"strings"
)

// Reason is one line of a match explanation, Chinese first.
type Reason struct {
	Code string `json:"code"` // skills, distance, salary, occupation, experience, education, certificates, title, fresh; or a filter that failed
	ZH   string `json:"zh"`
	EN   string `json:"en"`
}

// Match is the scored and explained pair (seeker, job).
type Match struct {
	SeekerID     int64    `json:"seeker_id"`
	JobID        int64    `json:"job_id"`
	EmployerID   int64    `json:"employer_id"`
	Score        float64  `json:"score"`         // reciprocal score in [0,1]: harmonic mean of the two sides
	SeekerSide   float64  `json:"seeker_side"`   // how well the job suits the seeker
	EmployerSide float64  `json:"employer_side"` // how well the seeker suits the job
	DistanceKm   float64  `json:"distance_km"`   // -1 when a location is unknown
	Eligible     bool     `json:"eligible"`      // passed every hard filter
	Rejected     *Reason  `json:"rejected,omitempty"`
	Reasons      []Reason `json:"reasons,omitempty"`
}

// SummaryZH joins the reasons for display: "具备4项要求技能中的3项；12公里；薪资在期望范围内".
func (m Match) SummaryZH() string {
	if m.Rejected != nil {
		return m.Rejected.ZH
	}
	parts := make([]string, len(m.Reasons))
	for i, r := range m.Reasons {
		parts[i] = r.ZH
	}
	return strings.Join(parts, "；")
}

// SummaryEN joins the reasons: "3 of 4 required skills; 12 km; salary within range".
func (m Match) SummaryEN() string {
	if m.Rejected != nil {
		return m.Rejected.EN
	}
	parts := make([]string, len(m.Reasons))
	for i, r := range m.Reasons {
		parts[i] = r.EN
	}
	return strings.Join(parts, "; ")
}

// Score weights. Employer side: skills, occupation, experience, text.
// Seeker side: salary, distance, title, freshness.
const (
	wSkill, wOcc, wExp, wTextE     = 0.45, 0.20, 0.15, 0.20
	wSalary, wDist, wTitle, wFresh = 0.30, 0.25, 0.30, 0.15
	freshHalfLifeDays              = 14.0
	neutral                        = 0.5 // a component with nothing to compare
)

type failKind uint8

const (
	passed failKind = iota
	failInactive
	failDistance
	failEducation
	failExperience
	failSalary
	failCertificates
)

type salaryKind uint8

const (
	salaryUnstated salaryKind = iota // job states no salary
	salaryOpen                       // seeker states no wish
	salaryWithin
	salaryPartly
)

// parts are the measured components of a pair; explain turns them into
// reasons, so the text always agrees with the number.
type parts struct {
	fail                 failKind
	dist, commute        float64 // dist < 0: unknown
	skillHave, skillNeed int
	occLevel             int // equal leading code segments, -1 unknown
	occCode              string
	expSurplus           int
	textE, textS         float64
	titleKnown           bool
	salary               salaryKind
	salaryFit            float64
	ageDays              float64
	seekerSide, empSide  float64
	score                float64
}

func (ix *Index) evalPair(s *cseeker, j *cjob, now int64, p *parts) bool {
	*p = parts{occLevel: -1, dist: -1}
	if !j.active {
		p.fail = failInactive
		return false
	}
	if s.edu < j.edu {
		p.fail = failEducation
		return false
	}
	if s.exp < j.exp {
		p.fail = failExperience
		return false
	}
	// salary ranges must overlap; 0 means open on that end
	jMax := int32(math.MaxInt32)
	if j.salMax > 0 {
		jMax = j.salMax
	}
	sMax := int32(math.MaxInt32)
	if s.salMax > 0 {
		sMax = s.salMax
	}
	if j.salMin > 0 || j.salMax > 0 {
		if jMax < s.salMin || j.salMin > sMax {
			p.fail = failSalary
			return false
		}
	}
	if !subset(j.certs, s.certs) {
		p.fail = failCertificates
		return false
	}
	p.commute = float64(s.commute)
	if s.hasLoc && j.hasLoc {
		p.dist = DistanceKm(Point{float64(s.lat), float64(s.lon)}, Point{float64(j.lat), float64(j.lon)})
		if p.dist > p.commute {
			p.fail = failDistance
			return false
		}
	}

	// employer side
	p.skillNeed = len(j.skills)
	p.skillHave = intersectCount(j.skills, s.skills)
	skill := neutral
	if p.skillNeed > 0 {
		skill = float64(p.skillHave) / float64(p.skillNeed)
	}
	occ := neutral
	if j.occ != "" && len(s.occ) > 0 {
		for _, c := range s.occ {
			p.occLevel = max(p.occLevel, commonSegments(c, j.occ))
		}
		occ = [...]float64{0, 0.2, 0.5, 0.8, 1}[min(p.occLevel, 4)]
		p.occCode = j.occ
	}
	p.expSurplus = int(s.exp - j.exp)
	exp := min(1, 0.6+0.1*float64(p.expSurplus))
	p.textE = ix.weightedOverlap(s.text, j.text)
	p.empSide = wSkill*skill + wOcc*occ + wExp*exp + wTextE*p.textE

	// seeker side
	switch {
	case j.salMin == 0 && j.salMax == 0:
		p.salary, p.salaryFit = salaryUnstated, neutral
	case s.salMin == 0:
		p.salary, p.salaryFit = salaryOpen, 0.7
	case j.salMin >= s.salMin:
		p.salary, p.salaryFit = salaryWithin, 1
	default: // overlaps but starts below the wish
		p.salary = salaryPartly
		frac := 0.0
		if j.salMax > j.salMin {
			frac = float64(j.salMax-s.salMin) / float64(j.salMax-j.salMin)
		}
		p.salaryFit = 0.4 + 0.6*frac
	}
	dist := neutral
	if p.dist >= 0 {
		dist = max(0, 1-p.dist/p.commute)
	}
	p.titleKnown = len(s.title) > 0
	title := neutral
	if p.titleKnown {
		p.textS = ix.weightedOverlap(s.title, j.title)
		title = p.textS
	}
	p.ageDays = max(0, float64(now-j.pub)/86400)
	fresh := math.Exp2(-p.ageDays / freshHalfLifeDays)
	p.seekerSide = wSalary*p.salaryFit + wDist*dist + wTitle*title + wFresh*fresh

	if p.seekerSide+p.empSide > 0 {
		p.score = 2 * p.seekerSide * p.empSide / (p.seekerSide + p.empSide)
	}
	return true
}

// explain builds the Match with reasons from the measured parts.
func (ix *Index) explain(s *cseeker, j *cjob, now int64) Match {
	var p parts
	ok := ix.evalPair(s, j, now, &p)
	m := Match{SeekerID: s.id, JobID: j.id, EmployerID: j.emp, Eligible: ok, DistanceKm: -1}
	if s.hasLoc && j.hasLoc {
		m.DistanceKm = DistanceKm(Point{float64(s.lat), float64(s.lon)}, Point{float64(j.lat), float64(j.lon)})
	}
	if !ok {
		m.Rejected = ix.rejection(s, j, p.fail, m.DistanceKm)
		return m
	}
	m.Score, m.SeekerSide, m.EmployerSide = p.score, p.seekerSide, p.empSide
	add := func(code, zh, en string) { m.Reasons = append(m.Reasons, Reason{code, zh, en}) }

	if p.skillNeed > 0 {
		add("skills", fmt.Sprintf("具备%d项要求技能中的%d项", p.skillNeed, p.skillHave),
			fmt.Sprintf("%d of %d required skills", p.skillHave, p.skillNeed))
	} else {
		add("skills", "无技能要求", "no required skills")
	}
	switch {
	case p.dist < 0:
		add("distance", "距离未知", "distance unknown")
	case p.dist < 1:
		add("distance", "不到1公里", "under 1 km")
	default:
		add("distance", fmt.Sprintf("%.0f公里", p.dist), fmt.Sprintf("%.0f km", p.dist))
	}
	switch p.salary {
	case salaryWithin:
		add("salary", "薪资在期望范围内", "salary within range")
	case salaryPartly:
		add("salary", "薪资部分符合期望", "salary partly within range")
	case salaryOpen:
		add("salary", fmt.Sprintf("月薪%s", salaryText(j.salMin, j.salMax, "元")), fmt.Sprintf("pay %s CNY/month", salaryText(j.salMin, j.salMax, "")))
	case salaryUnstated:
		add("salary", "薪资面议", "salary negotiable")
	}
	switch {
	case p.occLevel >= 4:
		add("occupation", "职业相符（"+p.occCode+"）", "same occupation ("+p.occCode+")")
	case p.occLevel >= 2:
		add("occupation", "相近职业（"+p.occCode+"）", "related occupation ("+p.occCode+")")
	}
	if j.exp > 0 {
		add("experience", fmt.Sprintf("%d年经验（要求%d年）", s.exp, j.exp), fmt.Sprintf("%d years' experience (%d required)", s.exp, j.exp))
	}
	if j.edu > EduNone {
		add("education", fmt.Sprintf("学历符合要求（%s）", j.edu.ZH()), fmt.Sprintf("education meets requirement (%s)", j.edu.EN()))
	}
	if len(j.certs) > 0 {
		names := ix.tagNames(j.certs)
		add("certificates", "持有所需证书："+strings.Join(names, "、"), "holds required certificates: "+strings.Join(names, ", "))
	}
	if p.titleKnown && p.textS >= 0.5 {
		add("title", "职位与求职意向相符", "title matches desired job")
	}
	if d := int(p.ageDays); d <= 3 {
		if d == 0 {
			add("fresh", "今天发布", "posted today")
		} else {
			add("fresh", fmt.Sprintf("%d天前发布", d), fmt.Sprintf("posted %d days ago", d))
		}
	}
	return m
}

func (ix *Index) rejection(s *cseeker, j *cjob, f failKind, dist float64) *Reason {
	switch f {
	case failInactive:
		return &Reason{"inactive", "职位已停止招聘", "job is no longer open"}
	case failDistance:
		return &Reason{"distance", fmt.Sprintf("距离%.0f公里，超出通勤范围%.0f公里", dist, s.commute),
			fmt.Sprintf("%.0f km, beyond the %.0f km commute", dist, s.commute)}
	case failEducation:
		return &Reason{"education", fmt.Sprintf("学历未达要求（%s）", j.edu.ZH()), fmt.Sprintf("education below requirement (%s)", j.edu.EN())}
	case failExperience:
		return &Reason{"experience", fmt.Sprintf("经验不足：要求%d年，现有%d年", j.exp, s.exp),
			fmt.Sprintf("needs %d years' experience, has %d", j.exp, s.exp)}
	case failSalary:
		return &Reason{"salary", fmt.Sprintf("薪资不符：职位%s，期望%s", salaryText(j.salMin, j.salMax, "元"), salaryText(s.salMin, s.salMax, "元")),
			fmt.Sprintf("salary %s outside desired %s", salaryText(j.salMin, j.salMax, ""), salaryText(s.salMin, s.salMax, ""))}
	case failCertificates:
		var missing []uint32
		for _, c := range j.certs {
			if !contains(s.certs, c) {
				missing = append(missing, c)
			}
		}
		names := ix.tagNames(missing)
		return &Reason{"certificates", "缺少证书：" + strings.Join(names, "、"), "missing certificates: " + strings.Join(names, ", ")}
	}
	return nil
}

func salaryText(lo, hi int32, unit string) string {
	switch {
	case lo > 0 && hi > 0:
		return fmt.Sprintf("%d–%d%s", lo, hi, unit)
	case lo > 0:
		return fmt.Sprintf("≥%d%s", lo, unit)
	case hi > 0:
		return fmt.Sprintf("≤%d%s", hi, unit)
	}
	return "不限"
}

// commonSegments counts equal leading segments of two occupation codes
// such as "6-18-02-04".
func commonSegments(a, b string) int {
	n := 0
	for a != "" && b != "" {
		ai, bi := strings.IndexByte(a, '-'), strings.IndexByte(b, '-')
		as, bs := a, b
		if ai >= 0 {
			as, a = a[:ai], a[ai+1:]
		} else {
			a = ""
		}
		if bi >= 0 {
			bs, b = b[:bi], b[bi+1:]
		} else {
			b = ""
		}
		if as != bs {
			break
		}
		n++
	}
	return n
}

// sorted-set helpers over interned ids

func intersectCount(a, b []uint32) int {
	n, i, k := 0, 0, 0
	for i < len(a) && k < len(b) {
		switch {
		case a[i] < b[k]:
			i++
		case a[i] > b[k]:
			k++
		default:
			n++
			i++
			k++
		}
	}
	return n
}

func subset(need, have []uint32) bool {
	return len(need) == 0 || intersectCount(need, have) == len(need)
}

func contains(a []uint32, x uint32) bool {
	for _, v := range a {
		if v == x {
			return true
		}
	}
	return false
}

// weightedOverlap is the idf-weighted share of q's tokens found in d.
func (ix *Index) weightedOverlap(q, d []uint32) float64 {
	if len(q) == 0 {
		return 0
	}
	var hit, all float32
	i, k := 0, 0
	for i < len(q) {
		w := ix.idf(q[i])
		all += w
		for k < len(d) && d[k] < q[i] {
			k++
		}
		if k < len(d) && d[k] == q[i] {
			hit += w
		}
		i++
	}
	if all == 0 {
		return 0
	}
	return float64(hit / all)
}
