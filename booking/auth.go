package booking

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
)

// SMSSender delivers a sign-in code to a phone. A real gateway implements
// it; LogSMS writes the code to the log for the demo.
type SMSSender interface {
	SendCode(ctx context.Context, phone, code string) error
}

// LogSMS "sends" codes by logging them (demo and development only).
type LogSMS struct{ Logger *slog.Logger }

// SendCode logs the code.
func (l LogSMS) SendCode(ctx context.Context, phone, code string) error {
	l.Logger.InfoContext(ctx, "booking: sign-in code (demo: printed instead of sent by SMS)", "phone", phone, "code", code)
	return nil
}

const (
	otpTTL        = 5 * time.Minute
	otpResend     = time.Minute // at most one code per phone per minute
	otpPerHour    = 5
	otpMaxTries   = 5
	minPassword   = 10
	maxPassword   = 200
	otpLockPrefix = "otp:"
)

var phoneRE = regexp.MustCompile(`^1[0-9]{10}$`)

func (s *Service) otpHash(phone, code string) []byte {
	h := hmac.New(sha256.New, s.idHMACKey)
	h.Write([]byte("otp\x00" + phone + "\x00" + code))
	return h.Sum(nil)
}

func (s *Service) handleOTPRequest(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Phone string `json:"phone"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if !phoneRE.MatchString(in.Phone) {
		return apperr.New(apperr.Invalid, "手机号无效 / phone must be an 11-digit mainland mobile number starting with 1")
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return internal(err, "generate code")
	}
	code := fmt.Sprintf("%06d", n.Int64())
	now := s.now()
	ctx := r.Context()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "database unavailable")
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	// Serialize per phone so the rate limit cannot be raced.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, otpLockPrefix+in.Phone); err != nil {
		return internal(err, "lock phone")
	}
	var lastMinute, lastHour int
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE created_at > $2), count(*) FROM otp_codes WHERE phone = $1 AND created_at > $3`,
		in.Phone, now.Add(-otpResend), now.Add(-time.Hour)).Scan(&lastMinute, &lastHour); err != nil {
		return internal(err, "count codes")
	}
	if lastMinute > 0 || lastHour >= otpPerHour {
		return apperr.New(apperr.RateLimited, "验证码发送太频繁，请稍后再试 / too many codes for this phone; wait a minute (at most %d an hour)", otpPerHour)
	}
	exp := now.Add(otpTTL)
	if _, err := tx.Exec(ctx, `INSERT INTO otp_codes (phone, code_hash, expires_at, created_at) VALUES ($1, $2, $3, $4)`,
		in.Phone, s.otpHash(in.Phone, code), exp, now); err != nil {
		return internal(err, "store code")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "store code")
	}
	if err := s.sms.SendCode(ctx, in.Phone, code); err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "短信发送失败 / the code could not be sent; try again later")
	}
	return writeJSON(w, http.StatusAccepted, map[string]any{"phone": in.Phone, "expires_at": exp.UTC(), "resend_after": now.Add(otpResend).UTC()})
}

