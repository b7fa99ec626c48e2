package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"jobhall/booking"
)

// pageBoot answers, in process, the API calls the seeker's page makes
// first, for web.Options.Boot: the page then renders its job feed without
// another round trip on a slow link. Each call goes through the booking
// API handler itself with only the page request's session cookie, so
// authorization, audit and the JSON are exactly what the page would get
// from fetching them (the paths below are the page's, seeker.js).
type pageBoot struct {
	api     http.Handler // booking's /api/v1 handler, unwrapped (no gzip)
	timeout time.Duration
	log     *slog.Logger
}

// boot is web.Options.Boot. For a seeker's session it returns
// {"session", "fair" (null when there is none), "feed", "booths"}; parts
// that failed are left out (the page fetches them), and nothing at all
// without a valid seeker session. Runs on the page request's goroutine
// plus two of its own, both joined before it returns.
func (b *pageBoot) boot(r *http.Request, page string) []byte {
	if page != "seeker.html" {
		return nil
	}
	ck, err := r.Cookie(booking.SessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), b.timeout)
	defer cancel()
	get := func(path string) (int, json.RawMessage) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
		if err != nil {
			return 0, nil
		}
		req.AddCookie(&http.Cookie{Name: booking.SessionCookie, Value: ck.Value})
		req.RemoteAddr, req.Host = r.RemoteAddr, r.Host
		return booking.Capture(b.api, req)
	}
	// The session first: an invalid one or another role costs one lookup.
	st, session := get("/api/v1/session")
	if st != http.StatusOK {
		return nil
	}
	var who struct {
		Role string `json:"role"`
	}
	if json.Unmarshal(session, &who) != nil || who.Role != booking.RoleSeeker {
		return nil
	}
	out := map[string]json.RawMessage{"session": session}
	var mu sync.Mutex
	put := func(k string, v json.RawMessage) { mu.Lock(); out[k] = v; mu.Unlock() }
	var wg sync.WaitGroup
	wg.Go(func() {
		if st, feed := get("/api/v1/me/feed?limit=10"); st == http.StatusOK {
			put("feed", feed)
		}
	})
	wg.Go(func() {
		st, fair := get("/api/v1/fairs/current")
		switch st {
		case http.StatusNotFound:
			put("fair", json.RawMessage("null"))
			return
		case http.StatusOK:
		default:
			return
		}
		var f struct {
			ID int64 `json:"id"`
		}
		if json.Unmarshal(fair, &f) != nil {
			return
		}
		put("fair", fair)
		if st, booths := get(fmt.Sprintf("/api/v1/fairs/%d/booths?limit=20&q=", f.ID)); st == http.StatusOK {
			put("booths", booths)
		}
	})
	wg.Wait()
	if _, ok := out["feed"]; !ok {
		b.log.DebugContext(r.Context(), "page boot: no feed", "err", ctx.Err())
	}
	// Joined by hand: each part is already the API's JSON, and
	// json.Marshal would scan every byte of the feed again to compact it.
	var data bytes.Buffer
	for _, k := range []string{"session", "fair", "feed", "booths"} {
		if v, ok := out[k]; ok {
			if data.Len() == 0 {
				data.WriteString(`{"`)
			} else {
				data.WriteString(`,"`)
			}
			data.WriteString(k + `":`)
			data.Write(bytes.TrimSpace(v))
		}
	}
	data.WriteString("}")
	return data.Bytes()
}
