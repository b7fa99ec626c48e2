// Package synth generates a synthetic city of seekers and jobs whose true
// fit comes from hidden attributes (occupation family, skill quality,
// reservation wage, real commute tolerance, the job's real requirement).
// The observed profiles are noisy views of them, so a matcher can be
// evaluated against the truth (matching/eval) and timed at scale.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"jobhall/matching"
)

type family struct {
	code    string
	titles  []string
	skills  []string
	cert    string
	phrases []string
	pay     int // typical monthly CNY
	edu     matching.Education
	weight  float64 // share of seekers and jobs
}

var families = []family{
	{"6-18-02-04", []string{"电焊工", "氩弧焊工", "二保焊工"}, []string{"焊接", "气割", "氩弧焊", "二保焊", "读图"}, "焊工证", []string{"钢结构焊接", "船体焊接", "压力容器焊接", "不锈钢焊接"}, 7000, matching.EduJunior, 5},
	{"6-18-01-01", []string{"数控车工", "车床操作工", "CNC操作员"}, []string{"数控编程", "车床", "读图", "量具使用", "CAD"}, "", []string{"数控车床加工", "零件精加工", "首件检验", "程序调试"}, 6500, matching.EduSenior, 5},
	{"6-18-01-02", []string{"数控铣工", "加工中心操作工", "模具钳工"}, []string{"数控编程", "铣床", "读图", "量具使用", "钳工"}, "", []string{"加工中心操作", "模具加工", "铣削加工", "程序调试"}, 6800, matching.EduSenior, 4},
	{"6-31-01-03", []string{"维修电工", "电工", "配电工"}, []string{"电气维修", "低压电工", "PLC", "电路安装"}, "电工证", []string{"厂区电气维修", "配电柜安装", "设备电路检修", "PLC调试"}, 6500, matching.EduSenior, 4},
	{"6-31-01-05", []string{"机修工", "设备维修工", "设备保全"}, []string{"机械维修", "液压", "电气维修", "钳工"}, "", []string{"生产设备保养", "液压系统维修", "设备故障排除"}, 6300, matching.EduSenior, 3},
	{"4-02-03-01", []string{"叉车司机", "仓库叉车工", "叉车工"}, []string{"叉车", "仓储", "装卸"}, "叉车证", []string{"仓库叉车作业", "货物装卸", "托盘搬运"}, 5500, matching.EduJunior, 5},
	{"4-02-02-01", []string{"货车司机", "物流司机", "配送司机"}, []string{"驾驶", "货运", "路线规划"}, "B2驾照", []string{"城市配送", "长途货运", "冷链运输", "快递干线"}, 7500, matching.EduJunior, 5},
	{"4-02-06-03", []string{"仓库管理员", "库管员", "仓储专员"}, []string{"仓储", "盘点", "Excel", "ERP"}, "", []string{"出入库管理", "库存盘点", "仓库账目", "物料管理"}, 5000, matching.EduSenior, 4},
	{"4-03-02-01", []string{"中餐厨师", "厨师", "面点师"}, []string{"烹饪", "面点", "食品安全"}, "健康证", []string{"中餐烹饪", "食堂大锅菜", "面点制作", "菜品研发"}, 6000, matching.EduJunior, 5},
	{"4-03-01-01", []string{"餐厅服务员", "服务员", "传菜员"}, []string{"服务礼仪", "点餐", "收银"}, "健康证", []string{"餐厅前厅服务", "点餐传菜", "宴会服务"}, 4200, matching.EduJunior, 6},
	{"4-01-02-01", []string{"收银员", "营业员", "导购员"}, []string{"收银", "销售", "服务礼仪"}, "", []string{"超市收银", "门店销售", "商品陈列"}, 4300, matching.EduJunior, 6},
	{"4-01-05-01", []string{"电商客服", "客服专员", "网店运营"}, []string{"打字", "电商平台", "Excel", "沟通"}, "", []string{"淘宝店铺客服", "售后处理", "直播带货", "店铺运营"}, 4800, matching.EduSenior, 5},
	{"6-05-01-01", []string{"缝纫工", "平车工", "服装车工"}, []string{"缝纫", "平车", "裁剪"}, "", []string{"服装缝制", "流水线车位", "童装加工"}, 5500, matching.EduPrimary, 5},
	{"6-05-02-01", []string{"裁剪工", "服装质检员", "整烫工"}, []string{"裁剪", "质检", "缝纫", "整烫"}, "", []string{"服装裁剪", "成衣检验", "后道整烫"}, 5000, matching.EduPrimary, 3},
	{"4-10-01-06", []string{"育婴师", "月嫂", "保育员"}, []string{"育婴", "护理", "早教"}, "育婴师证", []string{"新生儿护理", "产妇护理", "幼儿早教"}, 7000, matching.EduJunior, 4},
	{"4-10-04-01", []string{"保洁员", "家政服务员", "清洁工"}, []string{"清洁", "家政", "收纳"}, "", []string{"写字楼保洁", "家庭保洁", "物业清洁"}, 3800, matching.EduNone, 6},
	{"6-29-01-01", []string{"砌筑工", "钢筋工", "建筑工"}, []string{"砌筑", "钢筋绑扎", "读图"}, "", []string{"工地砌墙", "钢筋绑扎", "主体施工"}, 7500, matching.EduNone, 5},
	{"6-29-02-01", []string{"装修木工", "油漆工", "瓷砖工"}, []string{"木工", "油漆", "贴砖", "读图"}, "", []string{"室内装修", "家装木作", "墙面刷漆", "瓷砖铺贴"}, 7800, matching.EduNone, 4},
	{"4-07-05-01", []string{"保安员", "门卫", "巡逻员"}, []string{"安保", "监控", "消防"}, "保安员证", []string{"小区安保", "园区巡逻", "监控值守"}, 4000, matching.EduJunior, 5},
	{"2-02-07-01", []string{"机械设计员", "CAD绘图员", "技术员"}, []string{"CAD", "SolidWorks", "读图", "机械设计"}, "", []string{"非标设备设计", "图纸绘制", "工艺文件编写"}, 8000, matching.EduCollege, 3},
}

