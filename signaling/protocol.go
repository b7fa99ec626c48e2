package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

// ProtocolVersion is the version this server speaks; see PROTOCOL.md.
const ProtocolVersion = 1

// Message types. Client to server: hello, join, offer, answer, candidate,
// leave, ping. Server to client: welcome, joined, offer, answer, candidate,
// participant_joined, participant_left, error, pong, bye.
const (
	TypeHello             = "hello"
	TypeWelcome           = "welcome"
	TypeJoin              = "join"
	TypeJoined            = "joined"
	TypeOffer             = "offer"
	TypeAnswer            = "answer"
	TypeCandidate         = "candidate"
	TypeLeave             = "leave"
	TypePing              = "ping"
	TypePong              = "pong"
	TypeParticipantJoined = "participant_joined"
	TypeParticipantLeft   = "participant_left"
	TypeError             = "error"
	TypeBye               = "bye"
	// Lobby, moderation, presence and chat.
	TypeLobby              = "lobby"               // server: your place in the lobby
	TypeLobbyUpdate        = "lobby_update"        // server to moderators: who waits
	TypeAdmit              = "admit"               // moderator: admit id, or the next if id is empty
	TypeReject             = "reject"              // moderator: refuse id
	TypeKick               = "kick"                // moderator: remove id
	TypeMute               = "mute"                // moderator: ask id to mute a source
	TypeMuted              = "muted"               // server: a moderator muted you
	TypeMuteState          = "mute_state"          // client: my source is (un)muted
	TypeParticipantUpdated = "participant_updated" // server: someone's state changed
	TypeEnd                = "end"                 // moderator: end the session for all
	TypeChat               = "chat"                // both ways
	TypeTimeWarning        = "time_warning"        // server: the session ends soon
	TypeSubscribe          = "subscribe"           // client: the largest size I show a video track at
	TypeRestartICE         = "restart_ice"         // client: my subscriber connection failed; offer with new ICE credentials
	TypePublish            = "publish"             // client: my track is this source (camera, microphone, screen)
	TypeUnpublish          = "unpublish"           // client: I stopped publishing this track
	TypeActiveSpeaker      = "active_speaker"      // server: who is speaking now
	TypeRedirect           = "redirect"            // server: the room lives on another node; reconnect to url
	TypeLayers             = "layers"              // server to a publisher: the simulcast layers of a track to keep sending
)

// Reasons in bye frames.
const (
	ByeLeft       = "left"
	ByeReplaced   = "replaced"
	ByeJoinTime   = "join_timeout"
	ByeTooSlow    = "too_slow"
	ByeRateLimit  = "rate_limited"
	ByeShutdown   = "server_shutdown"
	ByeRejected   = "rejected"
	ByeRemoved    = "removed"
	ByeEnded      = "ended"
	ByeTimeLimit  = "time_limit"
	ByeParkExpiry = "resume_expired"
	ByeRedirect   = "redirect"
)

// Target names one of a participant's two PeerConnections.
type Target string

const (
	TargetPublisher  Target = "publisher"  // client offers, server answers
	TargetSubscriber Target = "subscriber" // server offers, client answers
)

// Bounds on decoded fields, on top of the frame size limit.
const (
	maxSDPBytes       = 32 << 10
	maxCandidateBytes = 1 << 10
	maxTokenBytes     = 4 << 10
	maxChatRunes      = 1000
	maxIDBytes        = 128
)

