package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

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
}

// Participant is how a participant is shown to others.
type Participant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Permissions tell a client what it may do in the room.
type Permissions struct {
	Publish   []string `json:"publish"` // sources: camera, microphone, screen
	Subscribe bool     `json:"subscribe"`
	Moderate  bool     `json:"moderate"`
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
	case TypeLeave, TypePing:
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

// permissionsFor returns what a role may do. The SFU enforces publishing too.
func permissionsFor(role string) Permissions {
	switch role {
	case "seeker", "interviewer", "booth_host":
		return Permissions{Publish: []string{"camera", "microphone", "screen"}, Subscribe: true, Moderate: role != "seeker"}
	case "trainer":
		return Permissions{Publish: []string{"camera", "microphone", "screen"}, Subscribe: true, Moderate: true}
	case "viewer", "officer", "recorder":
		return Permissions{Publish: []string{}, Subscribe: true}
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
