package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"jobhall/recorder"
)

// demoToken signs in as a demo person on the node.
func demoToken(t *testing.T, ctx context.Context, node *testNode, role, id string) string {
	t.Helper()
	body := `{"role":"` + role + `","id":` + id + `}`
	req, _ := http.NewRequestWithContext(ctx, "POST", node.url+"/api/v1/session/demo", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("demo sign-in %s %s: %d %v", role, id, res.StatusCode, err)
	}
	return out.Token
}

func apiGet(t *testing.T, ctx context.Context, node *testNode, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", node.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// checkPlaybackAndComposite: the seeker lists and plays each recording
// (bytes equal to the file, audited), another seeker is refused, and the
// composite job ends in an H.264 + AAC MP4 that is itself a recording.
func checkPlaybackAndComposite(t *testing.T, ctx context.Context, node *testNode, db *pgx.Conn, seekerID, bookingID string) {
	t.Helper()
	tok := demoToken(t, ctx, node, "seeker", seekerID)
	var otherID string
	if err := db.QueryRow(ctx, `SELECT id::text FROM seekers WHERE id <> $1 ORDER BY id LIMIT 1`, seekerID).Scan(&otherID); err != nil {
		t.Fatal(err)
	}
	other := demoToken(t, ctx, node, "seeker", otherID)
	status, body := apiGet(t, ctx, node, "/api/v1/me/recordings", tok)
	var list struct {
		Recordings []struct {
			ID       int64  `json:"id"`
			Kind     string `json:"kind"`
			MediaURL string `json:"media_url"`
		} `json:"recordings"`
	}
	if status != 200 || json.Unmarshal(body, &list) != nil {
		t.Fatalf("my recordings: %d %s", status, body)
	}
	played := 0
	for _, r := range list.Recordings {
		if r.Kind != "participant" {
			continue
		}
		var path string
		if err := db.QueryRow(ctx, `SELECT path FROM recordings WHERE id = $1`, r.ID).Scan(&path); err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		status, got := apiGet(t, ctx, node, r.MediaURL, tok)
		if status != 200 || !bytes.Equal(got, want) {
			t.Fatalf("seeker playback of %s: %d, %d bytes of %d", r.MediaURL, status, len(got), len(want))
		}
		if status, b := apiGet(t, ctx, node, r.MediaURL, other); status != http.StatusForbidden && status != http.StatusNotFound {
			t.Fatalf("another seeker played %s: %d %s", r.MediaURL, status, b)
		}
		played++
	}
	if played != 2 {
		t.Fatalf("seeker's recordings %s", body)
	}
	var audits int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE seeker_id = $1 AND action = 'view_recording'`, seekerID).Scan(&audits); err != nil || audits != 2 {
		t.Fatalf("playback audit entries %d (%v), want 2", audits, err)
	}

	// The composite job completes (the runner polls the PostgreSQL queue).
	var state, out, lastErr string
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := db.QueryRow(ctx, `SELECT state, coalesce(result->>'path', ''), last_error FROM recording_jobs WHERE booking_id = $1 AND kind = 'composite'`,
			bookingID).Scan(&state, &out, &lastErr)
		if err != nil && err != pgx.ErrNoRows {
			t.Fatal(err)
		}
		if state == "done" || state == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("composite job state %q after 90 s (%s)", state, lastErr)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if state != "done" {
		t.Fatalf("composite job failed: %s", lastErr)
	}
	probeOut, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,codec_type", "-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", out, err)
	}
	if s := string(probeOut); !strings.Contains(s, "h264,video") || !strings.Contains(s, "aac,audio") {
		t.Fatalf("composite %s streams %q, want h264 video and aac audio", out, s)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM recordings WHERE booking_id = $1 AND kind = 'composite' AND path = $2`, bookingID, out).Scan(&n); err != nil || n != 1 {
		t.Fatalf("composite recording rows %d (%v)", n, err)
	}
}

