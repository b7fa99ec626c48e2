package booking

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"jobhall/internal/apperr"
)

// Session roles.
const (
	RoleSeeker   = "seeker"
	RoleEmployer = "employer"
)

const (
	// SessionCookie carries the session token for browsers.
	SessionCookie = "jh_session"
	// sessionAudience keeps room tokens and session tokens apart.
	sessionAudience = "jobhall-session"
	sessionTTL      = 12 * time.Hour
	maxTokenLen     = 4096
)

type principal struct {
	Role string
	ID   int64
}

type sessionClaims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

func (s *Service) issueSession(p principal) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(sessionTTL)
	c := sessionClaims{
		Role: p.Role,
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
	if err != nil || id <= 0 || (c.Role != RoleSeeker && c.Role != RoleEmployer) {
		return principal{}, apperr.New(apperr.Unauthorized, "invalid session, please sign in again")
	}
	return principal{Role: c.Role, ID: id}, nil
}

// sessionFrom reads the bearer token, else the cookie.
func (s *Service) sessionFrom(r *http.Request) (principal, error) {
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

// require returns the session, checking its role when role is not empty.
func (s *Service) require(r *http.Request, role string) (principal, error) {
	p, err := s.sessionFrom(r)
	if err != nil {
		return principal{}, err
	}
	if role != "" && p.Role != role {
		switch role {
		case RoleSeeker:
			return principal{}, apperr.New(apperr.Forbidden, "only job seekers can do this; you are signed in as %s", p.Role)
		default:
			return principal{}, apperr.New(apperr.Forbidden, "only employers can do this; you are signed in as %s", p.Role)
		}
	}
	return p, nil
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
