package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"jobhall/internal/roomtoken"
)

func init() {
	scenarios["signal-idle"] = scenario{
		help: "N idle signalling connections (seekers waiting in booth lobbies) with heartbeats; server RSS and CPU",
		run:  runSignalIdle,
	}
}

// issuerFrom mints room tokens with the server's secret (given, or read
// from a file), so a load run needs no booking data.
func issuerFrom(secret, secretFile string) (*roomtoken.Issuer, error) {
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, err
		}
		secret = strings.TrimSpace(string(b))
	}
	return roomtoken.NewIssuer([]byte(secret))
}

func wsURL(base string) string {
	return "ws" + strings.TrimPrefix(strings.TrimRight(base, "/"), "http") + "/ws"
}

type idleSummary struct {
	Scenario          string  `json:"scenario"`
	Connections       int     `json:"connections"`
	InLobby           int64   `json:"in_lobby"`
	Failed            int64   `json:"failed"`
	Dropped           int64   `json:"dropped_during_hold"`
	HoldSeconds       float64 `json:"hold_seconds"`
	ServerRSSBefore   int64   `json:"server_rss_before_bytes"`
	ServerRSSHeld     int64   `json:"server_rss_held_bytes"`
	ServerRSSPerConn  int64   `json:"server_rss_per_connection_bytes"`
	ServerCPUFraction float64 `json:"server_cpu_fraction_of_one_core"`
	PingsSeen         int64   `json:"server_pings_seen"`
}

func runSignalIdle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("signal-idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "jobhall base URL")
	secret := fs.String("secret", os.Getenv("JOBHALL_TOKEN_SECRET"), "the server's token secret")
	secretFile := fs.String("secret-file", "", "file holding the token secret")
	n := fs.Int("n", 1000, "connections")
	rooms := fs.Int("rooms", 241, "booth lobbies to spread them over")
	ramp := fs.Duration("ramp", 20*time.Second, "time to open all connections")
	hold := fs.Duration("hold", 60*time.Second, "how long to hold them idle while measuring")
	pid := fs.Int("pid", 0, "server process id, for its CPU and RSS (0 = not measured)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n <= 0 || *n > 100000 || *rooms <= 0 || *hold <= 0 || *hold > time.Hour {
		return fmt.Errorf("bad bounds: n 1..100000, rooms > 0, hold 0..1h")
	}
	is, err := issuerFrom(*secret, *secretFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *ramp+*hold+time.Minute)
	defer cancel()
	sum := idleSummary{Scenario: "signal-idle", Connections: *n}
	if *pid > 0 {
		s, err := readProc(*pid)
		if err != nil {
			return err
		}
		sum.ServerRSSBefore = s.RSSBytes
	}
	var inLobby, failed, dropped, pings atomic.Int64
	var holding atomic.Bool
	holdCtx, stopHold := context.WithCancel(ctx)
	defer stopHold()
	var wg sync.WaitGroup
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	step := *ramp / time.Duration(*n)
	for i := 0; i < *n; i++ {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			room := fmt.Sprintf("booth-%d", i%*rooms)
			tok, err := is.Issue(roomtoken.Grant{Room: room, Identity: fmt.Sprintf("seeker-%d", i), Name: "load",
				Role: roomtoken.RoleSeeker, Lobby: true, Expires: time.Now().Add(*ramp + *hold + 5*time.Minute)})
			if err != nil {
				failed.Add(1)
				return
			}
			ws, data, err := dialJoin(ctx, &dialer, *url, room, tok)
			if err != nil {
				failed.Add(1)
				return
			}
			defer ws.Close()
			ws.SetPingHandler(func(d string) error {
				pings.Add(1)
				return ws.WriteControl(websocket.PongMessage, []byte(d), time.Now().Add(5*time.Second))
			})
			go func() { <-holdCtx.Done(); ws.Close() }()
			counted := false
			for first := true; ; first = false {
				if !first {
					_, data, err = ws.ReadMessage()
				}
				if err != nil {
					if holding.Load() && holdCtx.Err() == nil {
						dropped.Add(1)
					}
					if !counted {
						failed.Add(1)
					}
					return
				}
				if !counted && strings.Contains(string(data), `"type":"lobby"`) {
					counted = true
					inLobby.Add(1)
				}
			}
		}(i)
		time.Sleep(step)
	}
	// Let the last joins land, then hold and measure.
	deadline := time.Now().Add(10 * time.Second)
	for inLobby.Load()+failed.Load() < int64(*n) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	holding.Store(true)
	var start procSample
	if *pid > 0 {
		start, _ = readProc(*pid)
	}
	t0 := time.Now()
	select {
	case <-time.After(*hold):
	case <-ctx.Done():
	}
	sum.HoldSeconds = time.Since(t0).Seconds()
	if *pid > 0 {
		end, err := readProc(*pid)
		if err == nil {
			sum.ServerRSSHeld = end.RSSBytes
			sum.ServerCPUFraction = (end.CPUSeconds - start.CPUSeconds) / sum.HoldSeconds
			if in := inLobby.Load(); in > 0 {
				sum.ServerRSSPerConn = (end.RSSBytes - sum.ServerRSSBefore) / in
			}
		}
	}
	holding.Store(false)
	stopHold()
	wg.Wait()
	sum.InLobby, sum.Failed, sum.Dropped, sum.PingsSeen = inLobby.Load(), failed.Load(), dropped.Load(), pings.Load()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(sum)
}