// TestRecordingConsentRefusalAndRetention: a seeker without consent is not
// recorded (no file) and the log says so; staff are recorded by role;
// retention deletes old media except what is on legal hold.
func TestRecordingConsentRefusalAndRetention(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node := startNode(t, map[string]string{"JOBHALL_RECORDING_RETENTION_DAYS": "1"})
	db, err := pgx.Connect(ctx, node.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var bookingID, seekerID int64
	if err := db.QueryRow(ctx, `INSERT INTO bookings (slot_id, booth_id, lane, seeker_id, during)
		SELECT s.id, s.booth_id, s.lane, (SELECT min(id) FROM seekers), s.during FROM slots s ORDER BY s.id LIMIT 1
		RETURNING id, seeker_id`).Scan(&bookingID, &seekerID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE seekers SET consent_recording = false WHERE id = $1`, seekerID); err != nil {
		t.Fatal(err)
	}
	room := "interview-" + itoa64(bookingID)
	seeker := "seeker-" + itoa64(seekerID)
	arch := node.archive
	arch.prefetchConsent(room, seeker, "seeker")
	arch.prefetchConsent(room, "interviewer-1-1", "interviewer")
	s := node.recorder.StartSession(room, nil, recorder.WithConsent(arch.consentFunc(node.interviews, room)))
	if w := s.AddTrack(recorder.Track{ParticipantID: seeker, TrackID: "a", Kind: "audio", MimeType: "audio/opus", ClockRate: 48000, Channels: 2}, func() {}); w != nil {
		t.Fatal("a seeker without consent got a track writer")
	}
	if w := s.AddTrack(recorder.Track{ParticipantID: "interviewer-1-1", TrackID: "a", Kind: "audio", MimeType: "audio/opus", ClockRate: 48000, Channels: 2}, func() {}); w == nil {
		t.Fatal("the interviewer is not recorded")
	}
	files := s.Close()
	for _, f := range files {
		if f.ParticipantID == seeker {
			t.Fatalf("a file for the refusing seeker: %+v", f)
		}
	}
	waitCount(t, ctx, db, `SELECT count(*) FROM employment_log WHERE booking_id = $1 AND kind = 'recording_consent'
		AND data->>'participant' = $2 AND NOT (data->>'consent')::boolean AND data->>'note' LIKE '未经同意%'`, 1, bookingID, seeker)
	waitCount(t, ctx, db, `SELECT count(*) FROM employment_log WHERE booking_id = $1 AND kind = 'recording_consent' AND (data->>'consent')::boolean`, 1, bookingID)

	// Retention: two old recordings, one on legal hold.
	dir := node.cfg.RecordingsDir + "/" + room
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range []string{"old.webm", "held.webm"} {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte("media"), 0o640); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		arch.fileDone(node.interviews, room, recorder.File{RoomID: room, ParticipantID: "interviewer-1-1", Path: p, Bytes: 5, Started: time.Now(), Ended: time.Now()})
	}
	waitCount(t, ctx, db, `SELECT count(*) FROM recordings WHERE booking_id = $1`, 2, bookingID)
	if _, err := db.Exec(ctx, `UPDATE recordings SET created_at = now() - interval '2 days', legal_hold = (path = $2) WHERE booking_id = $1`, bookingID, paths[1]); err != nil {
		t.Fatal(err)
	}
	n, err := arch.applyRetention(ctx, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("retention deleted %d (%v), want 1", n, err)
	}
	if _, err := os.Stat(paths[0]); !os.IsNotExist(err) {
		t.Errorf("expired media still there: %v", err)
	}
	if _, err := os.Stat(paths[1]); err != nil {
		t.Errorf("held media deleted: %v", err)
	}
	waitCount(t, ctx, db, `SELECT count(*) FROM recordings WHERE booking_id = $1 AND deleted_at IS NOT NULL AND path = $2`, 1, bookingID, paths[0])
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func waitCount(t *testing.T, ctx context.Context, db *pgx.Conn, sql string, want int, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := db.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", sql, n, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
