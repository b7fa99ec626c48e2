package booking_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"jobhall/booking"
	"jobhall/internal/apperr"
)

// TestTrainingAttendanceFromRoomEvents: attendance is computed from the
// join and leave events of the session's broadcast room; 80% counts.
func TestTrainingAttendanceFromRoomEvents(t *testing.T) {
	e, clock := newEnvAt(t, at(8, 0))
	trainer, _ := e.account(booking.RoleTrainer, 0)
	otherTrainer, _ := e.account(booking.RoleTrainer, 0)
	mustStatus(t, e.post("/api/v1/courses", trainer, map[string]any{"kind": "cooking", "title": "x"}), http.StatusBadRequest, "bad kind")
	c := e.post("/api/v1/courses", trainer, map[string]any{"kind": "skills", "title": "电工上岗培训", "description": "低压电工实操"})
	mustStatus(t, c, http.StatusCreated, "course")
	course := num(c.Body["id"])
	mustStatus(t, e.post(fmtPath("/api/v1/courses/%d/sessions", course), otherTrainer, map[string]any{"start": at(10, 0), "end": at(11, 0), "capacity": 3}),
		http.StatusForbidden, "someone else's course")
	sess := e.post(fmtPath("/api/v1/courses/%d/sessions", course), trainer, map[string]any{"start": at(10, 0), "end": at(11, 0), "capacity": 3})
	mustStatus(t, sess, http.StatusCreated, "session")
	id := num(sess.Body["id"])
	room := sess.str("room")
	if room != booking.RoomForSession(id) || !strings.HasPrefix(room, "course-") {
		t.Fatalf("room %q", room)
	}
	ss := e.seekerIDs(4)
	toks := make([]string, 4)
	for i, sid := range ss {
		toks[i] = e.signIn("seeker", sid)
		want := http.StatusCreated
		if i == 3 {
			want = http.StatusConflict // capacity 3
		}
		mustStatus(t, e.post(fmtPath("/api/v1/group-sessions/%d/seats", id), toks[i], nil), want, "seat")
	}
	j := e.get(fmtPath("/api/v1/group-sessions/%d/join", id), toks[0])
	mustStatus(t, j, http.StatusOK, "join link")
	u, _ := url.Parse(j.str("join_url"))
	g, err := e.tokens.Verify(u.Query().Get("token"), room)
	if err != nil || g.Room != room || g.Identity != fmtPath("seeker-%d", ss[0]) {
		t.Fatalf("join token %+v %v", g, err)
	}
	mustStatus(t, e.get(fmtPath("/api/v1/group-sessions/%d/join", id), toks[3]), http.StatusForbidden, "join without a seat")
	mustStatus(t, e.get(fmtPath("/api/v1/group-sessions/%d/join", id), trainer), http.StatusOK, "trainer joins")

	ev := func(seeker int64, kind string, hh, mm int) {
		t.Helper()
		if err := e.svc.RecordRoomEvent(e.ctx, room, kind, at(hh, mm), map[string]any{"identity": fmtPath("seeker-%d", seeker)}); err != nil {
			t.Fatalf("room event: %v", err)
		}
	}
	join, leave := booking.KindParticipantJoined, booking.KindParticipantLeft
	ev(ss[0], join, 9, 55) // A: the whole hour
	ev(ss[0], leave, 11, 5)
	ev(ss[1], join, 10, 0) // B: 55 of 60 minutes, with a drop-out
	ev(ss[1], leave, 10, 30)
	ev(ss[1], join, 10, 35)
	ev(ss[1], leave, 11, 0)
	ev(ss[2], join, 10, 10) // C: 30 minutes; a repeated join changes nothing
	ev(ss[2], join, 10, 20)
	ev(ss[2], leave, 10, 40)
	if err := e.svc.RecordRoomEvent(e.ctx, room, join, at(10, 0), map[string]any{"identity": "account-7"}); err != nil {
		t.Fatalf("trainer's join: %v", err)
	}
	clock.Set(at(10, 30))
	mustStatus(t, e.post(fmtPath("/api/v1/group-sessions/%d/attendance", id), trainer, nil), http.StatusConflict, "final attendance before the end")
	live := e.get(fmtPath("/api/v1/group-sessions/%d/attendance", id), trainer)
	mustStatus(t, live, http.StatusOK, "live attendance")
	mustStatus(t, e.get(fmtPath("/api/v1/group-sessions/%d/attendance", id), otherTrainer), http.StatusForbidden, "another trainer")
	clock.Set(at(11, 10))
	final := e.post(fmtPath("/api/v1/group-sessions/%d/attendance", id), trainer, nil)
	mustStatus(t, final, http.StatusOK, "final attendance")
	want := map[int64][2]int64{ss[0]: {3600, 1}, ss[1]: {3300, 1}, ss[2]: {1800, 0}}
	for _, x := range final.Body["attendance"].([]any) {
		a := x.(map[string]any)
		w := want[num(a["seeker_id"])]
		attended := int64(0)
		if a["attended"] == true {
			attended = 1
		}
		if num(a["present_seconds"]) != w[0] || attended != w[1] {
			t.Errorf("attendance %v, want %v", a, w)
		}
	}
	again := e.post(fmtPath("/api/v1/group-sessions/%d/attendance", id), trainer, nil)
	if string(again.Raw) != string(final.Raw) {
		t.Fatalf("taking attendance twice changed it: %s vs %s", again.Raw, final.Raw)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE kind = 'training_certificate'`); n != 2 {
		t.Fatalf("%d certificates, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE kind = 'training_certificate' AND seeker_id = $1`, ss[2]); n != 0 {
		t.Fatal("a certificate for 50% attendance")
	}
	if err := e.svc.RecordRoomEvent(e.ctx, booking.RoomForSession(999999), join, at(10, 0), map[string]any{"identity": "seeker-1"}); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("event for an unknown session: %v", err)
	}
}

