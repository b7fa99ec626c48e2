package bidi

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// firefox finds the browser; scripts/test.sh installs it, so absence fails.
func firefox(t *testing.T) string {
	for _, p := range []string{os.Getenv("FIREFOX"), "/usr/bin/firefox-esr", "/usr/bin/firefox"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("Firefox not found: run scripts/test.sh (it installs firefox-esr) or set FIREFOX")
	return ""
}

// TestEvaluate: a page loads, an awaited expression comes back as JSON, a
// thrown error is an error, the console is read, a second tab works.
func TestEvaluate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Launch(ctx, Options{Exe: firefox(t), ProfileDir: t.TempDir(), Prefs: map[string]any{"media.navigator.streams.fake": true}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tab, err := b.FirstTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Navigate(ctx, "data:text/html,<title>x</title><p id=p>hello</p><script>console.log('hi there')</script>"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Text string `json:"text"`
		N    int    `json:"n"`
	}
	if err := tab.Eval(ctx, `new Promise((r) => setTimeout(() => r({ text: document.getElementById('p').textContent, n: 1 + 1 }), 10))`, &got); err != nil {
		t.Fatal(err)
	}
	if got.Text != "hello" || got.N != 2 {
		t.Fatalf("got %+v", got)
	}
	if err := tab.Eval(ctx, `(() => { throw new Error('boom') })()`, nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("thrown error: %v", err)
	}
	if c := strings.Join(b.Console(), "\n"); !strings.Contains(c, "hi there") {
		t.Fatalf("console: %q", c)
	}
	tab2, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tab2.Eval(ctx, `40 + 2`, &n); err != nil || n != 42 {
		t.Fatalf("second tab: %d %v", n, err)
	}
}