var generic = []string{"五险一金", "包吃住", "长白班", "两班倒", "月休四天", "多劳多得", "节日福利", "年底奖金", "工作稳定", "有师傅带"}

// Related reports whether two families share the first two code segments.
func Related(a, b int) bool {
	return a != b && prefix2(families[a].code) == prefix2(families[b].code)
}

func prefix2(c string) string {
	i := strings.IndexByte(c, '-')
	k := strings.IndexByte(c[i+1:], '-')
	return c[:i+1+k]
}

// SeekerTruth is what the seeker is really like and wants.
type SeekerTruth struct {
	Family      int
	Open        bool    // would take a related occupation
	Quality     float64 // real skill, 0..1
	Reservation int     // lowest pay accepted
	CommuteKm   float64 // real commute tolerance
}

// JobTruth is what the employer really needs.
type JobTruth struct {
	Family int
	Need   float64 // skill needed, 0..1
}

// Population is a city: observed profiles and the hidden truth, parallel.
type Population struct {
	Seekers     []matching.Seeker
	Jobs        []matching.Job
	SeekerTruth []SeekerTruth
	JobTruth    []JobTruth
	Now         time.Time
}

// Options size a Population.
type Options struct {
	Seed          uint64
	Seekers, Jobs int
	Now           time.Time
}

var center = matching.Point{Lat: 30.25, Lon: 120.15}

// towns are county seats of a ~200 km wide prefecture around center.
var towns = func() []matching.Point {
	r := rand.New(rand.NewPCG(42, 42))
	out := []matching.Point{center}
	for range 11 {
		out = append(out, matching.Point{Lat: center.Lat + (r.Float64()-0.5)*1.6, Lon: center.Lon + (r.Float64()-0.5)*1.8})
	}
	return out
}()

func place(r *rand.Rand, rural float64) matching.Point {
	if r.Float64() < rural {
		return matching.Point{Lat: center.Lat + (r.Float64()-0.5)*1.8, Lon: center.Lon + (r.Float64()-0.5)*2.0}
	}
	t := towns[r.IntN(len(towns))]
	return matching.Point{Lat: t.Lat + r.NormFloat64()*0.06, Lon: t.Lon + r.NormFloat64()*0.07}
}

