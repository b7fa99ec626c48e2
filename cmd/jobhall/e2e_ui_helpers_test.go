package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
)

// Helpers of the front-end tests (e2e_*_test.go): an API client with its
// own session, page polling, and a browser tab per extra viewer.

// apiClient is one signed-in party speaking to /api/v1 with a cookie jar.
type apiClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newAPIClient(t *testing.T, base string) *apiClient {
	jar, _ := cookiejar.New(nil)
	return &apiClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// do sends a JSON request; out may be nil. It returns the status.
func (a *apiClient) do(method, path string, body, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+"/api/v1"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		a.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

// must is do that fails the test on a status of 300 or more.
func (a *apiClient) must(method, path string, body, out any) {
	a.t.Helper()
	if code := a.do(method, path, body, out); code >= 300 {
		a.t.Fatalf("%s %s: status %d", method, path, code)
	}
}

// staffAccount makes a password account with the administrator (the node
// runs with JOBHALL_ADMIN_PASSWORD=adminpassword1).
func staffAccount(t *testing.T, base, login, role string) (id int64) {
	t.Helper()
	admin := newAPIClient(t, base)
	admin.must("POST", "/auth/login", map[string]string{"login": "admin", "password": "adminpassword1"}, nil)
	var acct struct {
		ID int64 `json:"id"`
	}
	admin.must("POST", "/accounts", map[string]any{"login": login, "name": login + " 老师", "role": role, "password": "password-" + login}, &acct)
	return acct.ID
}

// waitJS polls a JavaScript expression in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, expr string, timeout time.Duration) {
	t.Helper()
	// Polls by hand: a page that reloads meanwhile is not an error.
	deadline := time.Now().Add(timeout)
	var err error
	for {
		var ok bool
		if ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")")); err == nil && ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' | ' + (document.getElementById('msg') ? document.getElementById('msg').innerText : '')`))
	t.Fatalf("waiting for %s: %v (page: %s)", expr, err, state)
}

// evalJS evaluates an expression (awaiting a promise) into T.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
}

func typeInto(t *testing.T, ctx context.Context, sel, text string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SetValue(chromedp.CSS(sel), text)); err != nil {
		t.Fatalf("type into %s: %v", sel, err)
	}
}

// fieldErrorText is the message shown next to an input after validation.
func fieldErrorText(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	waitJS(t, ctx, fmt.Sprintf(`!!document.getElementById(%q)`, id+"-err"), 5*time.Second)
	return evalJS[string](t, ctx, fmt.Sprintf(`document.getElementById(%q).textContent`, id+"-err"))
}

// newTab opens another tab in the same browser (same profile).
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	return ctx
}

var otpLine = regexp.MustCompile(`phone=(\d{11}) code=(\d{6})`)

// otpFromLog reads the last sign-in code the demo SMS sender logged.
func otpFromLog(t *testing.T, node *testNode, phone string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code := ""
		for _, m := range otpLine.FindAllStringSubmatch(node.logs.String(), -1) {
			if m[1] == phone {
				code = m[2]
			}
		}
		if code != "" {
			return code
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no sign-in code for %s in the log", phone)
	return ""
}

// hasCJK tells whether s holds Chinese characters.
func hasCJK(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

var _ = strings.TrimSpace

// pgxExec runs one statement on the test database.
func pgxExec(url, sql string, args ...any) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	tag, err := c.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}
