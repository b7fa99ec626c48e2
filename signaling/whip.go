package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// WHIP (RFC 9725) lets any WHIP encoder, such as OBS Studio, publish into a
// room: POST an SDP offer with a room token as the bearer token, get the
// answer and a resource URL; PATCH trickles candidates; DELETE ends it. The
// publisher shows up in the room as "<identity>/whip", so the same trainer
// can also have the room page open.

const (
	whipPath     = "/whip"
	whipResource = "/whip/resource/"
	maxSDPBody   = 64 << 10
)

// whipSession is one WHIP publisher. Guarded by Server.mu like a member.
type whipSession struct {
	id     string
	m      *member
	token  roomtoken.Grant
	target Target // the connection trickled candidates belong to
}

// whipEvents ends a WHIP publisher whose connection fails (an encoder that
// vanished without DELETE); it never subscribes, so nothing else arrives.
type whipEvents struct {
	s  *Server
	id string
}

func (whipEvents) SubscriberOffer(webrtc.SessionDescription)    {}
func (whipEvents) ICECandidate(Target, webrtc.ICECandidateInit) {}
func (e whipEvents) ConnectionState(_ Target, st webrtc.PeerConnectionState) {
	if st == webrtc.PeerConnectionStateFailed {
		go e.s.endWHIP(e.id)
	}
}

// WHIPHandler serves POST /whip and PATCH/DELETE/OPTIONS on resources.
func (s *Server) WHIPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Browser-based WHIP clients need CORS; the bearer token is the only credential.
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
		case r.URL.Path == whipPath && r.Method == http.MethodPost:
			err = s.whipPost(w, r)
		case strings.HasPrefix(r.URL.Path, whipResource) && r.Method == http.MethodDelete:
			err = s.whipDelete(w, r)
		case strings.HasPrefix(r.URL.Path, whipResource) && r.Method == http.MethodPatch:
			err = s.whipPatch(w, r)
		default:
			w.Header().Set("Allow", "POST, PATCH, DELETE, OPTIONS")
			err = apperr.New(apperr.Invalid, "method %s is not allowed on %s", r.Method, r.URL.Path)
			if strings.HasPrefix(r.URL.Path, whipResource) || r.URL.Path == whipPath {
				http.Error(w, err.Error(), http.StatusMethodNotAllowed)
				return
			}
			err = apperr.New(apperr.NotFound, "no WHIP endpoint at %s", r.URL.Path)
		}
		if err != nil {
			if ae := apperr.As(err); ae.Code == apperr.Unauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="jobhall"`)
			}
			apperr.WriteHTTP(w, r, err)
		}
	})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func readBody(r *http.Request, want string) (string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != want {
		return "", &apperr.Error{Code: apperr.Invalid, Message: fmt.Sprintf("Content-Type must be %s", want), Details: map[string]int{"status": http.StatusUnsupportedMediaType}}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxSDPBody+1))
	if err != nil {
		return "", apperr.Wrap(err, apperr.Invalid, "could not read the body")
	}
	if len(b) > maxSDPBody {
		return "", apperr.New(apperr.TooLarge, "body over %d bytes", maxSDPBody)
	}
	return string(b), nil
}

func (s *Server) whipPost(w http.ResponseWriter, r *http.Request) error {
	return s.httpSession(w, r, httpSession{
		kind: "whip", resource: whipResource, target: TargetPublisher,
		allowed: func(p Permissions) bool { return len(p.Publish) > 0 }, refusal: "may not publish",
		join: func(room string, p MediaParticipant, ev MediaEvents, offer webrtc.SessionDescription) (MediaSession, webrtc.SessionDescription, error) {
			p.CanPublish = true
			media, err := s.cfg.Engine.Join(room, p, ev)
			if err != nil {
				return nil, webrtc.SessionDescription{}, err
			}
			answer, err := media.Publish(offer)
			if err != nil {
				media.Leave()
				return nil, webrtc.SessionDescription{}, err
			}
			return media, answer, nil
		},
	})
}

// httpSession is what differs between WHIP and WHEP.
type httpSession struct {
	kind     string // "whip" or "whep": the identity suffix and the log
	resource string // resource URL prefix
	target   Target // the connection trickled candidates belong to
	allowed  func(Permissions) bool
	refusal  string
	join     func(room string, p MediaParticipant, ev MediaEvents, offer webrtc.SessionDescription) (MediaSession, webrtc.SessionDescription, error)
}

// httpSession admits a WHIP encoder or WHEP player: the bearer token,
// the SDP offer, the room's bounds, then a member without a WebSocket and
// the 201 answer with the resource URL.
func (s *Server) httpSession(w http.ResponseWriter, r *http.Request, hs httpSession) error {
	g, err := s.cfg.Tokens.Verify(bearer(r), "")
	if err != nil {
		return err
	}
	perms := permissionsFor(g.Role)
	if !hs.allowed(perms) {
		return apperr.New(apperr.Forbidden, "your role (%s) %s", g.Role, hs.refusal)
	}
	if s.cfg.Placer != nil {
		ctx, cancel := context.WithTimeout(r.Context(), placeTimeout)
		to, err := s.cfg.Placer.Place(ctx, g, r.URL.Query().Get("placement"))
		cancel()
		if err != nil {
			return err
		}
		if to != "" {
			// RFC 9725 lets the endpoint redirect the POST: 307 keeps the
			// method and the body.
			w.Header().Set("Location", httpRedirect(to, r.URL.Path))
			w.WriteHeader(http.StatusTemporaryRedirect)
			return nil
		}
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
	wg.Identity = g.Identity + "/" + hs.kind
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
		return apperr.New(apperr.Conflict, "%s already has a %s session in this room; DELETE its resource first", g.Identity, strings.ToUpper(hs.kind))
	}
	if err := s.capacityLocked(rm, g.Role, false); err != nil {
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()

	media, answer, err := hs.join(g.Room, MediaParticipant{ID: wg.Identity, Name: g.Name, CanSubscribe: hs.target == TargetSubscriber},
		whipEvents{s: s, id: id}, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer})
	if err != nil {
		return apperr.Wrap(err, apperr.CodeOf(err), "could not start the %s session", strings.ToUpper(hs.kind))
	}
	mp := Permissions{Publish: []string{}, Subscribe: hs.target == TargetSubscriber}
	if hs.target == TargetPublisher {
		mp = Permissions{Publish: perms.Publish}
	}
	m := &member{grant: wg, perms: mp, media: media, relay: &relay{}, external: true}
	others, _, _, _, err := s.addMember(m, false)
	if err != nil {
		media.Leave()
		return err
	}
	s.mu.Lock()
	s.whip[id] = &whipSession{id: id, m: m, token: g, target: hs.target}
	s.mu.Unlock()
	self := m.view()
	for _, o := range others {
		o.post(event{out: &Outbound{Type: TypeParticipantJoined, Participant: &self}})
	}
	if s.cfg.Hooks != nil {
		s.cfg.Hooks.ParticipantJoined(g.Room, wg)
	}
	s.writeICELinks(w, g)
	s.log.Info("HTTP media session joined", "kind", hs.kind, "room", g.Room, "identity", wg.Identity)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", hs.resource+id)
	w.Header().Set("ETag", `"`+id+`"`)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer.SDP)
	return nil
}

// writeICELinks advertises the TURN relay (RFC 9725 section 4.6).
func (s *Server) writeICELinks(w http.ResponseWriter, g roomtoken.Grant) {
	if s.cfg.ICEServers == nil {
		return
	}
	for _, is := range s.cfg.ICEServers(g) {
		for _, u := range is.URLs {
			w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="ice-server"; username="%s"; credential="%s"; credential-type="password"`, u, is.Username, is.Credential))
		}
	}
}

