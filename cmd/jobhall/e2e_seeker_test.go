package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
)

// TestSeekerPhoneFlow drives the seeker's phone pages in Chromium: bad input
// gets a clear message in the page's language, sign-in by phone code, a
// double click on a slot books exactly once, the pre-join check, the lobby
// position, the host's video, the network-quality indicator and the
// audio-only switch; the interviewer's room shows the candidate's card and
// records an outcome.
func TestSeekerPhoneFlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := startNode(t, nil)
	db, err := pgx.Connect(ctx, node.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	seeker := newBrowser(t, ctx)
	// English first: the messages follow the page's language.
	navigate(t, seeker, node.url+"/seeker?lang=en")
	waitJS(t, seeker, `window.jhPage && jhPage.view === 'signin'`, 20*time.Second)
	click(t, seeker, "#sendcode")
	if m := fieldErrorText(t, seeker, "phone"); !strings.Contains(m, "11-digit") {
		t.Fatalf("English message for an empty phone: %q", m)
	}

	navigate(t, seeker, node.url+"/seeker?lang=zh")
	waitJS(t, seeker, `window.jhPage && jhPage.view === 'signin'`, 20*time.Second)
	click(t, seeker, "#sendcode")
	if m := fieldErrorText(t, seeker, "phone"); !hasCJK(m) || !strings.Contains(m, "11位") {
		t.Fatalf("message for an empty phone: %q", m)
	}
	typeInto(t, seeker, "#phone", "1380013")
	click(t, seeker, "#sendcode")
	if m := fieldErrorText(t, seeker, "phone"); !strings.Contains(m, "11位") {
		t.Fatalf("message for a short phone: %q", m)
	}
	const phone = "13800138123"
	typeInto(t, seeker, "#phone", phone)
	click(t, seeker, "#sendcode")
	waitJS(t, seeker, `!!document.querySelector('#msg .msg.ok')`, 10*time.Second)
	code := otpFromLog(t, node, phone)
	typeInto(t, seeker, "#code", "12a")
	click(t, seeker, "#verify")
	if m := fieldErrorText(t, seeker, "code"); !strings.Contains(m, "6位") {
		t.Fatalf("message for a bad code: %q", m)
	}
	typeInto(t, seeker, "#code", code)
	click(t, seeker, "#verify")
	waitJS(t, seeker, `window.jhPage && jhPage.view === 'app'`, 20*time.Second)
	var seekerID int64
	if err := db.QueryRow(ctx, `SELECT id FROM seekers WHERE phone = $1`, phone).Scan(&seekerID); err != nil {
		t.Fatalf("the phone did not register a seeker: %v", err)
	}

	// A double click on a slot books once.
	click(t, seeker, "button[data-booth]")
	if err := chromedp.Do(seeker, chromedp.WaitVisible(chromedp.CSS("button[data-slot]"))); err != nil {
		t.Fatal(err)
	}
	evalJS[bool](t, seeker, `(() => { const b = document.querySelector('button[data-slot]'); b.click(); b.click(); b.dispatchEvent(new MouseEvent('click')); return true; })()`)
	join := node.url + attr(t, seeker, "a[data-join]", "href")
	bookingID := attr(t, seeker, "a[data-join]", "data-join")
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM bookings WHERE seeker_id = $1 AND status IN ('held', 'booked')`, seekerID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bookings after a double click: %d (%v), want 1", n, err)
	}
	var employerID int64
	if err := db.QueryRow(ctx, `SELECT b.employer_id FROM bookings k JOIN booths b ON b.id = k.booth_id WHERE k.id = $1`, bookingID).Scan(&employerID); err != nil {
		t.Fatal(err)
	}

	// The seeker passes the pre-join check and waits in the lobby.
	navigate(t, seeker, join)
	waitJS(t, seeker, `window.jhCheck && jhCheck.camera === 'ok' && jhCheck.network !== ''`, 20*time.Second)
	click(t, seeker, "#pjgo")
	waitJS(t, seeker, `window.jh && jh.state === 'lobby' && !document.getElementById('bigwait').hidden`, 20*time.Second)
	if pos := evalJS[string](t, seeker, `document.getElementById('lobbypos').textContent`); pos != "0" {
		t.Fatalf("people ahead in the lobby: %q, want 0", pos)
	}

	// The interviewer opens the booking from the booth desk and admits.
	host := newBrowser(t, ctx)
	navigate(t, host, node.url+"/employer")
	click(t, host, fmt.Sprintf("button[data-employer='%d']", employerID))
	hostJoin := node.url + attr(t, host, fmt.Sprintf("a[data-join='%s']", bookingID), "href")
	navigate(t, host, hostJoin)
	click(t, host, "#admitnext")
	waitMedia(t, seeker, "seeker")
	waitMedia(t, host, "interviewer")

	// The network indicator shows a quality; audio only stops sending video.
	waitJS(t, seeker, `window.jhx && jhx.quality !== 'unknown'`, 20*time.Second)
	click(t, seeker, "#audioonly")
	waitJS(t, seeker, `jhx.audioOnly && document.body.classList.contains('audio-only') && jh.pub.getSenders().every((s) => !s.track || s.track.kind !== 'video')`, 10*time.Second)
	sent := func() int {
		return evalJS[int](t, seeker, `(async () => { let n = 0; (await jh.pub.getStats()).forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.framesEncoded || 0; }); return n; })()`)
	}
	before := sent()
	time.Sleep(1500 * time.Millisecond)
	if after := sent(); after > before+2 {
		t.Fatalf("audio only still encodes video: %d -> %d frames", before, after)
	}

	// The interviewer sees the candidate's card and records an outcome.
	waitJS(t, host, `!document.getElementById('hostpanel').hidden && document.getElementById('hpcard').textContent.includes('求职者')`, 20*time.Second)
	// The demo slot lies ahead, and the server takes an outcome only once
	// the slot has begun: the page says so in its language and nothing is
	// stored. (TestBoothHostAndOfficer records outcomes that are taken.)
	click(t, host, "button[data-outcome='hire_intent']")
	waitJS(t, host, `document.querySelector('#msg .msg.err') && document.querySelector('#msg .msg.err').textContent.includes('面试尚未开始')`, 10*time.Second)
	if err := db.QueryRow(ctx, `SELECT count(*) FROM outcomes WHERE booking_id = $1`, bookingID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("outcomes before the slot began: %d (%v)", n, err)
	}
	click(t, seeker, "#leave")
	click(t, host, "#leave")
}
