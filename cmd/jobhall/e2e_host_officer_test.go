package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestBoothHostAndOfficer runs the booth desk and the officer's dashboard
// side by side in Chromium: the officer checks a seeker in by QR code, the
// seeker queues remotely at a booth, the host calls the next in line, sees
// the candidate's card and records an intention to hire; the dashboard's
// counters follow each event, and a flagged job post raises an alert that
// arrives over server-sent events and is acknowledged.
func TestBoothHostAndOfficer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := startNode(t, map[string]string{"JOBHALL_ADMIN_PASSWORD": "adminpassword1", "JOBHALL_MONITOR_INTERVAL": "1s"})
	db, err := pgx.Connect(ctx, node.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	officerID := staffAccount(t, node.url, "officer1", "officer")
	var fair struct {
		ID int64 `json:"id"`
	}
	newAPIClient(t, node.url).must("GET", "/fairs/current", nil, &fair)
	if _, err := db.Exec(ctx, `INSERT INTO fair_officers (fair_id, account_id) VALUES ($1, $2)`, fair.ID, officerID); err != nil {
		t.Fatal(err)
	}

	// The officer signs in with a password (a wrong one first).
	officer := newBrowser(t, ctx)
	navigate(t, officer, node.url+"/officer")
	waitJS(t, officer, `window.jhPage && jhPage.ready`, 20*time.Second)
	click(t, officer, "#loginbtn")
	if m := fieldErrorText(t, officer, "login"); !hasCJK(m) {
		t.Fatalf("empty login message %q", m)
	}
	typeInto(t, officer, "#login", "officer1")
	typeInto(t, officer, "#password", "password-officer1")
	click(t, officer, "#loginbtn")
	waitJS(t, officer, `window.jhPage && jhPage.ready && jhPage.stats && jhPage.stats.attendees !== undefined`, 30*time.Second)
	stat := func(k string) int { return evalJS[int](t, officer, fmt.Sprintf(`jhPage.stats[%q]`, k)) }
	attendees, interviews, hires := stat("attendees"), stat("interviews"), stat("hire_intents")

	// A seeker (through the API) registers for the fair and applies to a
	// booth's job; the officer checks them in at the entrance.
	var people struct {
		Seekers   []struct{ ID int64 }
		Employers []struct {
			ID      int64
			BoothID int64 `json:"booth_id"`
		}
	}
	seeker := newAPIClient(t, node.url)
	seeker.must("GET", "/demo/people", nil, &people)
	seeker.must("POST", "/session/demo", map[string]any{"role": "seeker", "id": people.Seekers[3].ID}, nil)
	emp := people.Employers[0]
	var reg struct {
		QR string `json:"qr_code"`
	}
	seeker.must("POST", fmt.Sprintf("/fairs/%d/registrations", fair.ID), nil, &reg)
	var jobs struct{ Jobs []struct{ ID int64 } }
	seeker.must("GET", fmt.Sprintf("/jobs?employer_id=%d&limit=1", emp.ID), nil, &jobs)
	if len(jobs.Jobs) > 0 {
		seeker.must("POST", fmt.Sprintf("/jobs/%d/applications", jobs.Jobs[0].ID), map[string]string{"note": ""}, nil)
	}
	typeInto(t, officer, "#ck-qr", "not-a-code")
	click(t, officer, "#ck-btn")
	fieldErrorText(t, officer, "ck-qr")
	typeInto(t, officer, "#ck-qr", reg.QR)
	click(t, officer, "#ck-btn")
	waitJS(t, officer, fmt.Sprintf(`jhPage.stats.attendees === %d`, attendees+1), 20*time.Second)
	waitJS(t, officer, fmt.Sprintf(`document.querySelector('[data-stat=attendees] b').textContent === '%d'`, attendees+1), 10*time.Second)

	// The seeker queues remotely; the host calls them and records an outcome.
	seeker.must("POST", fmt.Sprintf("/booths/%d/queue", emp.BoothID), map[string]string{"mode": "remote"}, nil)
	host := newBrowser(t, ctx)
	navigate(t, host, node.url+"/employer")
	click(t, host, fmt.Sprintf("button[data-employer='%d']", emp.ID))
	waitJS(t, host, `!!document.querySelector('#queue [data-entry] .badge.remote')`, 20*time.Second)
	click(t, host, "#callnext")
	waitJS(t, host, `jhPage.current && !document.getElementById('current').hidden && !!document.querySelector('#cardbox .muted, #cardbox [data-card]')`, 20*time.Second)
	click(t, host, "button[data-outcome='hire_intent']")
	waitJS(t, host, `jhPage.outcome === 'hire_intent'`, 10*time.Second)
	waitJS(t, officer, fmt.Sprintf(`jhPage.stats.interviews === %d && jhPage.stats.hire_intents === %d`, interviews+1, hires+1), 20*time.Second)
	t.Logf("officer counters: attendees %d→%d, interviews %d→%d, hire intents %d→%d", attendees, stat("attendees"), interviews, stat("interviews"), hires, stat("hire_intents"))

	// A reported job post raises an alert, pushed live; the officer acks it.
	if len(jobs.Jobs) > 0 {
		seeker.must("POST", fmt.Sprintf("/jobs/%d/reports", jobs.Jobs[0].ID), map[string]string{"reason": "要求先交押金"}, nil)
		waitJS(t, officer, `!!document.querySelector('[data-alert=job_post_flagged] button[data-ack]:not([disabled])')`, 30*time.Second)
		click(t, officer, "[data-alert=job_post_flagged] button[data-ack]")
		waitJS(t, officer, `!document.querySelector('[data-alert=job_post_flagged] button[data-ack]:not([disabled])')`, 15*time.Second)
		if sse := evalJS[string](t, officer, `jhPage.sse`); sse == "" {
			t.Fatal("no server-sent event reached the dashboard")
		}
	}
}
