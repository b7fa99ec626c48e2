package booking_test

import (
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"jobhall/booking"
	"jobhall/internal/apperr"
)

// recFixture: a seeker's booking at the first booth of the test fair, with
// one saved recording file on disk per party.
type recFixture struct {
	e                   *env
	seeker, other       string // tokens
	seekerID, bookingID int64
	employer, employer2 string
	officer, officer2   string
	admin               string
	room                string
	recSeeker, recStaff int64
	media               []byte
}

func newRecFixture(t *testing.T) *recFixture {
	e := newEnv(t)
	booths, emps := e.booths(2)
	ss := e.seekerIDs(2)
	f := &recFixture{e: e, seekerID: ss[0], seeker: e.signIn("seeker", ss[0]), other: e.signIn("seeker", ss[1]),
		employer: e.signIn("employer", emps[0]), employer2: e.signIn("employer", emps[1])}
	var officerID int64
	f.officer, officerID = e.account(booking.RoleOfficer, 0)
	f.officer2, _ = e.account(booking.RoleOfficer, 0)
	f.admin, _ = e.account(booking.RoleAdmin, 0)
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO fair_officers (fair_id, account_id) VALUES ($1, $2)`, e.fairID, officerID); err != nil {
		t.Fatal(err)
	}
	bk := e.book(f.seeker, e.slotAt(booths[0], 10, 0))
	mustStatus(t, bk, http.StatusCreated, "book")
	f.bookingID = num(bk.Body["id"])
	f.room = booking.RoomForBooking(f.bookingID)
	dir := t.TempDir()
	f.media = []byte(strings.Repeat("webm-bytes ", 1000))
	start := time.Now().Add(-time.Minute)
	for i, who := range []string{"seeker-" + itoa(f.seekerID), "interviewer-" + itoa(booths[0]) + "-1"} {
		path := filepath.Join(dir, who+".webm")
		if err := os.WriteFile(path, f.media, 0o600); err != nil {
			t.Fatal(err)
		}
		id, err := e.svc.SaveRecording(e.ctx, booking.RecordingFile{Room: f.room, Participant: who, Path: path,
			Started: start.Add(time.Duration(i) * time.Second), Ended: start.Add(40 * time.Second), Duration: 39 * time.Second,
			Bytes: int64(len(f.media)), HasVideo: true, HasAudio: true})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			f.recSeeker = id
		} else {
			f.recStaff = id
		}
	}
	return f
}

func TestRecordingsSavedWithLogKindsAndConsent(t *testing.T) {
	f := newRecFixture(t)
	e := f.e
	// A failure and a crash-recovered file are rows and log entries too.
	if _, err := e.svc.SaveRecording(e.ctx, booking.RecordingFile{Room: f.room, Participant: "seeker-" + itoa(f.seekerID),
		Error: "unsupported codec video/AV1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SaveRecording(e.ctx, booking.RecordingFile{Room: f.room, Participant: "seeker-" + itoa(f.seekerID),
		Path: "/tmp/x-crashed.webm", Duration: 12 * time.Second, Incomplete: true}); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{booking.KindRecordingFailed, booking.KindRecordingConsent, booking.KindRecordingIncomplete, booking.KindRecordingProcessed} {
		if err := e.svc.RecordRoomEvent(e.ctx, f.room, kind, time.Time{}, map[string]any{"participant": "x"}); err != nil {
			t.Errorf("RecordRoomEvent %s: %v", kind, err)
		}
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE booking_id = $1 AND kind = 'recording_incomplete' AND (data->>'duration_seconds')::float = 12`, f.bookingID); n != 1 {
		t.Errorf("incomplete entries with the duration: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE booking_id = $1 AND kind = 'recording_failed' AND data->>'error' LIKE 'unsupported codec%'`, f.bookingID); n != 1 {
		t.Errorf("failure entries with the reason: %d", n)
	}
	// Bad input is refused and writes nothing.
	before := e.count(`SELECT count(*) FROM recordings`)
	for _, bad := range []booking.RecordingFile{
		{Room: f.room, Participant: "", Path: "/tmp/a.webm"},
		{Room: f.room, Participant: "p"},
		{Room: "interview-999999999", Participant: "p", Path: "/tmp/b.webm"},
		{Room: "lobby", Participant: "p", Path: "/tmp/c.webm"},
	} {
		if _, err := e.svc.SaveRecording(e.ctx, bad); err == nil || apperr.CodeOf(err) == apperr.Internal {
			t.Errorf("SaveRecording(%+v) = %v, want a 4xx error", bad, err)
		}
	}
	if _, err := e.svc.SaveRecording(e.ctx, booking.RecordingFile{Room: f.room, Participant: "x", Path: "/tmp/x-crashed.webm"}); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("the same file twice: %v", err)
	}
	if after := e.count(`SELECT count(*) FROM recordings`); after != before {
		t.Errorf("refused saves wrote %d rows", after-before)
	}
	if _, err := e.pool.Exec(e.ctx, `DELETE FROM recordings`); err == nil {
		t.Error("recordings rows can be deleted")
	}

	// Consent: the booking's seeker by profile, staff by role, nobody else.
	seekerIdent := "seeker-" + itoa(f.seekerID)
	for _, c := range []struct {
		consent           bool
		participant, role string
		want              bool
	}{
		{true, seekerIdent, "seeker", true},
		{false, seekerIdent, "seeker", false},
		{true, "seeker-1", "seeker", f.seekerID == 1},
		{false, "interviewer-1-1", "interviewer", true},
		{false, "host", "booth_host", true},
		{true, "watcher", "viewer", false},
	} {
		if _, err := e.pool.Exec(e.ctx, `UPDATE seekers SET consent_recording = $2 WHERE id = $1`, f.seekerID, c.consent); err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.RecordingConsent(e.ctx, f.room, c.participant, c.role)
		if err != nil || got != c.want {
			t.Errorf("consent(%v, %s, %s) = %v, %v; want %v", c.consent, c.participant, c.role, got, err, c.want)
		}
	}
	if ok, err := e.svc.RecordingConsent(e.ctx, "interview-999999999", seekerIdent, "seeker"); ok || err != nil {
		t.Errorf("consent for a missing booking: %v %v", ok, err)
	}
}