func TestConsultationsArePrivateAndUnrecordedWithoutConsent(t *testing.T) {
	e, _ := newEnvAt(t, at(8, 0))
	lawyer, _ := e.account(booking.RoleTrainer, 0)
	otherAdviser, _ := e.account(booking.RoleTrainer, 0)
	offer := func(tok string, hh, mm int) resp {
		return e.post("/api/v1/consultations", tok, map[string]any{"topic": "labour_law", "start": at(hh, mm), "end": at(hh, mm).Add(30 * time.Minute)})
	}
	c1 := offer(lawyer, 14, 0)
	mustStatus(t, c1, http.StatusCreated, "offer")
	mustStatus(t, offer(lawyer, 14, 15), http.StatusConflict, "overlapping offer")
	c2 := offer(lawyer, 15, 0)
	mustStatus(t, c2, http.StatusCreated, "offer 2")
	mustStatus(t, e.post("/api/v1/consultations", lawyer, map[string]any{"topic": "tax", "start": at(16, 0), "end": at(16, 30)}), http.StatusBadRequest, "bad topic")
	ss := e.seekerIDs(2)
	a, b := e.signIn("seeker", ss[0]), e.signIn("seeker", ss[1])
	id1, id2 := num(c1.Body["id"]), num(c2.Body["id"])
	bk := e.post(fmtPath("/api/v1/consultations/%d/book", id1), a, map[string]any{"question": "公司拖欠工资怎么办"})
	mustStatus(t, bk, http.StatusOK, "book")
	if bk.Body["recording_consent"] != false || bk.Body["recorded"] != false || bk.str("join_url") == "" || bk.str("room") != booking.RoomForConsultation(id1) {
		t.Fatalf("booked %s", bk.Raw)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/consultations/%d/book", id1), b, map[string]any{}), http.StatusConflict, "taken")
	// Nobody but its two parties sees it (not even that it exists).
	for name, tok := range map[string]string{"another seeker": b, "another adviser": otherAdviser} {
		if r := e.get(fmtPath("/api/v1/consultations/%d", id1), tok); r.Status != http.StatusNotFound || strings.Contains(string(r.Raw), "拖欠") {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	if r := e.get(fmtPath("/api/v1/consultations/%d", id1), lawyer); r.Status != http.StatusOK || r.str("question") == "" || r.str("join_url") == "" {
		t.Fatalf("adviser's view %d %s", r.Status, r.Raw)
	}
	pub := e.get("/api/v1/consultations", "")
	if strings.Contains(string(pub.Raw), "拖欠") || strings.Contains(string(pub.Raw), itoa(id1)+",") || len(pub.Body["consultations"].([]any)) != 1 {
		t.Fatalf("public list %s", pub.Raw)
	}
	// Never recorded without consent; the log says only that one was booked.
	if ok, err := e.svc.RecordingAllowed(e.ctx, booking.RoomForConsultation(id1)); ok || err != nil {
		t.Fatalf("recording allowed without consent: %v %v", ok, err)
	}
	err := e.svc.RecordRoomEvent(e.ctx, booking.RoomForConsultation(id1), booking.KindRecordingSaved, time.Time{}, map[string]any{"file": "x.webm"})
	if apperr.CodeOf(err) != apperr.Forbidden {
		t.Fatalf("unconsented recording event: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE seeker_id = $1 AND (kind = 'recording_saved' OR data::text LIKE '%拖欠%')`, ss[0]); n != 0 {
		t.Fatalf("%d log entries reveal the consultation", n)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE seeker_id = $1 AND kind = 'consultation_booked'`, ss[0]); n != 1 {
		t.Fatalf("%d booking entries", n)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/consultations/%d/book", id2), b, map[string]any{"recording_consent": true}), http.StatusOK, "book with consent")
	if ok, _ := e.svc.RecordingAllowed(e.ctx, booking.RoomForConsultation(id2)); !ok {
		t.Fatal("consented consultation may not be recorded")
	}
	if ok, _ := e.svc.RecordingAllowed(e.ctx, booking.RoomForSession(1)); ok {
		t.Fatal("a broadcast may be recorded")
	}
	mine := e.get("/api/v1/me/consultations", lawyer)
	if n := len(mine.Body["consultations"].([]any)); n != 2 {
		t.Fatalf("adviser's list %s", mine.Raw)
	}
}

func TestPoliciesAndPovertyFollowUp(t *testing.T) {
	e := newEnv(t)
	officer, _ := e.account(booking.RoleOfficer, 0)
	for _, bad := range []map[string]any{{"title": "", "categories": []string{"other"}}, {"title": "   ", "categories": []string{"other"}},
		{"title": "x", "categories": []string{}}, {"title": "x", "categories": []string{"lottery"}}} {
		if r := e.post("/api/v1/policies", officer, bad); r.Status != http.StatusBadRequest {
			t.Errorf("policy %v: %d %s", bad, r.Status, r.Raw)
		}
	}
	if n := e.count(`SELECT count(*) FROM policies`); n != 0 {
		t.Fatalf("refused policies wrote %d rows", n)
	}
	var county string
	var seeker int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id, county FROM seekers WHERE NOT poverty_registered AND county <> '' ORDER BY id LIMIT 1`).Scan(&seeker, &county); err != nil {
		t.Fatal(err)
	}
	publish := func(title string, cats, counties []string, poor bool) {
		t.Helper()
		mustStatus(t, e.post("/api/v1/policies", officer, map[string]any{"title": title, "body": title + "，详见人社局通知。",
			"categories": cats, "counties": counties, "poverty_only": poor}), http.StatusCreated, "publish "+title)
	}
	publish("一次性吸纳就业补贴", []string{"employment_subsidy"}, nil, false)
	publish(county+"职业技能培训补贴", []string{"training_allowance"}, []string{county}, false)
	publish("外县创业担保贷款", []string{"entrepreneurship"}, []string{"不存在县"}, false)
	publish("脱贫劳动力交通补助", []string{"poverty_alleviation", "employment_subsidy"}, nil, true)
	titles := func(r resp) []string {
		var out []string
		for _, p := range r.Body["policies"].([]any) {
			out = append(out, p.(map[string]any)["title"].(string))
		}
		return out
	}
	if got := titles(e.get("/api/v1/policies?q="+url.QueryEscape("补贴"), "")); len(got) != 2 {
		t.Errorf("search 补贴: %v", got)
	}
	if got := titles(e.get("/api/v1/policies?category=employment_subsidy", "")); len(got) != 2 {
		t.Errorf("category: %v", got)
	}
	if got := titles(e.get("/api/v1/policies?county="+url.QueryEscape(county), "")); len(got) != 3 {
		t.Errorf("county: %v", got)
	}
	mine := titles(e.get("/api/v1/me/policies", e.signIn("seeker", seeker)))
	if len(mine) != 2 || !strings.Contains(strings.Join(mine, ","), "技能培训") {
		t.Errorf("policies for a seeker of %s: %v", county, mine)
	}

	// Follow-up of the poverty-alleviation cohort.
	poor := e.count(`SELECT count(*) FROM seekers WHERE poverty_registered`)
	var p1 int64
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM seekers WHERE poverty_registered ORDER BY id LIMIT 1`).Scan(&p1); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/seekers/%d/followups", seeker), officer, map[string]any{"channel": "phone", "status": "seeking"}), http.StatusConflict, "not in the cohort")
	mustStatus(t, e.post(fmtPath("/api/v1/seekers/%d/followups", p1), officer, map[string]any{"channel": "pigeon", "status": "seeking"}), http.StatusBadRequest, "bad channel")
	if n := e.count(`SELECT count(*) FROM employment_log WHERE kind = 'followup'`); n != 0 {
		t.Fatalf("refused follow-ups wrote %d entries", n)
	}
	list := e.get("/api/v1/poverty/followups?days=30&limit=500", officer)
	mustStatus(t, list, http.StatusOK, "list")
	if n := len(list.Body["seekers"].([]any)); n != poor {
		t.Fatalf("list has %d, cohort %d", n, poor)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'view_followup_list'`); n != poor {
		t.Fatalf("%d audit rows for a list of %d", n, poor)
	}
	mustStatus(t, e.post(fmtPath("/api/v1/seekers/%d/followups", p1), officer, map[string]any{"channel": "visit", "status": "employed", "note": "在本地物流公司上班"}),
		http.StatusCreated, "follow-up")
	list = e.get("/api/v1/poverty/followups?days=30&limit=500", officer)
	if n := len(list.Body["seekers"].([]any)); n != poor-1 {
		t.Fatalf("list has %d after an employed follow-up, want %d", n, poor-1)
	}
	mustStatus(t, e.get("/api/v1/poverty/followups?days=0", officer), http.StatusBadRequest, "days 0")
}
