package signaling

import (
	"fmt"
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
	return s.httpSession(w, r, httpSession{
		kind: "whep", resource: whepResource, target: TargetSubscriber,
		allowed: func(p Permissions) bool { return p.Subscribe }, refusal: "may not watch",
		join: oj.JoinWithOffer,
	})
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