func TestRecordingPlaybackAccessAndAudit(t *testing.T) {
	f := newRecFixture(t)
	e := f.e
	media := fmtPath("/api/v1/recordings/%d/media", f.recSeeker)
	audits := func() int {
		return e.count(`SELECT count(*) FROM audit_log WHERE seeker_id = $1 AND action = 'view_recording'`, f.seekerID)
	}
	for _, c := range []struct {
		who, token string
		want       int
	}{
		{"the seeker", f.seeker, 200}, {"the employer", f.employer, 200}, {"the fair's officer", f.officer, 200}, {"an admin", f.admin, 200},
		{"another seeker", f.other, 403}, {"another employer", f.employer2, 403}, {"another officer", f.officer2, 403},
	} {
		before := audits()
		r := e.get(media, c.token)
		if r.Status != c.want {
			t.Errorf("%s: %d %s, want %d", c.who, r.Status, r.Raw, c.want)
			continue
		}
		wantAudits := before
		if c.want == 200 {
			wantAudits++
			if string(r.Raw) != string(f.media) || r.Header.Get("Content-Type") != "video/webm" {
				t.Errorf("%s got %d bytes of %s", c.who, len(r.Raw), r.Header.Get("Content-Type"))
			}
		} else if r.str("message") == "" {
			t.Errorf("%s: refusal without a message", c.who)
		}
		if got := audits(); got != wantAudits {
			t.Errorf("%s: %d audit entries, want %d", c.who, got, wantAudits)
		}
	}
	if r := e.get("/api/v1/recordings/999999/media", f.admin); r.Status != 404 {
		t.Errorf("missing recording: %d", r.Status)
	}
	// Range requests work (phones seek).
	req, _ := http.NewRequestWithContext(e.ctx, "GET", e.srv.URL+media, nil)
	req.Header.Set("Authorization", "Bearer "+f.seeker)
	req.Header.Set("Range", "bytes=0-9")
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || res.ContentLength != 10 {
		t.Errorf("range: %d, %d bytes", res.StatusCode, res.ContentLength)
	}
	// The seeker sees every access in their audit view.
	r := e.get("/api/v1/me/audit", f.seeker)
	mustStatus(t, r, 200, "my audit")
	if !strings.Contains(string(r.Raw), "recording:"+itoa(f.recSeeker)) {
		t.Errorf("my audit lacks the recording views: %s", r.Raw)
	}

	// Lists: the seeker's own, the booking's (audited for staff), the seeker's for officers.
	r = e.get("/api/v1/me/recordings", f.seeker)
	mustStatus(t, r, 200, "my recordings")
	if recs, _ := r.Body["recordings"].([]any); len(recs) != 2 {
		t.Errorf("my recordings: %s", r.Raw)
	}
	before := audits()
	mustStatus(t, e.get(fmtPath("/api/v1/bookings/%d/recordings", f.bookingID), f.employer), 200, "booking recordings")
	mustStatus(t, e.get(fmtPath("/api/v1/seekers/%d/recordings", f.seekerID), f.officer), 200, "seeker recordings")
	if audits() != before+2 {
		t.Errorf("staff list views not audited")
	}
	mustStatus(t, e.get(fmtPath("/api/v1/bookings/%d/recordings", f.bookingID), f.other), 403, "another seeker's booking recordings")
	mustStatus(t, e.get(fmtPath("/api/v1/seekers/%d/recordings", f.seekerID), f.officer2), 403, "another officer")
	r = e.get(fmtPath("/api/v1/recordings/%d/media", f.recStaff), "")
	mustStatus(t, r, 401, "anonymous playback")
}

