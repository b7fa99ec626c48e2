package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// selfTest issues throwaway room tokens for the connectivity self-test
// page: a private room, one minute of session, rate-limited per address so
// it cannot become free media hosting.
type selfTest struct {
	tokens *roomtoken.Issuer

	mu   sync.Mutex
	seen map[string][]time.Time // client IP -> recent issues
}

const (
	selfTestPerMinute = 12
	selfTestTTL       = 2 * time.Minute
)

func newSelfTest(tokens *roomtoken.Issuer) *selfTest {
	return &selfTest{tokens: tokens, seen: map[string][]time.Time{}}
}

func (st *selfTest) allowLocked(ip string, now time.Time) bool {
	recent := st.seen[ip][:0]
	for _, t := range st.seen[ip] {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	if len(recent) >= selfTestPerMinute {
		st.seen[ip] = recent
		return false
	}
	st.seen[ip] = append(recent, now)
	if len(st.seen) > 10000 { // bound the map: forget everyone quiet for a minute
		for k, v := range st.seen {
			if len(v) == 0 || now.Sub(v[len(v)-1]) > time.Minute {
				delete(st.seen, k)
			}
		}
	}
	return true
}

func (st *selfTest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	now := time.Now()
	st.mu.Lock()
	ok := st.allowLocked(ip, now)
	st.mu.Unlock()
	if !ok {
		apperr.WriteHTTP(w, r, apperr.New(apperr.RateLimited, "自检太频繁，请一分钟后再试 / too many self-tests; try again in a minute"))
		return
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	room := "selftest-" + id
	tok, err := st.tokens.Issue(roomtoken.Grant{Room: room, Identity: "selftest-" + id, Name: "self-test",
		Role: roomtoken.RoleSeeker, Expires: now.Add(selfTestTTL), Limit: time.Minute})
	if err != nil {
		apperr.WriteHTTP(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"room": room, "token": tok})
}
