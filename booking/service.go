// Package booking owns fairs, booths, interview slots and bookings, stored
// in PostgreSQL, which enforces correctness (no double booking, an
// append-only employment log). It serves the booking HTTP API.
//
// Concurrency: request goroutines share the pool and three in-process
// caches, each behind its own mutex (slotCache, factsCache, the zone map);
// none is the guard of correctness. Single-slot bookings and
// Idempotency-Key writes under load go through batchers (batcher.go): no
// goroutine of their own, a request that finds a free place runs a batch
// on its goroutine and hands the lead to the oldest waiting request;
// batcher.mu guards the queue and the count of running batches, and a
// request's result fields are written by its batch's leader before its done
// channel closes. Background work (RunBackground, RunMonitor, RunMatching,
// schedule runs) is started by cmd/jobhall.
package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

	// DataKey (≥16 bytes) protects personal data: national IDs are
	// encrypted and hashed with keys derived from it. nil = derived from
	// SessionSecret.
	DataKey []byte
	// SMS sends sign-in codes; nil = LogSMS (the code goes to the log).
	SMS SMSSender
	// Notifier delivers interview reminders; nil = written to the log.
	Notifier Notifier
	// Webhooks delivers webhook requests; nil = a client with a 10 s timeout.
	Webhooks *http.Client
	// HoldTTL is how long a seeker's hold lasts; 0 = 10 minutes.
	HoldTTL time.Duration
	// PasswordIterations is the PBKDF2-SHA256 work factor for new
	// passwords; 0 = 600,000 (tests use fewer).
	PasswordIterations int

	// Matching (matching.go): how often RunMatching rebuilds the index
	// (0 = 30 minutes), how many seekers a new job post is pushed to
	// (0 = 50) and the least score for a push (0 = 0.55).
	MatchRebuild time.Duration
	PushTop      int
	PushMinScore float64

	// Recordings opens recorded media for playback and mirrors legal holds
	// onto archived objects (recordings.go); nil = local files only.
	Recordings RecordingFiles
}

// Service is the booking domain and its HTTP API.
type Service struct {
	pool      *pgxpool.Pool
	tokens    *roomtoken.Issuer
	secret    []byte
	publicURL string
	demo      bool
	now       func() time.Time
	slots     *slotCache  // booth-day free-slot answers, for a second
	facts     *factsCache // what never changes about a slot (reserve)
	log       *slog.Logger

	dataKey     []byte // AES-256-GCM key for national IDs
	idHMACKey   []byte // HMAC key for national ID uniqueness
	feedKey     []byte // HMAC key for calendar feed tokens
	sms         SMSSender
	notifier    Notifier
	webhooks    *http.Client
	holdTTL     time.Duration
	pwIter      int
	dispatching sync.Mutex // one outbox pass at a time per process
	dummyOnce   sync.Once
	dummy       string
	openapiOnce sync.Once
	openapiJSON []byte

	zones sync.Map // time zone name -> *time.Location

	qrKey        []byte // HMAC key for fair check-in QR codes
	alertMu      sync.Mutex
	alertSubs    map[chan AlertEvent]struct{}
	alertDropped atomic.Int64
	streamsDone  chan struct{} // closed by CloseStreams
	streamsOnce  sync.Once

	match    matchState      // matching.go
	runs     sync.WaitGroup  // background schedule runs (schedule.go)
	runsCtx  context.Context // cancelled by Close
	runsStop context.CancelFunc

	recFiles RecordingFiles // recordings.go

	group  *batcher[groupReq, slotSeeker] // group.go: bookings written together under load
	claims *batcher[keyClaim, keyID]      // routes.go: Idempotency-Keys claimed together
	stores *batcher[keyStore, keyID]      // routes.go: their answers stored together
}