func pickFamily(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

func round500(x float64) int { return int(math.Round(x/500)) * 500 }

// Generate builds a Population deterministically from o.Seed.
func Generate(o Options) *Population {
	if o.Now.IsZero() {
		o.Now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x51a7))
	cum := make([]float64, len(families))
	acc := 0.0
	for i, f := range families {
		acc += f.weight
		cum[i] = acc
	}
	p := &Population{Now: o.Now, Seekers: make([]matching.Seeker, 0, o.Seekers), SeekerTruth: make([]SeekerTruth, 0, o.Seekers),
		Jobs: make([]matching.Job, 0, o.Jobs), JobTruth: make([]JobTruth, 0, o.Jobs)}
	for i := range o.Seekers {
		fi := pickFamily(r, cum)
		f := &families[fi]
		q := r.Float64()
		tr := SeekerTruth{Family: fi, Open: r.IntN(3) == 0, Quality: q, Reservation: round500(float64(f.pay) * (0.7 + 0.45*q + 0.1*r.NormFloat64())),
			CommuteKm: 8 + 35*r.Float64()}
		s := matching.Seeker{ID: int64(i + 1), Location: place(r, 0.35), Education: max(matching.EduNone, min(matching.EduPostgrad, f.edu+matching.Education(r.IntN(3)-1))),
			ExperienceYears: max(0, int(q*14+r.NormFloat64()*2)), Visible: r.IntN(100) < 85}
		code := f.code
		if r.IntN(100) < 12 {
			code = families[r.IntN(len(families))].code
		}
		s.OccupationCodes = []string{code}
		for _, sk := range f.skills {
			if r.Float64() < 0.25+0.65*q {
				s.Skills = append(s.Skills, sk)
			}
		}
		if r.IntN(10) < 3 {
			o := &families[r.IntN(len(families))]
			s.Skills = append(s.Skills, o.skills[r.IntN(len(o.skills))])
		}
		if f.cert != "" && r.Float64() < 0.25+0.6*q {
			s.Certificates = []string{f.cert}
		}
		switch x := r.IntN(100); {
		case x < 72:
			s.DesiredTitle = f.titles[r.IntN(len(f.titles))]
		case x < 82:
			o := &families[r.IntN(len(families))]
			s.DesiredTitle = o.titles[r.IntN(len(o.titles))]
		}
		s.Summary = fmt.Sprintf("做过%d年%s，%s", s.ExperienceYears, f.phrases[r.IntN(len(f.phrases))], f.phrases[r.IntN(len(f.phrases))])
		if r.IntN(10) < 7 {
			s.SalaryMin = max(0, tr.Reservation+500*(r.IntN(3)-1))
			if r.IntN(10) < 4 {
				s.SalaryMax = s.SalaryMin + 3000
			}
		}
		if r.IntN(10) < 6 {
			s.MaxCommuteKm = math.Round(tr.CommuteKm)
		}
		p.Seekers = append(p.Seekers, s)
		p.SeekerTruth = append(p.SeekerTruth, tr)
	}
	for i := range o.Jobs {
		fi := pickFamily(r, cum)
		f := &families[fi]
		need := 0.8 * r.Float64()
		lo := round500(float64(f.pay) * (0.75 + 0.5*need + 0.08*r.NormFloat64()))
		j := matching.Job{ID: int64(i + 1), EmployerID: int64(1 + r.IntN(max(1, o.Jobs/12))),
			Title: f.titles[r.IntN(len(f.titles))], OccupationCode: f.code,
			Education: max(matching.EduNone, f.edu-matching.Education(r.IntN(2))), ExperienceYears: int(math.Round(need * 4)),
			SalaryMin: lo, SalaryMax: lo + 1000*(1+r.IntN(3)), Location: place(r, 0.2), Active: r.IntN(10) > 0,
			PublishedAt: o.Now.Add(-time.Duration(r.IntN(60*24)) * time.Hour)}
		for _, sk := range f.skills {
			if r.Float64() < 0.3+0.5*need {
				j.Skills = append(j.Skills, sk)
			}
		}
		if len(j.Skills) == 0 {
			j.Skills = []string{f.skills[0]}
		}
		if f.cert != "" && r.IntN(10) < 4 {
			j.Certificates = []string{f.cert}
		}
		j.Description = f.phrases[r.IntN(len(f.phrases))] + "，" + f.phrases[r.IntN(len(f.phrases))] + "，" + generic[r.IntN(len(generic))] + "，" + generic[r.IntN(len(generic))]
		p.Jobs = append(p.Jobs, j)
		p.JobTruth = append(p.JobTruth, JobTruth{Family: fi, Need: need})
	}
	return p
}

// SeekerLikes: the seeker would really take the job (occupation, pay, commute).
func (p *Population) SeekerLikes(si, ji int) bool {
	st, jt, j := &p.SeekerTruth[si], &p.JobTruth[ji], &p.Jobs[ji]
	if jt.Family != st.Family && !(st.Open && Related(jt.Family, st.Family)) {
		return false
	}
	return j.SalaryMax >= st.Reservation && matching.DistanceKm(p.Seekers[si].Location, j.Location) <= st.CommuteKm
}

// EmployerLikes: the employer would really hire the seeker (occupation,
// real skill, education, certificates).
func (p *Population) EmployerLikes(si, ji int) bool {
	st, jt, s, j := &p.SeekerTruth[si], &p.JobTruth[ji], &p.Seekers[si], &p.Jobs[ji]
	if jt.Family != st.Family && !(Related(jt.Family, st.Family) && st.Quality >= jt.Need+0.3) {
		return false
	}
	if st.Quality < jt.Need || s.Education < j.Education {
		return false
	}
	for _, c := range j.Certificates {
		if len(s.Certificates) == 0 || s.Certificates[0] != c {
			return false
		}
	}
	return true
}

// Relevant: both sides really want the match, and the job is open.
func (p *Population) Relevant(si, ji int) bool {
	return p.Jobs[ji].Active && p.SeekerLikes(si, ji) && p.EmployerLikes(si, ji)
}
