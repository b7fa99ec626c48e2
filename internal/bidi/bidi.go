// Package bidi is a small WebDriver BiDi client, enough to drive a headless
// Firefox from Go tests: start the browser with a fresh profile, open tabs,
// navigate, evaluate JavaScript (awaiting promises, results as JSON) and
// read the page's console.
//
// Goroutines: one reader per Browser, started by Launch, which hands each
// command's answer to its caller and keeps the last console entries; it
// ends when the WebSocket closes (Close). One more waits for the browser
// process. Locks: Browser.mu guards the pending calls, the console ring and
// the WebSocket writes (gorilla/websocket allows one writer at a time).
package bidi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Options configure a browser launch.
type Options struct {
	// Exe is the browser binary (firefox-esr, firefox).
	Exe string
	// Prefs are written to the fresh profile's user.js.
	Prefs map[string]any
	// ProfileDir is an empty folder for the profile; the caller removes it.
	ProfileDir string
	// Stderr gets the browser's own output (nil: dropped).
	Stderr io.Writer
}

// Browser is one running browser and its BiDi session.
type Browser struct {
	cmd    *exec.Cmd
	conn   *websocket.Conn
	exited chan struct{}
	done   chan struct{} // closed when the reader ends

	mu      sync.Mutex
	nextID  int
	pending map[int]chan reply
	console []string // last entries, bounded
	readErr error
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
	Msg    string          `json:"message"`
}

const consoleKeep = 200

var listening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// Launch starts the browser headless with a fresh profile and opens a BiDi
// session. The context bounds the start only.
func Launch(ctx context.Context, o Options) (*Browser, error) {
	if o.ProfileDir == "" {
		return nil, errors.New("bidi: ProfileDir is required")
	}
	var js strings.Builder
	for k, v := range o.Prefs {
		val, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("bidi: pref %s: %w", k, err)
		}
		fmt.Fprintf(&js, "user_pref(%q, %s);\n", k, val)
	}
	if err := os.WriteFile(filepath.Join(o.ProfileDir, "user.js"), []byte(js.String()), 0o600); err != nil {
		return nil, fmt.Errorf("bidi: profile: %w", err)
	}
	cmd := exec.Command(o.Exe, "--headless", "--no-remote", "--profile", o.ProfileDir, "--remote-debugging-port", "0", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its content processes go with it
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = o.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bidi: start %s: %w", o.Exe, err)
	}
	b := &Browser{cmd: cmd, exited: make(chan struct{}), done: make(chan struct{}), pending: map[int]chan reply{}}
	urlc := make(chan string, 1)
	go func() {
		// Reads the browser's stderr until it exits: the first line names
		// the WebSocket; the rest goes to o.Stderr.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if m := listening.FindStringSubmatch(line); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
			if o.Stderr != nil {
				fmt.Fprintln(o.Stderr, line)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(b.exited)
	}()
	var wsURL string
	select {
	case wsURL = <-urlc:
	case <-b.exited:
		return nil, fmt.Errorf("bidi: %s exited before listening", o.Exe)
	case <-ctx.Done():
		b.kill()
		return nil, fmt.Errorf("bidi: waiting for %s: %w", o.Exe, ctx.Err())
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.DialContext(ctx, wsURL+"/session", nil)
	if err != nil {
		b.kill()
		return nil, fmt.Errorf("bidi: connect: %w", err)
	}
	conn.SetReadLimit(16 << 20)
	b.conn = conn
	go b.read()
	if err := b.Call(ctx, "session.new", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{"acceptInsecureCerts": true}}}, nil); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.Call(ctx, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}, nil); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// read dispatches answers and keeps console entries until the socket closes.