func TestLegalHoldAndRetention(t *testing.T) {
	f := newRecFixture(t)
	e := f.e
	hold := fmtPath("/api/v1/recordings/%d/legal-hold", f.recSeeker)
	put := func(token string, body any) resp { return e.request("PUT", hold, token, "application/json", body) }
	for _, bad := range []any{`{}`, map[string]any{"legal_hold": true}, map[string]any{"legal_hold": "yes", "reason": "x"}, map[string]any{"legal_hold": true, "reason": "x", "extra": 1}} {
		r := put(f.officer, bad)
		if r.Status != 400 || r.str("code") != "invalid" {
			t.Errorf("bad hold %v: %d %s", bad, r.Status, r.Raw)
		}
	}
	mustStatus(t, put(f.officer2, map[string]any{"legal_hold": true, "reason": "dispute"}), 403, "another officer's hold")
	mustStatus(t, put(f.employer, map[string]any{"legal_hold": true, "reason": "dispute"}), 403, "an employer's hold")
	if n := e.count(`SELECT count(*) FROM recordings WHERE legal_hold`); n != 0 {
		t.Fatalf("refused holds changed %d rows", n)
	}
	r := put(f.officer, map[string]any{"legal_hold": true, "reason": "劳动争议 labour dispute"})
	mustStatus(t, r, 200, "hold")
	if r.Body["legal_hold"] != true {
		t.Fatalf("hold: %s", r.Raw)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'set_legal_hold' AND seeker_id = $1`, f.seekerID); n != 1 {
		t.Errorf("hold audits: %d", n)
	}
	// Retention passes over the held recording and takes the other.
	exp, err := e.svc.ExpiredRecordings(e.ctx, time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(exp) != 1 || exp[0].ID != f.recStaff {
		t.Fatalf("expired %+v, want only %d", exp, f.recStaff)
	}
	if err := e.svc.MarkRecordingDeleted(e.ctx, f.recSeeker); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("deleting a held recording: %v", err)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE recordings SET deleted_at = now() WHERE id = $1`, f.recSeeker); err == nil {
		t.Error("the database let a held recording be marked deleted")
	}
	if err := e.svc.MarkRecordingDeleted(e.ctx, f.recStaff); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.get(fmtPath("/api/v1/recordings/%d/media", f.recStaff), f.seeker), 404, "deleted media")
	mustStatus(t, e.request("PUT", fmtPath("/api/v1/recordings/%d/legal-hold", f.recStaff), f.admin, "application/json",
		map[string]any{"legal_hold": true, "reason": "too late"}), 409, "hold after deletion")
	mustStatus(t, put(f.admin, map[string]any{"legal_hold": false, "reason": "dispute settled"}), 200, "release")
	if err := e.svc.MarkRecordingDeleted(e.ctx, f.recSeeker); err != nil {
		t.Errorf("deleting a released recording: %v", err)
	}
}

