// Package booking owns fairs, booths, interview slots and bookings, stored
// in PostgreSQL, which enforces correctness (no double booking, an
// append-only employment log). It serves the booking HTTP API.
package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"jobhall/internal/apperr"
	"jobhall/internal/roomtoken"
)

// Config configures a Service.
type Config struct {
	Pool          *pgxpool.Pool
	Tokens        *roomtoken.Issuer // signs join links
	SessionSecret []byte            // signs session cookies/bearer tokens (HMAC)
	PublicURL     string            // base URL for join links, e.g. "http://127.0.0.1:8080"
	Demo          bool              // enables the demo sign-in endpoints
	Now           func() time.Time  // nil = time.Now
	Logger        *slog.Logger
}

// Service is the booking domain and its HTTP API.
type Service struct {
	pool      *pgxpool.Pool
	tokens    *roomtoken.Issuer
	secret    []byte
	publicURL string
	demo      bool
	now       func() time.Time
	log       *slog.Logger

	zones sync.Map // time zone name -> *time.Location
}

// Room event kinds accepted by RecordRoomEvent.
const (
	KindInterviewStarted = "interview_started"
	KindInterviewEnded   = "interview_ended"
	KindRecordingSaved   = "recording_saved"
	KindBookingMade      = "booking_made"
)

// joinGrace is how long after a slot ends its join links still work.
const joinGrace = 30 * time.Minute

// NewService checks cfg and returns a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Pool == nil {
		return nil, errors.New("booking: Config.Pool is required")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("booking: Config.Tokens is required")
	}
	if len(cfg.SessionSecret) < 16 {
		return nil, errors.New("booking: Config.SessionSecret must be at least 16 bytes")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("booking: Config.PublicURL must be an absolute http(s) URL, got %q", cfg.PublicURL)
	}
	s := &Service{
		pool:      cfg.Pool,
		tokens:    cfg.Tokens,
		secret:    append([]byte(nil), cfg.SessionSecret...),
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		demo:      cfg.Demo,
		now:       cfg.Now,
		log:       cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// RoomForBooking names the media room of a booking's interview.
func RoomForBooking(bookingID int64) string { return "interview-" + strconv.FormatInt(bookingID, 10) }

// BookingForRoom is the inverse of RoomForBooking.
func BookingForRoom(roomID string) (int64, bool) {
	num, ok := strings.CutPrefix(roomID, "interview-")
	if !ok || num == "" || len(num) > 19 || num[0] == '0' {
		return 0, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// maxEventData bounds the JSON recorded with one room event.
const maxEventData = 64 << 10

// RecordRoomEvent appends kind to the employment log of the seeker whose
// booking is behind roomID. at zero means now.
func (s *Service) RecordRoomEvent(ctx context.Context, roomID, kind string, at time.Time, data map[string]any) error {
	switch kind {
	case KindInterviewStarted, KindInterviewEnded, KindRecordingSaved:
	default:
		return apperr.New(apperr.Invalid, "unknown room event kind %q", kind)
	}
	id, ok := BookingForRoom(roomID)
	if !ok {
		return apperr.New(apperr.NotFound, "no booking behind room %q", roomID)
	}
	if at.IsZero() {
		at = s.now()
	}
	d := make(map[string]any, len(data)+1)
	for k, v := range data {
		d[k] = v
	}
	if _, set := d["room"]; !set {
		d["room"] = roomID
	}
	body, err := json.Marshal(d)
	if err != nil {
		return apperr.Wrap(err, apperr.Invalid, "room event data is not JSON")
	}
	if len(body) > maxEventData {
		return apperr.New(apperr.TooLarge, "room event data over %d bytes", maxEventData)
	}
	var logID int64
	err = s.pool.QueryRow(ctx, `INSERT INTO employment_log (seeker_id, kind, at, booking_id, data)
		SELECT seeker_id, $2, $3, id, $4 FROM bookings WHERE id = $1 RETURNING id`, id, kind, at, body).Scan(&logID)
	if err != nil {
		if isNoRows(err) {
			return apperr.New(apperr.NotFound, "no booking behind room %q", roomID)
		}
		return apperr.Wrap(err, apperr.Internal, "record room event")
	}
	return nil
}

// zone loads and caches a fair's time zone.
func (s *Service) zone(name string) *time.Location {
	if v, ok := s.zones.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		s.log.Warn("booking: unknown fair time zone, using Asia/Shanghai", "zone", name, "err", err)
		loc = shanghai
	}
	s.zones.Store(name, loc)
	return loc
}

// joinURL issues a room token for g and wraps it in a link.
func (s *Service) joinURL(g roomtoken.Grant) (string, error) {
	tok, err := s.tokens.Issue(g)
	if err != nil {
		return "", apperr.Wrap(err, apperr.Internal, "issue room token")
	}
	return s.publicURL + "/room?token=" + url.QueryEscape(tok), nil
}
