// Package cascade spreads one room's media over several nodes: the node
// where the room's publishers are (the origin) forwards every layer of every
// track once to each other node that has viewers (an edge), over one
// server-to-server Pion PeerConnection per (room, edge); viewers subscribe on
// their own node, which picks layers, answers NACKs and estimates bandwidth
// per viewer. The media mechanics are sfu.Relay (origin) and sfu.RelayInput
// (edge); this package carries their negotiation and keeps the link up.
//
// # Control channel
//
// The edge dials the origin's Origin handler (a WebSocket at
// OriginPath, authenticated by an HMAC token over room, edge and expiry
// made from a secret the nodes share). The origin always offers: a first
// offer at once, and a new one whenever a track is published or ends; the
// edge answers each. Frames are JSON (message), at most maxFrame bytes. The
// origin pings every pingInterval; either side closes the socket after
// readTimeout of silence. When the socket ends, the relay ends with it.
//
// # Goroutines and ownership
//
//   - Origin, per connection: the handler goroutine reads answers and owns
//     the Relay's lifetime; a writer goroutine owns every write (offers,
//     pings), fed by a bounded channel (an edge that does not read is
//     dropped).
//   - Edge, per link (room, origin): the link goroutine dials, owns the
//     RelayInput of the current session, reads offers and writes answers
//     (the only writer), and sleeps the backoff between sessions; a watcher
//     goroutine per session closes the socket when the relay
//     PeerConnection fails, the room has had no viewer for IdleTimeout, or
//     the edge closes.
//
// # Locks
//
//   - Origin.mu guards Origin.conns and Origin.closed.
//   - Edge.mu guards Edge.links and Edge.closed; link.mu guards the link's
//     status fields. Edge.mu is taken before link.mu; neither is held while
//     calling the SFU or the network.
package cascade

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/sfu"
)

// OriginPath is where every node mounts its Origin handler.
const OriginPath = "/cascade/v1/relay"

const (
	maxFrame      = 1 << 20 // an offer of a full room is well below
	maxIDBytes    = 128
	tokenLifetime = time.Minute
	tokenSkew     = 5 * time.Minute // furthest future expiry accepted
	pingInterval  = 5 * time.Second
	readTimeout   = 15 * time.Second
	writeTimeout  = 5 * time.Second
	sendQueue     = 8
	minSecret     = 16
)

// message is one control frame.
type message struct {
	Type    string           `json:"type"` // "offer" (origin), "answer" (edge), "error" (either)
	SDP     string           `json:"sdp,omitempty"`
	Tracks  []sfu.RelayTrack `json:"tracks,omitempty"`
	Code    string           `json:"code,omitempty"`
	Message string           `json:"message,omitempty"`
}

func (m message) description(t webrtc.SDPType) webrtc.SessionDescription {
	return webrtc.SessionDescription{Type: t, SDP: m.SDP}
}

// Token authorises edge to relay room until exp: "v1.<exp unix>.<mac>".
func Token(secret []byte, room, edge string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "v1." + e + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(secret, room, edge, e))
}

func tokenMAC(secret []byte, room, edge, exp string) []byte {
	m := hmac.New(sha256.New, secret)
	// Lengths first, so no two (room, edge) pairs hash the same bytes.
	m.Write([]byte("jobhall-cascade-v1\n" + strconv.Itoa(len(room)) + ":" + room + strconv.Itoa(len(edge)) + ":" + edge + "\n" + exp))
	return m.Sum(nil)
}

// verifyToken checks a token for room and edge at now.
func verifyToken(secret []byte, tok, room, edge string, now time.Time) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return apperr.New(apperr.Unauthorized, "malformed cascade token")
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return apperr.New(apperr.Unauthorized, "malformed cascade token")
	}
	mac, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, room, edge, parts[1])) {
		return apperr.New(apperr.Unauthorized, "bad cascade token")
	}
	at := time.Unix(exp, 0)
	if !now.Before(at) {
		return apperr.New(apperr.Unauthorized, "cascade token expired")
	}
	if at.After(now.Add(tokenSkew)) {
		return apperr.New(apperr.Unauthorized, "cascade token expires too far ahead (clock skew?)")
	}
	return nil
}

// validID accepts room and node ids: 1 to maxIDBytes printable ASCII
// characters without spaces.
func validID(s string) bool {
	if s == "" || len(s) > maxIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