// Room event kinds accepted by RecordRoomEvent.
const (
	KindInterviewStarted = "interview_started"
	KindInterviewEnded   = "interview_ended"
	KindRecordingSaved   = "recording_saved"
	KindBookingMade      = "booking_made"

	// Recording kinds (recordings.go): a failure with its reason, a file
	// finalized after a crash, a finished post-processing job, and each
	// participant's consent (or refusal) when recording starts.
	KindRecordingFailed     = "recording_failed"
	KindRecordingIncomplete = "recording_incomplete"
	KindRecordingProcessed  = "recording_processed"
	KindRecordingConsent    = "recording_consent"
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
		slots:     newSlotCache(time.Second),
		facts:     newFactsCache(),
		pool:      cfg.Pool,
		tokens:    cfg.Tokens,
		secret:    append([]byte(nil), cfg.SessionSecret...),
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		demo:      cfg.Demo,
		now:       cfg.Now,
		log:       cfg.Logger,
	}
	s.group, s.claims, s.stores = s.newBookingBatcher(), s.newClaimBatcher(), s.newStoreBatcher()
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	root := cfg.DataKey
	if root == nil {
		root = cfg.SessionSecret
	}
	if len(root) < 16 {
		return nil, errors.New("booking: Config.DataKey must be at least 16 bytes")
	}
	s.dataKey, s.idHMACKey, s.feedKey = deriveKey(root, "national-id-aes"), deriveKey(root, "national-id-hmac"), deriveKey(root, "calendar-feed")
	s.qrKey, s.streamsDone = deriveKey(root, "fair-qr"), make(chan struct{})
	s.sms, s.notifier, s.webhooks = cfg.SMS, cfg.Notifier, cfg.Webhooks
	if s.sms == nil {
		s.sms = LogSMS{Logger: s.log}
	}
	if s.notifier == nil {
		s.notifier = logNotifier{s.log}
	}
	if s.webhooks == nil {
		s.webhooks = &http.Client{Timeout: 10 * time.Second}
	}
	s.holdTTL, s.pwIter = cfg.HoldTTL, cfg.PasswordIterations
	if s.holdTTL <= 0 {
		s.holdTTL = 10 * time.Minute
	}
	if s.pwIter <= 0 {
		s.pwIter = 600_000
	}
	s.match.init(cfg)
	s.recFiles = cfg.Recordings
	s.runsCtx, s.runsStop = context.WithCancel(context.Background())
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
// booking is behind roomID and queues the matching webhook in the same
// statement. KindSeekerJoined only marks attendance (no log entry) so the
// no-show sweep leaves the booking alone. at zero means now. Training
// rooms ("course-<id>") take KindParticipantJoined/Left with the seeker's
// identity in data["identity"] (attendance); consultation rooms
// ("consult-<id>") log nothing but a consented recording.
func (s *Service) RecordRoomEvent(ctx context.Context, roomID, kind string, at time.Time, data map[string]any) error {
	if at.IsZero() {
		at = s.now()
	}
	if id, ok := SessionForRoom(roomID); ok {
		return s.recordSessionEvent(ctx, id, kind, at, data)
	}
	if id, ok := ConsultationForRoom(roomID); ok {
		return s.recordConsultationEvent(ctx, id, kind, at, data)
	}
	id, ok := BookingForRoom(roomID)
	if !ok {
		return apperr.New(apperr.NotFound, "no booking behind room %q", roomID)
	}
	switch kind {
	case KindInterviewStarted, KindInterviewEnded, KindRecordingSaved, KindSeekerJoined,
		KindRecordingFailed, KindRecordingIncomplete, KindRecordingProcessed, KindRecordingConsent:
	default:
		return apperr.New(apperr.Invalid, "unknown room event kind %q", kind)
	}
	if at.IsZero() {
		at = s.now()
	}
	if kind == KindSeekerJoined {
		tag, err := s.pool.Exec(ctx, `UPDATE bookings SET seeker_joined_at = coalesce(seeker_joined_at, $2) WHERE group_id = $1`, id, at)
		if err != nil {
			return apperr.Wrap(err, apperr.Internal, "record seeker joined")
		}
		if tag.RowsAffected() == 0 {
			return apperr.New(apperr.NotFound, "no booking behind room %q", roomID)
		}
		return nil
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
	err = s.pool.QueryRow(ctx, `WITH bk AS (SELECT bk.id, bk.seeker_id, b.employer_id FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE bk.id = $1),
		seen AS (UPDATE bookings SET seeker_joined_at = coalesce(seeker_joined_at, $3)
			WHERE group_id = $1 AND $2 = 'interview_started'),
		wh AS (INSERT INTO outbox (kind, event, webhook_id, booking_id, payload)
			SELECT 'webhook', $5, w.id, bk.id, ($4::jsonb - 'file') || jsonb_build_object('booking_id', bk.id, 'seeker_id', bk.seeker_id, 'at', $3::timestamptz)
			FROM bk JOIN webhooks w ON w.active AND $5 = ANY (w.events) AND (w.employer_id IS NULL OR w.employer_id = bk.employer_id))
		INSERT INTO employment_log (seeker_id, kind, at, booking_id, data)
		SELECT seeker_id, $2, $3, id, $4 FROM bk RETURNING id`, id, kind, at, body, roomWebhooks[kind]).Scan(&logID)
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
