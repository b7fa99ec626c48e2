package signaling

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

// WHEP (view-only playback with any WHEP player): POST an SDP offer with
// recvonly sections and a room token as the bearer token; the answer
// carries the room's current tracks. PATCH trickles, DELETE ends. The
// viewer shows up in the room as "<identity>/whep".

const (
	whepPath     = "/whep"
	whepResource = "/whep/resource/"
)

// OfferJoiner is implemented by engines that admit a view-only client that
// offers (WHEP).
type OfferJoiner interface {
	JoinWithOffer(room string, p MediaParticipant, ev MediaEvents, offer webrtc.SessionDescription) (MediaSession, webrtc.SessionDescription, error)
}

// WHEPHandler serves POST /whep and PATCH/DELETE/OPTIONS on resources.
func (s *Server) WHEPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		w.Header().Set("Access-Control-Expose-Headers", "Location, Link, ETag")
		var err error
		switch {
		case r.Method == http.MethodOptions:
			w.Header().Set("Accept-Post", "application/sdp")
			w.WriteHeader(http.StatusNoContent)
			return
		case r.URL.Path == whepPath && r.Method == http.MethodPost:
			err = s.whepPost(w, r)
		case strings.HasPrefix(r.URL.Path, whepResource) && r.Method == http.MethodDelete:
			err = s.whepDelete(w, r)
		case strings.HasPrefix(r.URL.Path, whepResource) && r.Method == http.MethodPatch:
			err = s.whepPatch(w, r)
		case strings.HasPrefix(r.URL.Path, whepResource) || r.URL.Path == whepPath:
			w.Header().Set("Allow", "POST, PATCH, DELETE, OPTIONS")
			http.Error(w, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path), http.StatusMethodNotAllowed)
			return
		default:
			err = apperr.New(apperr.NotFound, "no WHEP endpoint at %s", r.URL.Path)
		}
		if err != nil {
			if apperr.CodeOf(err) == apperr.Unauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="jobhall"`)
			}
			apperr.WriteHTTP(w, r, err)
		}
	})
}

func (s *Server) whepPost(w http.ResponseWriter, r *http.Request) error {
	oj, ok := s.cfg.Engine.(OfferJoiner)
	if !ok {
		return apperr.New(apperr.Unavailable, "this server does not offer WHEP playback")
	}
	g, err := s.cfg.Tokens.Verify(bearer(r), "")
	if err != nil {
		return err
	}
	if !permissionsFor(g.Role).Subscribe {
		return apperr.New(apperr.Forbidden, "your role (%s) may not watch", g.Role)
	}
	offer, err := readBody(r, "application/sdp")
	if err != nil {
		if ae := apperr.As(err); ae.Details != nil {
			http.Error(w, ae.Message, http.StatusUnsupportedMediaType)
			return nil
		}
		return err
	}
	if !strings.HasPrefix(offer, "v=0") {
		return apperr.New(apperr.Invalid, "the body is not an SDP offer")
	}
	idb := make([]byte, 16)
	_, _ = rand.Read(idb)
	id := hex.EncodeToString(idb)
	wg := g
	wg.Identity = g.Identity + "/whep"
	wg.Lobby = false
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return apperr.New(apperr.Unavailable, "server is shutting down")
	}
	rm := s.roomLocked(g.Room)
	if rm.ended {
		s.mu.Unlock()
		return apperr.New(apperr.Conflict, "本场已结束 / this session has ended")
	}
	if rm.members[wg.Identity] != nil {
		s.mu.Unlock()
		return apperr.New(apperr.Conflict, "%s is already watching over WHEP in this room; DELETE its resource first", g.Identity)
	}
	if err := s.capacityLocked(rm, g.Role, false); err != nil {
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()

	media, answer, err := oj.JoinWithOffer(g.Room, MediaParticipant{ID: wg.Identity, Name: g.Name, CanSubscribe: true},
		whipEvents{s: s, id: id}, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer})
	if err != nil {
		return apperr.Wrap(err, apperr.CodeOf(err), "could not start playback")
	}
	m := &member{grant: wg, perms: Permissions{Publish: []string{}, Subscribe: true}, media: media, relay: &relay{}, external: true}
	others, _, _, _, err := s.addMember(m, false)
	if err != nil {
		media.Leave()
		return err
	}
	s.mu.Lock()
	s.whip[id] = &whipSession{id: id, m: m, token: g, target: TargetSubscriber}
	s.mu.Unlock()
	self := m.view()
	for _, o := range others {
		o.post(event{out: &Outbound{Type: TypeParticipantJoined, Participant: &self}})
	}
	if s.cfg.Hooks != nil {
		s.cfg.Hooks.ParticipantJoined(g.Room, wg)
	}
	s.writeICELinks(w, g)
	s.log.Info("WHEP viewer joined", "room", g.Room, "identity", wg.Identity)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", whepResource+id)
	w.Header().Set("ETag", `"`+id+`"`)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer.SDP)
	return nil
}

func (s *Server) whepDelete(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.resourceOwned(r, whepResource)
	if err != nil {
		return err
	}
	s.endWHIP(ws.id)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) whepPatch(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.resourceOwned(r, whepResource)
	if err != nil {
		return err
	}
	return s.trickle(w, r, ws)
}
