// Package roomtoken issues and verifies the signed, short-lived tokens that
// admit one identity, in one role, to one room. Booking issues them in join
// links; signalling verifies them on join.
package roomtoken

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"jobhall/internal/apperr"
)

// Roles known to the media side.
const (
	RoleSeeker      = "seeker"
	RoleInterviewer = "interviewer"
	RoleBoothHost   = "booth_host"
	RoleTrainer     = "trainer"
	RoleViewer      = "viewer"
	RoleOfficer     = "officer"
	RoleRecorder    = "recorder"
)

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool {
	switch r {
	case RoleSeeker, RoleInterviewer, RoleBoothHost, RoleTrainer, RoleViewer, RoleOfficer, RoleRecorder:
		return true
	}
	return false
}

// Grant is what a token admits.
type Grant struct {
	Room     string    // room id, e.g. "interview-42"
	Identity string    // stable participant id, e.g. "seeker-17"
	Name     string    // display name
	Role     string    // one of the Role constants
	Expires  time.Time // hard expiry
	// Lobby makes the holder wait in the room's lobby until a moderator
	// admits them (a seeker at a booth).
	Lobby bool
	// Limit, when positive, bounds the room's session from its start (a
	// walk-in interview: 15 minutes).
	Limit time.Duration
}

type claims struct {
	Room  string `json:"room"`
	Name  string `json:"name,omitempty"`
	Role  string `json:"role"`
	Lobby bool   `json:"lobby,omitempty"`
	Limit int64  `json:"lim,omitempty"` // seconds
	jwt.RegisteredClaims
}

// Issuer signs and verifies grants with an HMAC-SHA256 secret.
type Issuer struct {
	secret []byte
	now    func() time.Time
}

// NewIssuer returns an Issuer; the secret must be at least 16 bytes.
func NewIssuer(secret []byte) (*Issuer, error) {
	if len(secret) < 16 {
		return nil, errors.New("roomtoken: secret must be at least 16 bytes")
	}
	return &Issuer{secret: append([]byte(nil), secret...), now: time.Now}, nil
}

// Issue signs g.
func (is *Issuer) Issue(g Grant) (string, error) {
	if g.Room == "" || g.Identity == "" || !ValidRole(g.Role) {
		return "", fmt.Errorf("roomtoken: incomplete grant %+v", g)
	}
	c := claims{
		Room: g.Room, Name: g.Name, Role: g.Role, Lobby: g.Lobby, Limit: int64(g.Limit / time.Second),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   g.Identity,
			IssuedAt:  jwt.NewNumericDate(is.now()),
			ExpiresAt: jwt.NewNumericDate(g.Expires),
			Issuer:    "jobhall",
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(is.secret)
}

// Verify checks the signature and expiry of tok and, when room is not
// empty, that it was issued for that room. Errors are *apperr.Error with
// code Unauthorized (bad or expired) or Forbidden (other room).
func (is *Issuer) Verify(tok, room string) (Grant, error) {
	if tok == "" {
		return Grant{}, apperr.New(apperr.Unauthorized, "missing room token")
	}
	if len(tok) > 4096 {
		return Grant{}, apperr.New(apperr.Unauthorized, "room token too long")
	}
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return is.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithIssuer("jobhall"), jwt.WithTimeFunc(is.now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Grant{}, apperr.Wrap(err, apperr.Unauthorized, "room token expired")
		}
		return Grant{}, apperr.Wrap(err, apperr.Unauthorized, "invalid room token")
	}
	if !ValidRole(c.Role) || c.Room == "" || c.Subject == "" || c.Limit < 0 {
		return Grant{}, apperr.New(apperr.Unauthorized, "invalid room token")
	}
	if room != "" && c.Room != room {
		return Grant{}, apperr.New(apperr.Forbidden, "room token is for another room")
	}
	return Grant{Room: c.Room, Identity: c.Subject, Name: c.Name, Role: c.Role, Expires: c.ExpiresAt.Time,
		Lobby: c.Lobby, Limit: time.Duration(c.Limit) * time.Second}, nil
}

// placementIssuer marks redirect notes so that they never pass as room
// tokens (Verify wants issuer "jobhall" and a role).
const placementIssuer = "jobhall/placement"

type placementClaims struct {
	Room string `json:"room"`
	jwt.RegisteredClaims
}

// IssuePlacement signs a short-lived note that room lives on node; a node
// that redirects a client puts it in the URL so the target node can serve
// the join without asking Redis again.
func (is *Issuer) IssuePlacement(room, node string, ttl time.Duration) (string, error) {
	if room == "" || node == "" || ttl <= 0 {
		return "", errors.New("roomtoken: placement needs a room, a node and a lifetime")
	}
	now := is.now()
	c := placementClaims{Room: room, RegisteredClaims: jwt.RegisteredClaims{
		Subject: node, Issuer: placementIssuer, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(is.secret)
}

// VerifyPlacement returns the room and node a placement note names.
func (is *Issuer) VerifyPlacement(tok string) (room, node string, err error) {
	if tok == "" || len(tok) > 1024 {
		return "", "", apperr.New(apperr.Unauthorized, "invalid placement")
	}
	var c placementClaims
	_, err = jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return is.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithIssuer(placementIssuer), jwt.WithTimeFunc(is.now), jwt.WithLeeway(2*time.Second))
	if err != nil || c.Room == "" || c.Subject == "" {
		return "", "", apperr.Wrap(err, apperr.Unauthorized, "invalid placement")
	}
	return c.Room, c.Subject, nil
}
