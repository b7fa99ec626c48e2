package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestTrainerBroadcast: a trainer creates a course and schedules a live
// session in the page (a past date is refused with a clear message), goes
// live from the browser, three seekers with seats watch in the room as
// viewers and decode the video, the trainer sees three viewers and a
// viewer's question, then ends the session for everyone.
func TestTrainerBroadcast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := startNode(t, map[string]string{"JOBHALL_ADMIN_PASSWORD": "adminpassword1"})
	db, err := pgx.Connect(ctx, node.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	staffAccount(t, node.url, "trainer1", "trainer")

	trainer := newBrowser(t, ctx)
	navigate(t, trainer, node.url+"/trainer")
	waitJS(t, trainer, `window.jhPage && jhPage.ready`, 20*time.Second)
	typeInto(t, trainer, "#login", "trainer1")
	typeInto(t, trainer, "#password", "password-trainer1")
	click(t, trainer, "#loginbtn")
	waitJS(t, trainer, `window.jhPage && jhPage.ready && !document.getElementById('app').hidden`, 20*time.Second)

	click(t, trainer, "#c-create") // no title
	if m := fieldErrorText(t, trainer, "c-title"); !hasCJK(m) {
		t.Fatalf("empty title message %q", m)
	}
	typeInto(t, trainer, "#c-title", "电工基础")
	click(t, trainer, "#c-create")
	waitJS(t, trainer, `document.querySelectorAll('#s-course option').length === 1`, 10*time.Second)

	typeInto(t, trainer, "#s-date", time.Now().Add(-48*time.Hour).Format("2006-01-02"))
	click(t, trainer, "#s-create")
	if m := fieldErrorText(t, trainer, "s-date"); !strings.Contains(m, "时间已过") {
		t.Fatalf("past date message %q", m)
	}
	evalJS[bool](t, trainer, `(() => { const d = new Date(Date.now() + 5 * 60e3);
		document.getElementById('s-date').value = d.toLocaleDateString('sv-SE'); document.getElementById('s-time').value = d.toTimeString().slice(0, 5); return true; })()`)
	click(t, trainer, "#s-create")
	click(t, trainer, "button[data-live]")
	waitJS(t, trainer, `document.getElementById('whiptoken').value.length > 20 && document.getElementById('whipurl').value.endsWith('/whip')`, 10*time.Second)
	var sessionID int64
	if err := db.QueryRow(ctx, `SELECT id FROM group_sessions ORDER BY id DESC LIMIT 1`).Scan(&sessionID); err != nil {
		t.Fatal(err)
	}
	live := node.url + attr(t, trainer, "#golive", "href")
	navigate(t, trainer, live)
	waitJS(t, trainer, `window.jh && jh.state === 'connected' && jh.pub && jh.pub.connectionState === 'connected'`, 30*time.Second)

	// Three seekers with seats watch in one browser, a tab each.
	var people struct{ Seekers []struct{ ID int64 } }
	newAPIClient(t, node.url).must("GET", "/demo/people", nil, &people)
	viewers := newBrowser(t, ctx)
	tabs := []context.Context{viewers, newTab(t, viewers), newTab(t, viewers)}
	for i, tab := range tabs {
		s := newAPIClient(t, node.url)
		s.must("POST", "/session/demo", map[string]any{"role": "seeker", "id": people.Seekers[i].ID}, nil)
		s.must("POST", fmt.Sprintf("/group-sessions/%d/seats", sessionID), nil, nil)
		var j struct {
			JoinURL string `json:"join_url"`
			Role    string `json:"role"`
		}
		s.must("GET", fmt.Sprintf("/group-sessions/%d/join", sessionID), nil, &j)
		if j.Role != "viewer" {
			t.Fatalf("seat holder joins as %q", j.Role)
		}
		navigate(t, tab, node.url+"/room"+j.JoinURL[strings.Index(j.JoinURL, "?"):])
	}
	for i, tab := range tabs {
		s := waitMedia(t, tab, fmt.Sprintf("viewer %d", i+1))
		t.Logf("viewer %d decoded %d frames", i+1, s.Video)
	}
	waitJS(t, trainer, `jhx.viewers === 3 && document.getElementById('viewers').textContent.includes('3')`, 20*time.Second)

	// A question from a viewer reaches the trainer.
	typeInto(t, tabs[0], "#chattext", "请问证书怎么领？")
	evalJS[bool](t, tabs[0], `(document.getElementById('chatform').requestSubmit(), true)`)
	waitJS(t, trainer, `document.getElementById('chatlog').textContent.includes('证书怎么领')`, 10*time.Second)

	// End for everyone (asked twice).
	click(t, trainer, "#endall")
	click(t, trainer, "#endall")
	for _, tab := range tabs {
		waitJS(t, tab, `jh.state === 'ended'`, 15*time.Second)
	}
}