// Inbound is every frame a client may send. Fields not used by a type must
// be absent; unknown fields are refused.
type Inbound struct {
	Type      string                   `json:"type"`
	Version   int                      `json:"version,omitempty"`
	Token     string                   `json:"token,omitempty"`
	Room      string                   `json:"room,omitempty"`
	Target    Target                   `json:"target,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	TS        int64                    `json:"ts,omitempty"`
	Resume    bool                     `json:"resume,omitempty"` // join: I still hold my PeerConnections
	ID        string                   `json:"id,omitempty"`     // the participant a moderation frame is about
	Source    string                   `json:"source,omitempty"` // camera, microphone, screen
	Muted     *bool                    `json:"muted,omitempty"`
	Text      string                   `json:"text,omitempty"`
	Reason    string                   `json:"reason,omitempty"`
	Track     string                   `json:"track,omitempty"`      // subscribe: the publisher's track id
	MaxWidth  int                      `json:"max_width,omitempty"`  // subscribe: 0 = no limit
	MaxHeight int                      `json:"max_height,omitempty"` // subscribe: 0 = no limit
}

// Participant is how a participant is shown to others.
type Participant struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Role      string            `json:"role"`
	Connected *bool             `json:"connected,omitempty"` // false while its connection is away (resume window)
	Muted     map[string]bool   `json:"muted,omitempty"`     // source -> muted
	Since     *time.Time        `json:"since,omitempty"`     // lobby: waiting since
	Tracks    map[string]string `json:"tracks,omitempty"`    // published track id -> source
}

// Permissions tell a client what it may do in the room.
type Permissions struct {
	Publish   []string `json:"publish"` // sources: camera, microphone, screen
	Subscribe bool     `json:"subscribe"`
	Moderate  bool     `json:"moderate"` // admit, reject, kick, mute others, end
	Chat      bool     `json:"chat"`
	Record    bool     `json:"record"`
}

// Outbound is every frame the server sends; unused fields are omitted.
type Outbound struct {
	Type         string                   `json:"type"`
	Version      int                      `json:"version,omitempty"`
	Server       string                   `json:"server,omitempty"`
	Room         string                   `json:"room,omitempty"`
	Self         *Participant             `json:"self,omitempty"`
	Participants []Participant            `json:"participants,omitempty"`
	Participant  *Participant             `json:"participant,omitempty"`
	ID           string                   `json:"id,omitempty"`
	Permissions  *Permissions             `json:"permissions,omitempty"`
	Recording    *bool                    `json:"recording,omitempty"`
	Target       Target                   `json:"target,omitempty"`
	SDP          string                   `json:"sdp,omitempty"`
	Candidate    *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	TS           int64                    `json:"ts,omitempty"`
	Code         apperr.Code              `json:"code,omitempty"`
	Message      string                   `json:"message,omitempty"`
	Ref          string                   `json:"ref,omitempty"` // type of the frame an error answers
	Reason       string                   `json:"reason,omitempty"`
	Resumed      bool                     `json:"resumed,omitempty"`
	ICEServers   []ICEServer              `json:"ice_servers,omitempty"`
	IDs          []string                 `json:"ids,omitempty"`      // active_speaker
	Track        string                   `json:"track,omitempty"`    // layers
	Active       []string                 `json:"active,omitempty"`   // layers: RIDs to keep sending; none = pause all
	Position     int                      `json:"position,omitempty"` // lobby: 1 = next
	Waiting      []Participant            `json:"waiting,omitempty"`
	From         *Participant             `json:"from,omitempty"` // chat, muted
	Text         string                   `json:"text,omitempty"`
	Source       string                   `json:"source,omitempty"`
	Seconds      int                      `json:"seconds,omitempty"` // time_warning: seconds left
	EndsAt       *time.Time               `json:"ends_at,omitempty"`
	URL          string                   `json:"url,omitempty"` // redirect: WebSocket URL of the room's node
}

// Decode parses and validates one client frame. Errors are *apperr.Error
// with code Invalid, safe to send back in an error frame.
func Decode(data []byte) (Inbound, error) {
	var m Inbound
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Inbound{}, apperr.Wrap(err, apperr.Invalid, "malformed message: %s", jsonProblem(err))
	}
	if dec.More() {
		return Inbound{}, apperr.New(apperr.Invalid, "malformed message: more than one JSON value in a frame")
	}
	return m, m.validate()
}

func jsonProblem(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return strings.TrimPrefix(s, "json: ")
}

func (m *Inbound) validate() error {
	bad := func(f string, a ...any) error { return apperr.New(apperr.Invalid, f, a...) }
	switch m.Type {
	case TypeHello:
		if m.Version <= 0 {
			return bad("hello needs a positive version")
		}
	case TypeJoin:
		if m.Token == "" {
			return bad("join needs a token")
		}
		if len(m.Token) > maxTokenBytes {
			return bad("token longer than %d bytes", maxTokenBytes)
		}
		if m.Room == "" || len(m.Room) > 128 {
			return bad("join needs a room of 1 to 128 characters")
		}
	case TypeOffer, TypeAnswer:
		want := TargetPublisher
		if m.Type == TypeAnswer {
			want = TargetSubscriber
		}
		if m.Target != want {
			return bad("%s needs target %q", m.Type, want)
		}
		if m.SDP == "" || len(m.SDP) > maxSDPBytes {
			return bad("%s needs an sdp of 1 to %d bytes", m.Type, maxSDPBytes)
		}
		if !strings.HasPrefix(m.SDP, "v=0") {
			return bad("%s sdp does not start with v=0", m.Type)
		}
	case TypeCandidate:
		if m.Target != TargetPublisher && m.Target != TargetSubscriber {
			return bad("candidate needs target publisher or subscriber")
		}
		if m.Candidate == nil {
			return bad("candidate needs a candidate object")
		}
		if len(m.Candidate.Candidate) > maxCandidateBytes {
			return bad("candidate longer than %d bytes", maxCandidateBytes)
		}
	case TypeLeave, TypePing, TypeEnd, TypeRestartICE:
	case TypeAdmit:
		if len(m.ID) > maxIDBytes {
			return bad("id longer than %d bytes", maxIDBytes)
		}
	case TypeReject, TypeKick:
		if m.ID == "" || len(m.ID) > maxIDBytes {
			return bad("%s needs an id of 1 to %d bytes", m.Type, maxIDBytes)
		}
		if utf8.RuneCountInString(m.Reason) > 200 {
			return bad("reason longer than 200 characters")
		}
	case TypeMute:
		if m.ID == "" || len(m.ID) > maxIDBytes {
			return bad("mute needs an id of 1 to %d bytes", maxIDBytes)
		}
		if !validSource(m.Source) {
			return bad("mute needs source camera, microphone or screen")
		}
	case TypeMuteState:
		if !validSource(m.Source) || m.Muted == nil {
			return bad("mute_state needs source camera, microphone or screen and muted true or false")
		}
	case TypePublish, TypeUnpublish:
		if m.Track == "" || len(m.Track) > maxIDBytes {
			return bad("%s needs a track id of 1 to %d bytes", m.Type, maxIDBytes)
		}
		if m.Type == TypePublish && !validSource(m.Source) {
			return bad("publish needs source camera, microphone or screen")
		}
	case TypeSubscribe:
		if m.ID == "" || len(m.ID) > maxIDBytes || m.Track == "" || len(m.Track) > maxIDBytes {
			return bad("subscribe needs id (the publisher) and track of 1 to %d bytes", maxIDBytes)
		}
		if m.MaxWidth < 0 || m.MaxHeight < 0 || m.MaxWidth > 16384 || m.MaxHeight > 16384 {
			return bad("max_width and max_height must be 0 to 16384")
		}
	case TypeChat:
		text := strings.TrimSpace(m.Text)
		if text == "" || utf8.RuneCountInString(text) > maxChatRunes || !utf8.ValidString(text) {
			return bad("chat needs text of 1 to %d characters", maxChatRunes)
		}
		m.Text = text
	case "":
		return bad("message has no type")
	default:
		t := m.Type
		if len(t) > 40 {
			t = t[:40]
		}
		return bad("unknown message type %q", t)
	}
	return nil
}

func validSource(s string) bool { return s == "camera" || s == "microphone" || s == "screen" }

// permissionsFor returns what a role may do. The SFU enforces publishing too.
func permissionsFor(role string) Permissions {
	av := []string{"camera", "microphone", "screen"}
	switch role {
	case "seeker":
		return Permissions{Publish: av, Subscribe: true, Chat: true}
	case "interviewer", "booth_host", "trainer":
		return Permissions{Publish: av, Subscribe: true, Moderate: true, Chat: true}
	case "viewer", "officer":
		return Permissions{Publish: []string{}, Subscribe: true, Chat: true}
	case "recorder":
		return Permissions{Publish: []string{}, Subscribe: true, Record: true}
	}
	return Permissions{Publish: []string{}}
}

func errorFrame(err error, ref string) Outbound {
	e := apperr.As(err)
	msg := e.Message
	if e.Code == apperr.Internal {
		msg = "internal error"
	}
	return Outbound{Type: TypeError, Code: e.Code, Message: msg, Ref: ref}
}

func (t Target) String() string { return string(t) }

var _ fmt.Stringer = Target("")
