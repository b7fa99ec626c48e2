package booking

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"jobhall/internal/apperr"
)

// Session roles.
const (
	RoleSeeker   = "seeker"
	RoleEmployer = "employer" // employer staff
	RoleTrainer  = "trainer"
	RoleOfficer  = "officer" // public employment service staff running fairs
	RoleAdmin    = "admin"
)

// Roles lists every role, in the order the authorization matrix shows them.
var Roles = []string{RoleSeeker, RoleEmployer, RoleTrainer, RoleOfficer, RoleAdmin}

// roleNames are shown in refusals, Chinese first.
var roleNames = map[string]string{
	RoleSeeker: "求职者 / job seekers", RoleEmployer: "招聘单位 / employers", RoleTrainer: "培训师 / trainers",
	RoleOfficer: "就业服务工作人员 / officers", RoleAdmin: "管理员 / administrators",
}

const (
	// SessionCookie carries the session token for browsers.
	SessionCookie = "jh_session"
	// sessionAudience keeps room tokens and session tokens apart.
	sessionAudience = "jobhall-session"
	sessionTTL      = 12 * time.Hour
	maxTokenLen     = 4096
)

// principal is who is signed in. ID is the seeker for seekers, the
// employer for employer staff (so ownership checks compare employers) and
// the account for everyone else; Account is the password account behind
// the session (0 for seekers and demo sign-ins).
type principal struct {
	Role    string
	ID      int64
	Account int64
}

// actor names p in audit and outcome records.
func (p principal) actor() string {
	switch {
	case p.Role == RoleSeeker:
		return "seeker:" + strconv.FormatInt(p.ID, 10)
	case p.Account != 0:
		return "account:" + strconv.FormatInt(p.Account, 10)
	default:
		return p.Role + ":" + strconv.FormatInt(p.ID, 10)
	}
}

type sessionClaims struct {
	Role    string `json:"role"`
	Account int64  `json:"acct,omitempty"`
	jwt.RegisteredClaims
}

func (s *Service) issueSession(p principal) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(sessionTTL)
	c := sessionClaims{
		Role:    p.Role,
		Account: p.Account,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   strconv.FormatInt(p.ID, 10),
			Audience:  jwt.ClaimStrings{sessionAudience},
			Issuer:    "jobhall",
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
	if err != nil {
		return "", time.Time{}, apperr.Wrap(err, apperr.Internal, "sign session")
	}
	return tok, exp, nil
}

func (s *Service) parseSession(tok string) (principal, error) {
	if len(tok) > maxTokenLen {
		return principal{}, apperr.New(apperr.Unauthorized, "session token too long")
	}
	var c sessionClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(sessionAudience), jwt.WithIssuer("jobhall"),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return principal{}, apperr.Wrap(err, apperr.Unauthorized, "session expired, please sign in again")
		}
		return principal{}, apperr.Wrap(err, apperr.Unauthorized, "invalid session, please sign in again")
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if _, known := roleNames[c.Role]; err != nil || id <= 0 || !known || c.Account < 0 {
		return principal{}, apperr.New(apperr.Unauthorized, "invalid session, please sign in again")
	}
	return principal{Role: c.Role, ID: id, Account: c.Account}, nil
}

type principalKey struct{}

// sessionFrom returns the session the router already parsed, else reads
// the bearer token, else the cookie.
func (s *Service) sessionFrom(r *http.Request) (principal, error) {
	if p, ok := r.Context().Value(principalKey{}).(principal); ok {
		return p, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return principal{}, apperr.New(apperr.Unauthorized, "Authorization header must be \"Bearer <token>\"")
		}
		return s.parseSession(strings.TrimSpace(tok))
	}
	if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" {
		return s.parseSession(ck.Value)
	}
	return principal{}, apperr.New(apperr.Unauthorized, "请先登录 / please sign in first")
}

// require returns the session, checking that its role is one of roles
// when any are given.
func (s *Service) require(r *http.Request, roles ...string) (principal, error) {
	p, err := s.sessionFrom(r)
	if err != nil {
		return principal{}, err
	}
	if len(roles) == 0 || (len(roles) == 1 && roles[0] == "") || slices.Contains(roles, p.Role) {
		return p, nil
	}
	return principal{}, forbiddenRoles(p.Role, roles)
}

func forbiddenRoles(have string, roles []string) error {
	if len(roles) == 1 {
		switch roles[0] {
		case RoleSeeker:
			return apperr.New(apperr.Forbidden, "只有求职者可以这样做 / only job seekers can do this; you are signed in as %s", have)
		case RoleEmployer:
			return apperr.New(apperr.Forbidden, "只有招聘单位可以这样做 / only employers can do this; you are signed in as %s", have)
		}
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = roleNames[r]
	}
	return apperr.New(apperr.Forbidden, "您的角色无权这样做 / only %s can do this; you are signed in as %s", strings.Join(names, ", "), have)
}

func (s *Service) setSessionCookie(w http.ResponseWriter, r *http.Request, tok string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    tok,
		Path:     "/",
		Expires:  exp,
		MaxAge:   int(sessionTTL / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil || strings.HasPrefix(s.publicURL, "https://"),
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Service) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil || strings.HasPrefix(s.publicURL, "https://"), SameSite: http.SameSiteLaxMode,
	})
}
