package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConnectivitySelfTest runs the self-test page in Chromium: direct UDP,
// TURN over UDP and TURN over TCP all reach the SFU on this machine.
func TestConnectivitySelfTest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := startNode(t, map[string]string{"JOBHALL_DEMO": "off", "JOBHALL_TURN": "true", "JOBHALL_TURN_PORT": "0"})
	b := newBrowser(t, ctx)
	if err := chromedp.Do(b, chromedp.Navigate(node.url+"/selftest"),
		chromedp.Poll[chromedp.Void](`window.selftest && window.selftest.done`, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		t.Fatalf("self-test did not finish: %v", err)
	}
	checks, err := chromedp.Run(b, chromedp.Evaluate[map[string]string](`window.selftest.checks`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("self-test results: %v", checks)
	for _, c := range []string{"direct", "turn-udp", "turn-tcp"} {
		if checks[c] != "ok" {
			t.Errorf("%s: %q (all: %v)", c, checks[c], checks)
		}
	}
	verdict, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('[data-verdict]').dataset.verdict`))
	if err != nil || verdict != "verdictDirect" {
		t.Fatalf("verdict %q (%v)", verdict, err)
	}
	if node.turn.Allocations() == 0 && t.Failed() {
		t.Log("no TURN allocation was made")
	}

	// The token endpoint is rate-limited per address.
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		req, _ := http.NewRequest(http.MethodPost, node.url+"/api/v1/selftest", nil)
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		limited = resp.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("the self-test token endpoint is not rate-limited")
	}
}
