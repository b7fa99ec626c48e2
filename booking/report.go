package booking

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// The fair report: the frozen figures as CSV (one table, a "view" column
// telling totals, counties and sectors apart) and as a printable HTML page
// with inline SVG charts (no external assets, so it prints offline).

func (s *Service) handleReportCSV(w http.ResponseWriter, r *http.Request) error {
	st, err := s.frozenReport(r)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff") // so spreadsheet programs read the Chinese text as UTF-8
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"view", "key", "employers_present", "posts", "attendees", "interviews", "hire_intents"})
	line := func(view string, row StatRow) {
		_ = cw.Write([]string{view, row.Key, itoa64(row.EmployersPresent), itoa64(row.Posts), itoa64(row.Attendees),
			itoa64(row.Interviews), itoa64(row.HireIntents)})
	}
	line("total", st.Totals)
	for _, row := range st.ByCounty {
		line("county", row)
	}
	for _, row := range st.BySector {
		line("sector", row)
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="fair-%d-report.csv"`, st.FairID))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

type bar struct {
	Label  string
	Value  int64
	Y      int
	Width  int
	TextX  int
	LabelY int
}

type chart struct {
	Title  string
	Height int
	Bars   []bar
}

// barChart lays out a horizontal bar chart in SVG coordinates.
func barChart(title string, rows []StatRow, value func(StatRow) int64) chart {
	c := chart{Title: title}
	var hi int64 = 1
	for _, r := range rows {
		hi = max(hi, value(r))
	}
	const rowH, maxW = 22, 420
	for i, r := range rows {
		v := value(r)
		label := r.Key
		if label == "" {
			label = "未填写 / not given"
		}
		wdt := int(v * maxW / hi)
		c.Bars = append(c.Bars, bar{Label: label, Value: v, Y: i*rowH + 4, Width: wdt, TextX: 160 + wdt + 6, LabelY: i*rowH + 18})
	}
	c.Height = len(rows)*rowH + 8
	return c
}

var reportTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{.S.Name}} · 招聘会报告 / fair report</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0} th,td{border:1px solid #999;padding:.25em .6em;text-align:right} th:first-child,td:first-child{text-align:left}
.figures{display:flex;flex-wrap:wrap;gap:1em} .figure{border:1px solid #999;padding:.5em 1em;min-width:8em}
.figure b{display:block;font-size:1.6em} svg text{font-size:12px} .note{font-size:.85em;color:#555}
@media print{body{margin:1cm} .pagebreak{page-break-before:always}}
</style></head><body>
<h1>{{.S.Name}}</h1>
<p>{{.S.Day}} · {{.S.Venue}} · 报告冻结于 / frozen at {{.Frozen}}</p>
<div class="figures">
<div class="figure"><b>{{.S.Totals.EmployersPresent}}</b>到场单位 / employers present</div>
<div class="figure"><b>{{.S.Totals.Posts}}</b>岗位 / job posts</div>
<div class="figure"><b>{{.S.Totals.Attendees}}</b>签到求职者 / attendees checked in</div>
<div class="figure"><b>{{.S.Totals.Interviews}}</b>面试 / interviews held</div>
<div class="figure"><b>{{.S.Totals.HireIntents}}</b>录用意向 / intentions to hire</div>
</div>
<p class="note">展位 / booths {{.S.Booths}} · 报名 / registered {{.S.Registered}} · 预约面试 / booked interviews {{.S.Bookings}} · 爽约 / no-shows {{.S.NoShows}}</p>
{{range .Charts}}<h2>{{.Title}}</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{{.Height}}" role="img" aria-label="{{.Title}}">
{{range .Bars}}<text x="0" y="{{.LabelY}}">{{.Label}}</text><rect x="160" y="{{.Y}}" width="{{.Width}}" height="16" fill="#3b6ea5"></rect><text x="{{.TextX}}" y="{{.LabelY}}">{{.Value}}</text>
{{end}}</svg>
{{end}}
<h2 class="pagebreak">按区县 / by county</h2>
<table><tr><th>区县 / county</th><th>到场单位 / employers</th><th>岗位 / posts</th><th>签到 / attendees</th><th>面试 / interviews</th><th>录用意向 / hire intents</th></tr>
{{range .S.ByCounty}}<tr><td>{{if .Key}}{{.Key}}{{else}}未填写 / not given{{end}}</td><td>{{.EmployersPresent}}</td><td>{{.Posts}}</td><td>{{.Attendees}}</td><td>{{.Interviews}}</td><td>{{.HireIntents}}</td></tr>
{{end}}<tr><th>合计 / total</th><th>{{.S.Totals.EmployersPresent}}</th><th>{{.S.Totals.Posts}}</th><th>{{.S.Totals.Attendees}}</th><th>{{.S.Totals.Interviews}}</th><th>{{.S.Totals.HireIntents}}</th></tr></table>
<h2>按行业 / by sector</h2>
<table><tr><th>行业 / sector</th><th>到场单位 / employers</th><th>岗位 / posts</th><th>面试 / interviews</th><th>录用意向 / hire intents</th></tr>
{{range .S.BySector}}<tr><td>{{if .Key}}{{.Key}}{{else}}未填写 / not given{{end}}</td><td>{{.EmployersPresent}}</td><td>{{.Posts}}</td><td>{{.Interviews}}</td><td>{{.HireIntents}}</td></tr>
{{end}}<tr><th>合计 / total</th><th>{{.S.Totals.EmployersPresent}}</th><th>{{.S.Totals.Posts}}</th><th>{{.S.Totals.Interviews}}</th><th>{{.S.Totals.HireIntents}}</th></tr></table>
<p class="note">到场单位：展位工作人员已签到；岗位：到场单位已发布的岗位（区县按岗位）；签到：凭二维码在入口签到的报名求职者（区县按求职者）；面试：已进行的预约面试（求职者进入面试或记录了非爽约结果）加上被叫号的现场排队；录用意向：结果为录用意向的面试（区县按求职者，行业按单位）。<br>
Employers present: booth staff checked in. Posts: published posts of the employers present (county of the post). Attendees: registered seekers checked in at the entrance (county of the seeker; no sector). Interviews: booked interviews held (the seeker joined or a non-no-show outcome was recorded) plus walk-ins called to a lane. Hire intents: interviews with an intention to hire (county of the seeker, sector of the employer).</p>
</body></html>
`))

func (s *Service) handleReportHTML(w http.ResponseWriter, r *http.Request) error {
	st, err := s.frozenReport(r)
	if err != nil {
		return err
	}
	data := map[string]any{
		"S":      st,
		"Frozen": st.AsOf.In(s.zone(st.TimeZone)).Format(time.DateTime),
		"Charts": []chart{
			barChart("各区县签到求职者 / attendees by county", st.ByCounty, func(r StatRow) int64 { return r.Attendees }),
			barChart("各区县面试 / interviews by county", st.ByCounty, func(r StatRow) int64 { return r.Interviews }),
			barChart("各行业面试 / interviews by sector", st.BySector, func(r StatRow) int64 { return r.Interviews }),
			barChart("各行业录用意向 / intentions to hire by sector", st.BySector, func(r StatRow) int64 { return r.HireIntents }),
		},
	}
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, data); err != nil {
		return internal(err, "render report")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}