func (s *Service) handleOTPVerify(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Phone string `json:"phone"`
		Code  string `json:"code"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if !phoneRE.MatchString(in.Phone) {
		return apperr.New(apperr.Invalid, "手机号无效 / phone must be an 11-digit mainland mobile number starting with 1")
	}
	if len(in.Code) != 6 || strings.Trim(in.Code, "0123456789") != "" {
		return apperr.New(apperr.Invalid, "验证码是6位数字 / code must be 6 digits")
	}
	ctx := r.Context()
	now := s.now()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "database unavailable")
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var id int64
	var hash []byte
	var attempts int
	err = tx.QueryRow(ctx, `SELECT id, code_hash, attempts FROM otp_codes
		WHERE phone = $1 AND used_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 1 FOR UPDATE`, in.Phone, now).
		Scan(&id, &hash, &attempts)
	if isNoRows(err) {
		return apperr.New(apperr.Unauthorized, "验证码无效或已过期 / the code is wrong or expired; request a new one")
	}
	if err != nil {
		return internal(err, "read code")
	}
	if attempts >= otpMaxTries {
		return apperr.New(apperr.RateLimited, "尝试次数过多 / too many wrong codes; request a new one")
	}
	if !hmac.Equal(hash, s.otpHash(in.Phone, in.Code)) {
		if _, err := tx.Exec(ctx, `UPDATE otp_codes SET attempts = attempts + 1 WHERE id = $1`, id); err != nil {
			return internal(err, "count attempt")
		}
		if err := tx.Commit(ctx); err != nil {
			return internal(err, "count attempt")
		}
		return apperr.New(apperr.Unauthorized, "验证码无效或已过期 / the code is wrong or expired; request a new one")
	}
	if _, err := tx.Exec(ctx, `UPDATE otp_codes SET used_at = $2 WHERE id = $1`, id, now); err != nil {
		return internal(err, "use code")
	}
	// A new phone registers a seeker; the name can be changed in the profile.
	created := false
	var seekerID int64
	var name string
	err = tx.QueryRow(ctx, `SELECT id, name FROM seekers WHERE phone = $1`, in.Phone).Scan(&seekerID, &name)
	if isNoRows(err) {
		name = "求职者" + in.Phone[7:]
		err = tx.QueryRow(ctx, `INSERT INTO seekers (name, phone) VALUES ($1, $2) RETURNING id`, name, in.Phone).Scan(&seekerID)
		created = true
	}
	if err != nil {
		return internal(err, "find or register seeker")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "sign in")
	}
	return s.startSession(w, r, principal{Role: RoleSeeker, ID: seekerID}, name, map[string]any{"registered": created})
}

func (s *Service) startSession(w http.ResponseWriter, r *http.Request, p principal, name string, extra map[string]any) error {
	tok, exp, err := s.issueSession(p)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, tok, exp)
	out := map[string]any{"token": tok, "role": p.Role, "id": p.ID, "name": name, "expires_at": exp.UTC()}
	if p.Account != 0 {
		out["account_id"] = p.Account
	}
	for k, v := range extra {
		out[k] = v
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Login == "" || len(in.Login) > 64 || in.Password == "" || len(in.Password) > maxPassword {
		return apperr.New(apperr.Invalid, "请输入账号和密码 / login and password are required (password at most %d bytes)", maxPassword)
	}
	var id int64
	var empID *int64
	var name, role, hash string
	var disabled bool
	err := s.pool.QueryRow(r.Context(), `SELECT id, employer_id, name, role, password_hash, disabled FROM accounts WHERE login = $1`,
		strings.ToLower(in.Login)).Scan(&id, &empID, &name, &role, &hash, &disabled)
	if err != nil && !isNoRows(err) {
		return internal(err, "look up account")
	}
	if err != nil {
		checkPassword(s.dummyHash(), in.Password) // same cost as a real check
		return apperr.New(apperr.Unauthorized, "账号或密码错误 / wrong login or password")
	}
	if !checkPassword(hash, in.Password) {
		return apperr.New(apperr.Unauthorized, "账号或密码错误 / wrong login or password")
	}
	if disabled {
		return apperr.New(apperr.Forbidden, "账号已停用 / this account is disabled")
	}
	p := principal{Role: role, ID: id, Account: id}
	if role == RoleEmployer && empID != nil {
		p.ID = *empID
	}
	return s.startSession(w, r, p, name, nil)
}

// CreateAccount adds a password account and returns its id. employerID is
// required for employer staff and must be 0 for everyone else.
func (s *Service) CreateAccount(ctx context.Context, login, name, role, password string, employerID int64) (int64, error) {
	login = strings.ToLower(strings.TrimSpace(login))
	name = strings.TrimSpace(name)
	switch {
	case role != RoleEmployer && role != RoleTrainer && role != RoleOfficer && role != RoleAdmin:
		return 0, apperr.New(apperr.Invalid, `role must be "employer", "trainer", "officer" or "admin"`)
	case !loginRE.MatchString(login):
		return 0, apperr.New(apperr.Invalid, "login must be 3 to 64 characters: lower-case letters, digits, . _ @ -")
	case name == "" || utf8.RuneCountInString(name) > 100:
		return 0, apperr.New(apperr.Invalid, "name must be 1 to 100 characters")
	case len(password) < minPassword || len(password) > maxPassword:
		return 0, apperr.New(apperr.Invalid, "密码至少%d位 / password must be %d to %d bytes", minPassword, minPassword, maxPassword)
	case (role == RoleEmployer) != (employerID > 0):
		return 0, apperr.New(apperr.Invalid, "employer_id is required for employer staff and not allowed for other roles")
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return 0, internal(err, "hash password")
	}
	var emp *int64
	if employerID > 0 {
		emp = &employerID
	}
	var id int64
	err = s.pool.QueryRow(ctx, `INSERT INTO accounts (login, name, role, employer_id, password_hash) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		login, name, role, emp, hash).Scan(&id)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return 0, apperr.New(apperr.Conflict, "账号已存在 / login %q is taken", login)
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return 0, apperr.New(apperr.NotFound, "没有这个单位 / no employer with id %d", employerID)
	case err != nil:
		return 0, internal(err, "create account")
	}
	return id, nil
}

var loginRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{2,63}$`)

// EnsureAdmin creates the administrator login with password unless an
// account with that login exists (bootstrap for a fresh install).
func (s *Service) EnsureAdmin(ctx context.Context, login, password string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE login = $1)`, strings.ToLower(login)).Scan(&exists); err != nil {
		return fmt.Errorf("booking: ensure admin: %w", err)
	}
	if exists {
		return nil
	}
	_, err := s.CreateAccount(ctx, login, "管理员 Administrator", RoleAdmin, password, 0)
	if apperr.CodeOf(err) == apperr.Conflict {
		return nil // created concurrently
	}
	return err
}

func (s *Service) handleCreateAccount(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Login      string `json:"login"`
		Name       string `json:"name"`
		Role       string `json:"role"`
		Password   string `json:"password"`
		EmployerID int64  `json:"employer_id"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	id, err := s.CreateAccount(r.Context(), in.Login, in.Name, in.Role, in.Password, in.EmployerID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "login": strings.ToLower(strings.TrimSpace(in.Login)),
		"name": strings.TrimSpace(in.Name), "role": in.Role, "employer_id": in.EmployerID})
}

func (s *Service) handleCreateEmployer(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name     string `json:"name"`
		Industry string `json:"industry"`
		County   string `json:"county"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := textField("name", in.Name, 1, 200); err != nil {
		return err
	}
	if err := textField("industry", in.Industry, 0, 100); err != nil {
		return err
	}
	if err := textField("county", in.County, 0, 50); err != nil {
		return err
	}
	var id int64
	if err := s.pool.QueryRow(r.Context(), `INSERT INTO employers (name, industry, county) VALUES ($1, $2, $3) RETURNING id`,
		strings.TrimSpace(in.Name), in.Industry, in.County).Scan(&id); err != nil {
		return internal(err, "create employer")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "name": strings.TrimSpace(in.Name), "verified": false})
}

func (s *Service) handleVerifyEmployer(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var by *int64
	if p.Account != 0 {
		by = &p.Account
	}
	var name string
	err = s.pool.QueryRow(r.Context(), `UPDATE employers SET verified = true, verified_at = coalesce(verified_at, $2),
		verified_by = coalesce(verified_by, $3) WHERE id = $1 RETURNING name`, id, s.now(), by).Scan(&name)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "没有这个单位 / no employer with id %d", id)
	}
	if err != nil {
		return internal(err, "verify employer")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": id, "name": name, "verified": true})
}

// textField checks a free-text field's length in characters.
func textField(name, v string, lo, hi int) error {
	n := utf8.RuneCountInString(strings.TrimSpace(v))
	if !utf8.ValidString(v) || n < lo || n > hi {
		if lo > 0 {
			return apperr.New(apperr.Invalid, "%s must be %d to %d characters", name, lo, hi)
		}
		return apperr.New(apperr.Invalid, "%s must be at most %d characters", name, hi)
	}
	return nil
}