func TestEmploymentLogExport(t *testing.T) {
	f := newRecFixture(t)
	e := f.e
	r := e.get("/api/v1/me/log.json", f.seeker)
	mustStatus(t, r, 200, "json export")
	entries, _ := r.Body["entries"].([]any)
	if len(entries) != 3 { // booking_made + two recording_saved
		t.Fatalf("json export: %s", r.Raw)
	}
	if !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("export is not a download: %v", r.Header)
	}
	r = e.get("/api/v1/me/log.csv", f.seeker)
	mustStatus(t, r, 200, "csv export")
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(r.Raw), "\ufeff"))).ReadAll()
	if err != nil || len(recs) != 4 || !strings.Contains(string(r.Raw), "booking_made,预约面试") || !strings.HasPrefix(recs[0][0], "编号") {
		t.Fatalf("csv export (%v): %q", err, recs)
	}
	before := e.count(`SELECT count(*) FROM audit_log WHERE action = 'export_log'`)
	mustStatus(t, e.get(fmtPath("/api/v1/seekers/%d/log.csv", f.seekerID), f.officer), 200, "officer export")
	mustStatus(t, e.get(fmtPath("/api/v1/seekers/%d/log.json", f.seekerID), f.admin), 200, "admin export")
	mustStatus(t, e.get(fmtPath("/api/v1/seekers/%d/log.json", f.seekerID), f.officer2), 403, "another officer's export")
	mustStatus(t, e.get("/api/v1/seekers/999999999/log.json", f.admin), 404, "missing seeker")
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'export_log'`); n != before+2 {
		t.Errorf("export audits %d, want %d", n, before+2)
	}
}

func TestRecordingJobQueue(t *testing.T) {
	f := newRecFixture(t)
	e := f.e
	svc := e.svc
	// A composite needs both parties: a booking with only the seeker's file gets none.
	booths, _ := e.booths(1)
	bk2 := e.book(f.other, e.slotAt(booths[0], 11, 0))
	mustStatus(t, bk2, http.StatusCreated, "second booking")
	room2 := booking.RoomForBooking(num(bk2.Body["id"]))
	if _, err := e.svc.SaveRecording(e.ctx, booking.RecordingFile{Room: room2, Participant: "seeker-" + itoa(e.seekerIDs(2)[1]),
		Path: "/tmp/only-seeker.webm", HasVideo: true, HasAudio: true}); err != nil {
		t.Fatal(err)
	}
	if id, err := e.svc.QueueComposite(e.ctx, room2, "/tmp/out2.mp4"); id != 0 || err != nil {
		t.Fatalf("composite with one party: %d %v", id, err)
	}
	var seekerPath, staffPath string
	if err := e.pool.QueryRow(e.ctx, `SELECT (SELECT path FROM recordings WHERE id = $1), (SELECT path FROM recordings WHERE id = $2)`,
		f.recSeeker, f.recStaff).Scan(&seekerPath, &staffPath); err != nil {
		t.Fatal(err)
	}
	comp, err := svc.QueueComposite(e.ctx, f.room, "/tmp/out.mp4")
	if err != nil || comp == 0 {
		t.Fatalf("composite: %d %v", comp, err)
	}
	again, err := svc.QueueComposite(e.ctx, f.room, "/tmp/out.mp4")
	if err != nil || again != comp {
		t.Fatalf("second composite %d %v, want %d", again, err, comp)
	}
	j, err := svc.GetRecordingJob(e.ctx, comp)
	if err != nil || len(j.Inputs) != 2 || j.Inputs[0] != seekerPath || j.Offsets[1] != time.Second {
		t.Fatalf("composite job %+v %v", j, err)
	}
	probe, err := svc.EnqueueRecordingJob(e.ctx, booking.RecordingJob{Kind: booking.RecJobProbe, RecordingID: f.recSeeker, Inputs: []string{seekerPath}, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	if dup, err := svc.EnqueueRecordingJob(e.ctx, booking.RecordingJob{Kind: booking.RecJobProbe, RecordingID: f.recSeeker, Inputs: []string{seekerPath}}); err != nil || dup != probe {
		t.Fatalf("duplicate probe %d %v", dup, err)
	}
	upload, err := svc.EnqueueRecordingJob(e.ctx, booking.RecordingJob{Kind: booking.RecJobUpload, RecordingID: f.recStaff, Inputs: []string{staffPath}, Key: "k/staff.webm"})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []booking.RecordingJob{{Kind: "transcode", RecordingID: f.recSeeker, Inputs: []string{"x"}},
		{Kind: booking.RecJobProbe, RecordingID: f.recSeeker}, {Kind: booking.RecJobProbe, RecordingID: 999999, Inputs: []string{"x"}}} {
		if _, err := svc.EnqueueRecordingJob(e.ctx, bad); err == nil || apperr.CodeOf(err) == apperr.Internal {
			t.Errorf("enqueue %+v: %v", bad, err)
		}
	}

	// Concurrent claims never get the same job.
	now := time.Now()
	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := svc.ClaimRecordingJob(e.ctx, now)
			if err != nil {
				t.Error(err)
				return
			}
			if c != nil {
				mu.Lock()
				got[c.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != 3 || got[comp] != 1 || got[probe] != 1 || got[upload] != 1 {
		t.Fatalf("claims %v", got)
	}
	if c, err := svc.ClaimRecordingJob(e.ctx, now); c != nil || err != nil {
		t.Fatalf("a fourth claim got %+v %v", c, err)
	}

	// Success applies the result; failure retries, then fails for good (logged).
	if err := svc.CompleteRecordingJob(e.ctx, upload, booking.RecordingJobResult{Path: "k/staff.webm", Bytes: 11000, SHA256: strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	if err := svc.CompleteRecordingJob(e.ctx, upload, booking.RecordingJobResult{}); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("completing twice: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM recordings WHERE id = $1 AND store_key = 'k/staff.webm' AND sha256 IS NOT NULL`, f.recStaff); n != 1 {
		t.Error("upload result not applied")
	}
	if err := svc.CompleteRecordingJob(e.ctx, comp, booking.RecordingJobResult{Path: "/tmp/out.mp4", Bytes: 5, Duration: 40 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM recordings WHERE kind = 'composite' AND booking_id = $1 AND duration_ms = 40000`, f.bookingID); n != 1 {
		t.Error("the composite is not a recording")
	}
	retry := now.Add(time.Minute).Truncate(time.Microsecond)
	fj, err := svc.FailRecordingJob(e.ctx, probe, "ffprobe: exit 1", retry)
	if err != nil || fj.State != booking.RecJobQueued || !fj.RunAfter.Equal(retry) || fj.Attempts != 1 {
		t.Fatalf("first failure: %+v %v", fj, err)
	}
	if c, _ := svc.ClaimRecordingJob(e.ctx, now); c != nil {
		t.Fatal("claimed before run_after")
	}
	c, err := svc.ClaimRecordingJob(e.ctx, retry)
	if err != nil || c == nil || c.ID != probe || c.Attempts != 2 {
		t.Fatalf("retry claim %+v %v", c, err)
	}
	fj, err = svc.FailRecordingJob(e.ctx, probe, "ffprobe: exit 1", retry.Add(time.Minute))
	if err != nil || fj.State != booking.RecJobFailed || fj.LastError != "ffprobe: exit 1" {
		t.Fatalf("final failure: %+v %v", fj, err)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE booking_id = $1 AND kind = 'recording_processed'`, f.bookingID); n != 3 {
		t.Errorf("recording_processed entries %d, want 3 (upload, composite, failed probe)", n)
	}

	// A worker that died: its job is claimable again after the lease.
	thumb, err := svc.EnqueueRecordingJob(e.ctx, booking.RecordingJob{Kind: booking.RecJobThumbnail, RecordingID: f.recSeeker, Inputs: []string{seekerPath}, Output: "/tmp/t.jpg", MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	now = time.Now()
	if c, err := svc.ClaimRecordingJob(e.ctx, now); err != nil || c == nil || c.ID != thumb {
		t.Fatalf("claim thumbnail %+v %v", c, err)
	}
	if c, _ := svc.ClaimRecordingJob(e.ctx, now.Add(time.Minute)); c != nil {
		t.Fatal("a leased job was claimed again within its lease")
	}
	later := now.Add(booking.RecordingJobLease + time.Minute)
	c, err = svc.ClaimRecordingJob(e.ctx, later)
	if err != nil || c == nil || c.ID != thumb || c.Attempts != 2 {
		t.Fatalf("lease expiry reclaim %+v %v", c, err)
	}
	// Lost again on its last attempt: failed, not run a third time.
	if c, err := svc.ClaimRecordingJob(e.ctx, later.Add(booking.RecordingJobLease+time.Minute)); c != nil || err != nil {
		t.Fatalf("claimed past max attempts: %+v %v", c, err)
	}
	if j, err := svc.GetRecordingJob(e.ctx, thumb); err != nil || j.State != booking.RecJobFailed {
		t.Fatalf("lost job %+v %v", j, err)
	}
	if _, err := svc.GetRecordingJob(e.ctx, 999999); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("missing job: %v", err)
	}
}