func (b *Browser) read() {
	defer close(b.done)
	for {
		_, data, err := b.conn.ReadMessage()
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var msg struct {
			Type   string          `json:"type"`
			ID     *int            `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			reply
		}
		if json.Unmarshal(data, &msg) != nil {
			continue
		}
		if msg.Type == "event" {
			if msg.Method == "log.entryAdded" {
				var e struct {
					Level string `json:"level"`
					Text  string `json:"text"`
				}
				_ = json.Unmarshal(msg.Params, &e)
				b.mu.Lock()
				if len(b.console) >= consoleKeep {
					b.console = b.console[1:]
				}
				b.console = append(b.console, e.Level+": "+e.Text)
				b.mu.Unlock()
			}
			continue
		}
		if msg.ID == nil {
			continue
		}
		b.mu.Lock()
		ch := b.pending[*msg.ID]
		delete(b.pending, *msg.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- msg.reply
		}
	}
}

// Call sends one command and decodes its result into out (may be nil).
func (b *Browser) Call(ctx context.Context, method string, params, out any) error {
	ch := make(chan reply, 1)
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("bidi: %s: connection closed: %w", method, b.readErr)
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	if params == nil {
		params = map[string]any{}
	}
	_ = b.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := b.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		delete(b.pending, id)
	}
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("bidi: send %s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("bidi: %s: connection closed", method)
		}
		if r.Error != "" {
			return fmt.Errorf("bidi: %s: %s: %s", method, r.Error, r.Msg)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("bidi: %s: %w", method, ctx.Err())
	}
}

// Console returns the page console entries seen so far (the last 200).
func (b *Browser) Console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// Close ends the session and the browser and waits for both.
func (b *Browser) Close() {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = b.Call(ctx, "browser.close", nil, nil)
		cancel()
		_ = b.conn.Close()
		<-b.done
	}
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		b.kill()
	}
}

func (b *Browser) kill() {
	// The process group of the browser we started (Setpgid above).
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	<-b.exited
}

// Tab is one top-level browsing context.
type Tab struct {
	b  *Browser
	id string
}

// FirstTab is the tab the browser opened at start.
func (b *Browser) FirstTab(ctx context.Context) (*Tab, error) {
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := b.Call(ctx, "browsingContext.getTree", map[string]any{"maxDepth": 0}, &tree); err != nil {
		return nil, err
	}
	if len(tree.Contexts) == 0 {
		return nil, errors.New("bidi: no open tab")
	}
	return &Tab{b: b, id: tree.Contexts[0].Context}, nil
}

// NewTab opens another tab.
func (b *Browser) NewTab(ctx context.Context) (*Tab, error) {
	var r struct {
		Context string `json:"context"`
	}
	if err := b.Call(ctx, "browsingContext.create", map[string]any{"type": "tab"}, &r); err != nil {
		return nil, err
	}
	return &Tab{b: b, id: r.Context}, nil
}

// Navigate loads url and waits for the load event.
func (t *Tab) Navigate(ctx context.Context, url string) error {
	return t.b.Call(ctx, "browsingContext.navigate", map[string]any{"context": t.id, "url": url, "wait": "complete"}, nil)
}

// Eval evaluates a JavaScript expression in the page, awaits it if it is a
// promise, and decodes its JSON form into out (may be nil). A thrown error
// comes back as an error with the page's message.
func (t *Tab) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	wrapped := "(async () => JSON.stringify(await (" + expr + ")))()"
	if err := t.b.Call(ctx, "script.evaluate", map[string]any{
		"expression": wrapped, "target": map[string]any{"context": t.id}, "awaitPromise": true,
		"userActivation": true, // clicks from tests count as a user gesture (autoplay, media)
	}, &r); err != nil {
		return err
	}
	if r.Type == "exception" {
		return fmt.Errorf("bidi: script: %s", r.ExceptionDetails.Text)
	}
	if out == nil {
		return nil
	}
	var s string
	if r.Result.Type != "string" || json.Unmarshal(r.Result.Value, &s) != nil {
		return fmt.Errorf("bidi: script result of type %s (undefined?)", r.Result.Type)
	}
	return json.Unmarshal([]byte(s), out)
}