// resourceOwned finds the WHIP or WHEP resource of the request and checks
// that its bearer token is for the same room and identity that created it.
func (s *Server) resourceOwned(r *http.Request, prefix string) (*whipSession, error) {
	g, err := s.cfg.Tokens.Verify(bearer(r), "")
	if err != nil {
		return nil, err
	}
	id := strings.TrimPrefix(r.URL.Path, prefix)
	s.mu.Lock()
	ws := s.whip[id]
	s.mu.Unlock()
	if ws == nil {
		return nil, apperr.New(apperr.NotFound, "no WHIP session %s", id)
	}
	if ws.token.Room != g.Room || ws.token.Identity != g.Identity {
		return nil, apperr.New(apperr.Forbidden, "this WHIP session belongs to someone else")
	}
	return ws, nil
}

func (s *Server) whipDelete(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.resourceOwned(r, whipResource)
	if err != nil {
		return err
	}
	s.endWHIP(ws.id)
	w.WriteHeader(http.StatusOK)
	return nil
}

// whipPatch takes trickled candidates (application/trickle-ice-sdpfrag).
// An ICE restart (new credentials) is not supported: 422, and the encoder
// starts a new session.
func (s *Server) whipPatch(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.resourceOwned(r, whipResource)
	if err != nil {
		return err
	}
	return s.trickle(w, r, ws)
}

// trickle applies a PATCH of application/trickle-ice-sdpfrag to the
// resource's connection.
func (s *Server) trickle(w http.ResponseWriter, r *http.Request, ws *whipSession) error {
	frag, err := readBody(r, "application/trickle-ice-sdpfrag")
	if err != nil {
		if ae := apperr.As(err); ae.Details != nil {
			http.Error(w, ae.Message, http.StatusUnsupportedMediaType)
			return nil
		}
		return err
	}
	var mid *string
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "a=mid:"):
			v := strings.TrimPrefix(line, "a=mid:")
			mid = &v
		case strings.HasPrefix(line, "a=ice-pwd:"):
			http.Error(w, "ICE restart is not supported; start a new WHIP session", http.StatusUnprocessableEntity)
			return nil
		case strings.HasPrefix(line, "a=candidate:"):
			c := webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a="), SDPMid: mid}
			if err := ws.m.media.AddICECandidate(ws.target, c); err != nil {
				return err
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endWHIP removes a WHIP publisher or WHEP viewer from its room.
func (s *Server) endWHIP(id string) {
	s.mu.Lock()
	ws := s.whip[id]
	if ws == nil {
		s.mu.Unlock()
		return
	}
	delete(s.whip, id)
	r := s.rooms[ws.m.grant.Room]
	if r == nil || r.members[ws.m.grant.Identity] != ws.m {
		s.mu.Unlock()
		ws.m.media.Leave()
		return
	}
	rm := s.removeMemberLocked(r, ws.m)
	s.mu.Unlock()
	s.finish(rm)
}

// httpRedirect turns a WebSocket redirect (ws[s]://node/ws?placement=…)
// into the same node's URL for an HTTP path.
func httpRedirect(wsURL, path string) string {
	u, err := url.Parse(wsURL)
	if err != nil {
		return wsURL
	}
	if u.Scheme == "wss" {
		u.Scheme = "https"
	} else {
		u.Scheme = "http"
	}
	u.Path = path
	return u.String()
}
