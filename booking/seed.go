package booking

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
	_ "time/tzdata" // the fair zone must load even on hosts without zoneinfo

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DemoTimeZone is the zone of the demo fair (and the default fair zone).
const DemoTimeZone = "Asia/Shanghai"

// Sizes of the demo day, modelled on a real opening day of the city's
// spring job fair.
const (
	demoEmployers = 241
	demoJobPosts  = 6129
	demoSeekers   = 2500
	slotLength    = 15 * time.Minute
)

// seedLockKey serializes SeedDemo across processes.
const seedLockKey int64 = 0x6a6f62_73656564 // "jobseed"

// SeedSummary describes a loaded demo seed.
type SeedSummary struct {
	FairID        int64
	Employers     int
	Booths        int
	JobPosts      int
	Seekers       int
	Slots         int
	AlreadyLoaded bool
}

var shanghai = mustLoad(DemoTimeZone)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// DemoFairDay returns midnight (Asia/Shanghai) of the demo fair's day: today
// there if it is before 16:00, otherwise tomorrow, so there are always
// future slots.
func DemoFairDay(now time.Time) time.Time {
	t := now.In(shanghai)
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, shanghai)
	if t.Hour() >= 16 {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// SeedDemo loads one deterministic demo job-fair day for seed on the date
// of day (its year, month and day as given). If the seed is already loaded
// for that day or a later one it changes nothing and returns the existing
// summary; if its fair day has passed, the same fair (booths, lanes, slot
// grid) is held again on day, so a long-lived demo keeps future slots.
func SeedDemo(ctx context.Context, pool *pgxpool.Pool, seed int64, day time.Time) (SeedSummary, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return SeedSummary{}, fmt.Errorf("booking: seed: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", seedLockKey); err != nil {
		return SeedSummary{}, fmt.Errorf("booking: seed lock: %w", err)
	}
	var sum SeedSummary
	err = tx.QueryRow(ctx, `SELECT fair_id, employers, booths, job_posts, seekers, slots FROM demo_seeds WHERE seed = $1`, seed).
		Scan(&sum.FairID, &sum.Employers, &sum.Booths, &sum.JobPosts, &sum.Seekers, &sum.Slots)
	if err == nil {
		sum.AlreadyLoaded = true
		rolled, err := rollDemoFair(ctx, tx, seed, sum.FairID, day)
		if err != nil || rolled == sum.FairID {
			return sum, err
		}
		sum.FairID = rolled
		if err := tx.Commit(ctx); err != nil {
			return SeedSummary{}, fmt.Errorf("booking: seed commit: %w", err)
		}
		return sum, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return SeedSummary{}, fmt.Errorf("booking: seed lookup: %w", err)
	}

	d := newDemo(seed, day)
	if sum, err = d.load(ctx, tx); err != nil {
		return SeedSummary{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO demo_seeds (seed, fair_id, employers, booths, job_posts, seekers, slots)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, seed, sum.FairID, sum.Employers, sum.Booths, sum.JobPosts, sum.Seekers, sum.Slots); err != nil {
		return SeedSummary{}, fmt.Errorf("booking: record seed: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return SeedSummary{}, fmt.Errorf("booking: seed commit: %w", err)
	}
	return sum, nil
}

// rollDemoFair copies the demo fair fairID to the date of day when its own
// day is earlier, and returns the fair the seed now points at.
func rollDemoFair(ctx context.Context, tx pgx.Tx, seed, fairID int64, day time.Time) (int64, error) {
	y, m, d := day.Date()
	date := fmt.Sprintf("%04d-%02d-%02d", y, m, d)
	var newID int64
	err := tx.QueryRow(ctx, `INSERT INTO fairs (name, venue, day, time_zone, mode, booking_opens, booking_closes, status)
		SELECT name, venue, $2::date, time_zone, mode, now(), (($2::date + 1)::timestamp AT TIME ZONE time_zone), status
		FROM fairs WHERE id = $1 AND day < $2::date RETURNING id`, fairID, date).Scan(&newID)
	if errors.Is(err, pgx.ErrNoRows) {
		return fairID, nil // still current
	}
	if err != nil {
		return 0, fmt.Errorf("booking: roll demo fair: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO booths (fair_id, employer_id, hall_position, lanes)
		SELECT $2, employer_id, hall_position, lanes FROM booths WHERE fair_id = $1 ORDER BY id`, fairID, newID); err != nil {
		return 0, fmt.Errorf("booking: roll demo booths: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO slots (booth_id, lane, during)
		SELECT nb.id, s.lane, tstzrange(lower(s.during) + ($3::date - f.day) * interval '1 day',
			upper(s.during) + ($3::date - f.day) * interval '1 day')
		FROM slots s JOIN booths ob ON ob.id = s.booth_id
		JOIN booths nb ON nb.employer_id = ob.employer_id AND nb.fair_id = $2
		JOIN fairs f ON f.id = $1
		WHERE ob.fair_id = $1 ORDER BY s.id`, fairID, newID, date); err != nil {
		return 0, fmt.Errorf("booking: roll demo slots: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE demo_seeds SET fair_id = $2, loaded_at = now() WHERE seed = $1`, seed, newID); err != nil {
		return 0, fmt.Errorf("booking: roll demo seed: %w", err)
	}
	return newID, nil
}

type demo struct {
	seed int64
	rng  *rand.Rand
	y    int
	m    time.Month
	d    int
}

func newDemo(seed int64, day time.Time) *demo {
	y, m, d := day.Date()
	return &demo{seed: seed, rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), y: y, m: m, d: d}
}

func (d *demo) at(h, min int) time.Time { return time.Date(d.y, d.m, d.d, h, min, 0, 0, shanghai) }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// allocIDs reserves n ids from table's identity sequence so that rows can be
// copied with known keys.
func allocIDs(ctx context.Context, tx pgx.Tx, table string, n int) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)`, table, n)
	if err != nil {
		return nil, fmt.Errorf("booking: alloc %s ids: %w", table, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("booking: alloc %s ids: %w", table, err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

func copyRows(ctx context.Context, tx pgx.Tx, table string, cols []string, rows [][]any) error {
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("booking: copy %s: %w", table, err)
	}
	if int(n) != len(rows) {
		return fmt.Errorf("booking: copy %s: wrote %d of %d rows", table, n, len(rows))
	}
	return nil
}

func (d *demo) load(ctx context.Context, tx pgx.Tx) (SeedSummary, error) {
	r := d.rng
	opens := time.Now()
	closes := d.at(0, 0).AddDate(0, 0, 1)
	if !opens.Before(closes) {
		return SeedSummary{}, fmt.Errorf("booking: seed: fair day %04d-%02d-%02d is already over", d.y, d.m, d.d)
	}
	var sum SeedSummary
	err := tx.QueryRow(ctx, `INSERT INTO fairs (name, venue, day, time_zone, mode, booking_opens, booking_closes, status)
		VALUES ($1, $2, $3::date, $4, 'both', $5, $6, 'published') RETURNING id`,
		fmt.Sprintf("%d年兰州市春风行动暨就业援助月大型招聘会", d.y), "兰州市人力资源市场 (城关区雁滩路)",
		fmt.Sprintf("%04d-%02d-%02d", d.y, d.m, d.d), DemoTimeZone, opens, closes).Scan(&sum.FairID)
	if err != nil {
		return SeedSummary{}, fmt.Errorf("booking: seed fair: %w", err)
	}

	// Employers and their booths.
	empIDs, err := allocIDs(ctx, tx, "employers", demoEmployers)
	if err != nil {
		return SeedSummary{}, err
	}
	boothIDs, err := allocIDs(ctx, tx, "booths", demoEmployers)
	if err != nil {
		return SeedSummary{}, err
	}
	empRows := make([][]any, 0, demoEmployers)
	boothRows := make([][]any, 0, demoEmployers)
	empIndustry := make([]int, demoEmployers)
	empCounty := make([]string, demoEmployers)
	lanes := make([]int16, demoEmployers)
	usedNames := map[string]bool{}
	for i := range demoEmployers {
		ind := r.IntN(len(industries))
		var name string
		for {
			name = pick(r, cityPrefixes) + pick(r, brandWords) + pick(r, industries[ind].firmWords) + pick(r, firmSuffixes)
			if !usedNames[name] {
				break
			}
		}
		usedNames[name] = true
		empIndustry[i] = ind
		empCounty[i] = pick(r, counties)
		// Every employer holding a booth is verified (the database insists);
		// the draw stays so the rest of the data keeps its seed.
		_ = r.IntN(10)
		empRows = append(empRows, []any{empIDs[i], name, industries[ind].name, empCounty[i], true})
		switch x := r.IntN(100); {
		case x < 50:
			lanes[i] = 1
		case x < 85:
			lanes[i] = 2
		default:
			lanes[i] = 3
		}
		hall := "ABCD"[i%4 : i%4+1]
		boothRows = append(boothRows, []any{boothIDs[i], sum.FairID, empIDs[i], fmt.Sprintf("%s馆 %02d号展位", hall, i/4+1), lanes[i]})
	}
	if err := copyRows(ctx, tx, "employers", []string{"id", "name", "industry", "county", "verified"}, empRows); err != nil {
		return SeedSummary{}, err
	}
	if err := copyRows(ctx, tx, "booths", []string{"id", "fair_id", "employer_id", "hall_position", "lanes"}, boothRows); err != nil {
		return SeedSummary{}, err
	}

	// Job posts: every employer has at least one; the rest are spread unevenly.
	perEmp := make([]int, demoEmployers)
	weights := make([]int, demoEmployers)
	totalW := 0
	for i := range perEmp {
		perEmp[i] = 1
		weights[i] = 1 + r.IntN(8)*r.IntN(8)
		totalW += weights[i]
	}
	for range demoJobPosts - demoEmployers {
		x := r.IntN(totalW)
		for i, w := range weights {
			if x < w {
				perEmp[i]++
				break
			}
			x -= w
		}
	}
	published := opens.Add(-72 * time.Hour).Truncate(time.Hour)
	jobRows := make([][]any, 0, demoJobPosts)
	for i, n := range perEmp {
		ind := industries[empIndustry[i]]
		for range n {
			j := jobs[pick(r, ind.jobs)]
			lo := j.salaryLo + 100*r.IntN(11)
			hi := lo + 500*(1+r.IntN(6))
			skills := pickSkills(r, j.skills, 1+r.IntN(3))
			jobRows = append(jobRows, []any{empIDs[i], j.title, j.code, skills, lo, hi, pick(r, j.education),
				int16(r.IntN(4)), empCounty[i], 1 + r.IntN(20), "published", published})
		}
	}
	if err := copyRows(ctx, tx, "job_posts", []string{"employer_id", "title", "occupation_code", "skills", "salary_min", "salary_max",
		"education", "experience_years", "county", "headcount", "status", "published_at"}, jobRows); err != nil {
		return SeedSummary{}, err
	}

	// Seekers.
	seekerRows := make([][]any, 0, demoSeekers)
	phones := map[string]bool{}
	for range demoSeekers {
		name := pickSurname(r) + pick(r, givenChars)
		if r.IntN(100) < 70 {
			name += pick(r, givenChars)
		}
		var phone string
		for {
			phone = "1" + pick(r, phonePrefixes) + fmt.Sprintf("%08d", r.IntN(100_000_000))
			if !phones[phone] {
				break
			}
		}
		phones[phone] = true
		j := jobs[pick(r, jobKeys)]
		exp := r.IntN(16)
		salary := 2500 + 500*r.IntN(12)
		seekerRows = append(seekerRows, []any{name, phone, pick(r, counties), pickEducation(r), pickSkills(r, j.skills, 1+r.IntN(3)),
			int16(exp), j.title, salary, r.IntN(100) < 85, r.IntN(100) < 70, r.IntN(100) < 12, d.seed})
	}
	if err := copyRows(ctx, tx, "seekers", []string{"name", "phone", "county", "education", "skills", "experience_years",
		"desired_job", "desired_salary", "consent_profile_visible", "consent_recording", "poverty_registered", "demo_seed"}, seekerRows); err != nil {
		return SeedSummary{}, err
	}

	// Interview slots: 15 minutes, 09:00–12:00 and 13:30–17:00, per lane.
	var starts []time.Time
	for t := d.at(9, 0); t.Before(d.at(12, 0)); t = t.Add(slotLength) {
		starts = append(starts, t)
	}
	for t := d.at(13, 30); t.Before(d.at(17, 0)); t = t.Add(slotLength) {
		starts = append(starts, t)
	}
	var slotRows [][]any
	for i, b := range boothIDs {
		for lane := int16(1); lane <= lanes[i]; lane++ {
			for _, st := range starts {
				slotRows = append(slotRows, []any{b, lane, tstzRange(st, st.Add(slotLength))})
			}
		}
	}
	if err := copyRows(ctx, tx, "slots", []string{"booth_id", "lane", "during"}, slotRows); err != nil {
		return SeedSummary{}, err
	}

	sum.Employers, sum.Booths, sum.JobPosts = len(empRows), len(boothRows), len(jobRows)
	sum.Seekers, sum.Slots = len(seekerRows), len(slotRows)
	return sum, nil
}

func tstzRange(a, b time.Time) pgtype.Range[pgtype.Timestamptz] {
	return pgtype.Range[pgtype.Timestamptz]{
		Lower:     pgtype.Timestamptz{Time: a, Valid: true},
		Upper:     pgtype.Timestamptz{Time: b, Valid: true},
		LowerType: pgtype.Inclusive,
		UpperType: pgtype.Exclusive,
		Valid:     true,
	}
}

func pickSkills(r *rand.Rand, from []string, n int) []string {
	n = min(n, len(from))
	idx := r.Perm(len(from))[:n]
	sort.Ints(idx)
	out := make([]string, n)
	for i, k := range idx {
		out[i] = from[k]
	}
	return out
}

func pickEducation(r *rand.Rand) string {
	// Roughly the mix seen at a city fair's walk-in crowd.
	switch x := r.IntN(100); {
	case x < 6:
		return "小学"
	case x < 30:
		return "初中"
	case x < 50:
		return "高中"
	case x < 65:
		return "中专"
	case x < 85:
		return "大专"
	default:
		return "本科"
	}
}

func pickSurname(r *rand.Rand) string {
	// The first surnames are far more common; squaring skews towards them.
	f := r.Float64()
	return surnames[int(f*f*float64(len(surnames)))]
}

// Counties and districts of the demo prefecture-level city (Lanzhou).
var counties = []string{"城关区", "七里河区", "西固区", "安宁区", "红古区", "永登县", "皋兰县", "榆中县", "兰州新区", "高新区"}

var surnames = []string{
	"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗",
	"梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧", "程", "曹", "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕",
	"苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛", "叶", "阎", "余", "潘", "杜", "戴", "夏", "钟", "汪", "田", "任", "姜",
	"范", "方", "石", "姚", "谭", "廖", "邹", "熊", "金", "陆", "郝", "孔", "白", "崔", "康", "毛", "邱", "秦", "江", "史",
	"顾", "侯", "邵", "孟", "龙", "万", "段", "雷", "钱", "汤", "尹", "黎", "易", "常", "武", "乔", "贺", "赖", "龚", "文",
	"牛", "安", "祁", "芦", "火", "把", "包",
}

var givenChars = []string{
	"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀", "霞", "平",
	"刚", "桂", "英", "华", "玉", "兰", "文", "辉", "鹏", "建", "国", "峰", "婷", "雪", "晨", "欣", "宇", "浩", "佳", "琳",
	"海", "燕", "红", "亮", "斌", "波", "凯", "龙", "瑞", "梅", "慧", "倩", "丹", "颖", "璐", "鑫", "博", "宁", "昊", "睿",
	"子", "涵", "轩", "思", "雨", "嘉", "俊", "晓", "志", "春", "福", "成", "德", "永", "生", "金", "云", "荣", "新", "世",
}

var phonePrefixes = []string{"30", "31", "32", "33", "35", "36", "37", "38", "39", "50", "51", "52", "53", "55", "56", "57",
	"58", "59", "77", "80", "81", "82", "86", "87", "88", "89", "91", "99"}

var cityPrefixes = []string{"兰州", "甘肃", "陇原", "金城", "皋兰", "榆中", "永登", "西固", "安宁", "七里河"}

var brandWords = []string{"黄河", "丝路", "金辉", "瑞丰", "恒信", "博远", "鑫源", "华龙", "新陇", "宏达", "盛世", "天庆",
	"中天", "佳禾", "万通", "顺达", "嘉禾", "银河", "正大", "德润", "锦程", "鼎新", "昌盛", "众合", "安泰", "兴隆",
	"长风", "广源", "陇翔", "和信"}

var firmSuffixes = []string{"有限公司", "有限责任公司", "股份有限公司", "集团有限公司"}

type industry struct {
	name      string
	firmWords []string
	jobs      []string // keys of jobs
}

type job struct {
	title     string
	code      string // occupation category (中华人民共和国职业分类大典)
	skills    []string
	education []string
	salaryLo  int // monthly yuan
}

var industries = []industry{
	{"制造业", []string{"机械制造", "新材料", "石化设备", "电子科技", "食品"}, []string{"welder", "cnc", "worker", "qc", "electrician", "forklift"}},
	{"建筑业", []string{"建筑工程", "建设", "路桥工程", "装饰工程"}, []string{"rebar", "mason", "electrician", "surveyor", "safety", "cad"}},
	{"批发和零售业", []string{"商贸", "超市", "医药连锁", "百货"}, []string{"cashier", "sales", "warehouse", "clerk", "cs"}},
	{"住宿和餐饮业", []string{"餐饮管理", "酒店管理", "牛肉面", "食品"}, []string{"cook", "pastry", "waiter", "cashier", "front"}},
	{"交通运输、仓储和邮政业", []string{"物流", "运输", "快递", "供应链"}, []string{"driver", "courier", "warehouse", "forklift", "cs"}},
	{"信息传输、软件和信息技术服务业", []string{"信息技术", "软件", "网络科技", "数据服务"}, []string{"dev", "ops", "cs", "sales", "clerk"}},
	{"卫生和社会工作", []string{"医院管理", "康养", "养老服务", "健康"}, []string{"nurse", "carer", "nanny", "front", "clerk"}},
	{"居民服务、修理和其他服务业", []string{"家政服务", "物业管理", "保安服务", "汽车服务"}, []string{"guard", "nanny", "carer", "cleaner", "mechanic"}},
	{"金融业", []string{"保险代理", "融资担保", "财务咨询"}, []string{"accountant", "sales", "cs", "clerk"}},
	{"教育", []string{"教育咨询", "职业培训", "文化传播"}, []string{"teacher", "sales", "clerk", "cs"}},
	{"农、林、牧、渔业", []string{"农业科技", "种养殖", "百合", "高原夏菜"}, []string{"agri", "worker", "driver", "sales"}},
}

var (
	low  = []string{"初中", "高中", "中专"}
	mid  = []string{"高中", "中专", "大专"}
	high = []string{"大专", "本科"}
)

// jobKeys lists jobs in a fixed order; map order would break determinism.
var jobKeys = func() []string {
	ks := make([]string, 0, len(jobs))
	for k := range jobs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}()

var jobs = map[string]job{
	"welder":      {"电焊工", "6-18-02-04", []string{"电焊", "焊工证", "氩弧焊", "识图"}, low, 5000},
	"cnc":         {"数控车床操作工", "6-18-01-01", []string{"数控车床", "识图", "量具使用", "CAD制图"}, mid, 4500},
	"worker":      {"普工", "6-99-00-00", []string{"吃苦耐劳", "服从安排", "倒班"}, low, 3500},
	"qc":          {"质检员", "6-31-03-01", []string{"质量检验", "办公软件", "量具使用"}, mid, 4000},
	"electrician": {"电工", "6-31-01-03", []string{"电工证", "低压电工", "设备维修"}, low, 5000},
	"forklift":    {"叉车司机", "6-29-03-03", []string{"叉车驾驶", "叉车证", "仓储管理"}, low, 4500},
	"rebar":       {"钢筋工", "6-29-01-05", []string{"钢筋绑扎", "识图", "吃苦耐劳"}, low, 6000},
	"mason":       {"砌筑工", "6-29-01-01", []string{"砌筑", "抹灰", "吃苦耐劳"}, low, 6000},
	"surveyor":    {"工程测量员", "4-08-03-04", []string{"全站仪", "CAD制图", "工程测量"}, high, 5500},
	"safety":      {"安全员", "2-02-28-02", []string{"安全员证", "办公软件", "现场管理"}, mid, 5000},
	"cad":         {"施工员", "2-02-18-01", []string{"CAD制图", "识图", "现场管理"}, high, 5500},
	"cashier":     {"收银员", "4-01-02-04", []string{"收银", "普通话", "办公软件"}, low, 3000},
	"sales":       {"销售代表", "4-01-02-01", []string{"市场营销", "普通话", "客户沟通", "C1驾照"}, mid, 3500},
	"warehouse":   {"仓库管理员", "4-02-06-01", []string{"仓储管理", "办公软件", "叉车驾驶"}, mid, 4000},
	"clerk":       {"行政文员", "3-01-02-01", []string{"办公软件", "普通话", "档案管理"}, mid, 3200},
	"cs":          {"客服专员", "4-07-02-03", []string{"客户沟通", "普通话", "办公软件"}, mid, 3500},
	"cook":        {"厨师", "4-03-02-01", []string{"烹饪", "健康证", "中式烹调师证"}, low, 5000},
	"pastry":      {"面点师", "4-03-02-02", []string{"面点", "拉面", "健康证"}, low, 4500},
	"waiter":      {"餐厅服务员", "4-03-02-05", []string{"普通话", "健康证", "吃苦耐劳"}, low, 3000},
	"front":       {"前台接待", "4-03-01-01", []string{"普通话", "办公软件", "英语"}, mid, 3200},
	"driver":      {"货车司机", "4-02-01-03", []string{"A2驾照", "B2驾照", "安全驾驶"}, low, 6500},
	"courier":     {"快递员", "4-02-07-02", []string{"C1驾照", "电动车驾驶", "客户沟通"}, low, 5000},
	"dev":         {"软件开发工程师", "2-02-10-03", []string{"Java", "Go", "Python", "MySQL", "Linux"}, high, 7000},
	"ops":         {"网络运维工程师", "2-02-10-09", []string{"Linux", "网络配置", "Python"}, high, 6000},
	"nurse":       {"护士", "2-05-08-01", []string{"护士资格证", "静脉输液", "护理"}, high, 4500},
	"carer":       {"养老护理员", "4-10-01-05", []string{"养老护理员证", "护理", "吃苦耐劳"}, low, 4000},
	"nanny":       {"育婴员", "4-10-01-02", []string{"育婴师证", "健康证", "烹饪"}, low, 5000},
	"guard":       {"保安员", "4-07-05-01", []string{"保安员证", "吃苦耐劳", "倒班"}, low, 3200},
	"cleaner":     {"保洁员", "4-09-08-01", []string{"吃苦耐劳", "服从安排"}, low, 2800},
	"mechanic":    {"汽车维修工", "4-12-01-01", []string{"汽修", "设备维修", "C1驾照"}, mid, 5000},
	"accountant":  {"会计", "2-06-03-00", []string{"会计证", "财务软件", "办公软件"}, high, 4500},
	"teacher":     {"培训讲师", "2-08-06-01", []string{"普通话", "教师资格证", "办公软件"}, high, 4500},
	"agri":        {"农业技术员", "2-03-01-01", []string{"种植技术", "农机操作", "C1驾照"}, mid, 4000},
}
