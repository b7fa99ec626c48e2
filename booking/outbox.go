package booking

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"jobhall/internal/apperr"
)

// Notifier delivers an interview reminder to a seeker (SMS, app push).
type Notifier interface {
	Remind(ctx context.Context, r Reminder) error
}

// Reminder is one reminder due before an interview.
type Reminder struct {
	BookingID int64
	SeekerID  int64
	Phone     string
	Event     string // reminder.24h, reminder.1h, reminder.10m
	Start     time.Time
	Employer  string
	TimeZone  string
}

// reminders is the schedule of interview reminders, earliest first. A
// booking has one outbox row for all of them: it is written with the first
// reminder still ahead and, each time one is delivered, re-armed with the
// next (its event and due_at moved on), so a booking costs one outbox row
// instead of three. Delivery re-reads the booking, so a cancelled or moved
// booking's row stops there.
var reminders = []struct {
	event string
	ahead time.Duration
}{{"reminder.24h", 24 * time.Hour}, {"reminder.1h", time.Hour}, {"reminder.10m", 10 * time.Minute}}

// firstReminderSQL is a subquery giving (ev, ahead) of the first reminder
// of an interview starting at start that is still due after now (no row
// when none is), for a LATERAL join in the statement that books it.
func firstReminderSQL(start, now string) string {
	vals := ""
	for i, r := range reminders {
		if i > 0 {
			vals += ", "
		}
		vals += fmt.Sprintf("('%s', interval '%d seconds')", r.event, int64(r.ahead/time.Second))
	}
	return fmt.Sprintf("SELECT ev, ahead FROM (VALUES %s) AS rs(ev, ahead) WHERE %s - ahead > %s ORDER BY ahead DESC LIMIT 1", vals, start, now)
}

type logNotifier struct{ log *slog.Logger }

func (l logNotifier) Remind(ctx context.Context, r Reminder) error {
	l.log.InfoContext(ctx, "booking: interview reminder (demo: logged instead of sent)", "booking", r.BookingID, "seeker", r.SeekerID,
		"event", r.Event, "start", r.Start)
	return nil
}

const (
	// WebhookVersion is the payload version; it changes when fields change meaning.
	WebhookVersion   = 1
	maxAttempts      = 12
	deliverBatch     = 50
	maxWebhooksOwned = 20
	noShowAfter      = 5 * time.Minute
)

// SignWebhook is the X-Jobhall-Signature of body sent at ts:
// "sha256=" + hex(HMAC-SHA256(secret, ts + "." + body)).
func SignWebhook(secret string, ts int64, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

func (s *Service) handleCreateWebhook(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
		Secret string   `json:"secret"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.URL) > 500 {
		return apperr.New(apperr.Invalid, "url must be an absolute http(s) URL of at most 500 characters")
	}
	if len(in.Events) == 0 || len(in.Events) > len(Events) {
		return apperr.New(apperr.Invalid, "events must list 1 to %d of: %v", len(Events), Events)
	}
	for _, e := range in.Events {
		if !slices.Contains(Events, e) {
			return apperr.New(apperr.Invalid, "unknown event %q; events are %v", e, Events)
		}
	}
	if in.Secret == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		in.Secret = hex.EncodeToString(b)
	}
	if len(in.Secret) < 16 || len(in.Secret) > 200 {
		return apperr.New(apperr.Invalid, "secret must be 16 to 200 bytes")
	}
	var emp *int64
	if p.Role == RoleEmployer {
		emp = &p.ID
	}
	ctx := r.Context()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhooks WHERE employer_id IS NOT DISTINCT FROM $1 AND active`, emp).Scan(&n); err != nil {
		return internal(err, "count webhooks")
	}
	if n >= maxWebhooksOwned {
		return apperr.New(apperr.Conflict, "at most %d active webhooks", maxWebhooksOwned)
	}
	var id int64
	if err := s.pool.QueryRow(ctx, `INSERT INTO webhooks (employer_id, url, secret, events) VALUES ($1, $2, $3, $4) RETURNING id`,
		emp, in.URL, in.Secret, in.Events).Scan(&id); err != nil {
		return internal(err, "create webhook")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "url": in.URL, "events": in.Events, "secret": in.Secret, "version": WebhookVersion})
}

// RunBackground sweeps and delivers every interval until ctx ends.
func (s *Service) RunBackground(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "booking: sweep", "err", err)
		}
		if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "booking: outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep expires lapsed holds, marks no-shows (booked, started more than
// five minutes ago, the seeker never joined the room, no outcome yet) and
// forgets old idempotency keys and sign-in codes.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now()
	if _, err := s.pool.Exec(ctx, `UPDATE bookings SET status = 'expired' WHERE status = 'held' AND hold_expires_at <= $1`, now); err != nil {
		return fmt.Errorf("expire holds: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `WITH due AS (
			SELECT bk.id, bk.seeker_id, bk.booth_id, b.employer_id, lower(bk.during) AS start FROM bookings bk JOIN booths b ON b.id = bk.booth_id
			WHERE bk.status = 'booked' AND bk.seeker_joined_at IS NULL AND bk.id = bk.group_id
				AND lower(bk.during) <= $1::timestamptz - $2::interval AND lower(bk.during) > $1::timestamptz - interval '1 day'
				AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.booking_id = bk.id)
			FOR UPDATE OF bk SKIP LOCKED),
		o AS (INSERT INTO outcomes (booking_id, outcome, recorded_by, recorded_at) SELECT id, 'no_show', 'system', $1 FROM due
			ON CONFLICT DO NOTHING RETURNING booking_id),
		l AS (INSERT INTO employment_log (seeker_id, kind, at, booking_id, data)
			SELECT d.seeker_id, 'no_show', $1, d.id, jsonb_build_object('booking_id', d.id, 'start', d.start, 'marked_by', 'system')
			FROM due d JOIN o ON o.booking_id = d.id)
		INSERT INTO outbox (kind, event, webhook_id, booking_id, payload)
		SELECT 'webhook', 'booking.no_show', w.id, d.id, jsonb_build_object('booking_id', d.id, 'seeker_id', d.seeker_id, 'booth_id', d.booth_id, 'start', d.start)
		FROM due d JOIN o ON o.booking_id = d.id
			JOIN webhooks w ON w.active AND 'booking.no_show' = ANY (w.events) AND (w.employer_id IS NULL OR w.employer_id = d.employer_id)`,
		now, noShowAfter.String()); err != nil {
		return fmt.Errorf("mark no-shows: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, now.Add(-24*time.Hour)); err != nil {
		return fmt.Errorf("forget idempotency keys: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM otp_codes WHERE created_at < $1`, now.Add(-24*time.Hour)); err != nil {
		return fmt.Errorf("forget sign-in codes: %w", err)
	}
	return nil
}

type outboxRow struct {
	id        int64
	kind      string
	event     string
	webhookID *int64
	bookingID *int64
	payload   []byte
	attempts  int
	createdAt time.Time
	url       *string
	secret    *string
}

// DeliverDue delivers due outbox rows once each (at least once overall:
// a row is marked delivered only after its receiver accepted it). Rows
// are claimed with FOR UPDATE SKIP LOCKED so several nodes can share the
// work. It returns how many rows were delivered.
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	s.dispatching.Lock()
	defer s.dispatching.Unlock()
	now := s.now()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	rows, err := tx.Query(ctx, `SELECT o.id, o.kind, o.event, o.webhook_id, o.booking_id, o.payload, o.attempts, o.created_at, w.url, w.secret
		FROM outbox o LEFT JOIN webhooks w ON w.id = o.webhook_id
		WHERE o.delivered_at IS NULL AND o.dropped_at IS NULL AND o.due_at <= $1
		ORDER BY o.due_at, o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED`, now, deliverBatch)
	if err != nil {
		return 0, err
	}
	due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
		var o outboxRow
		err := row.Scan(&o.id, &o.kind, &o.event, &o.webhookID, &o.bookingID, &o.payload, &o.attempts, &o.createdAt, &o.url, &o.secret)
		return o, err
	})
	if err != nil {
		return 0, err
	}
	delivered := 0
	for _, o := range due {
		var derr error
		var rearm *rearmed
		switch o.kind {
		case "webhook":
			derr = s.sendWebhook(ctx, o, now)
		case "recommendation":
			derr = s.sendRecommendation(ctx, tx, o)
		default:
			rearm, derr = s.sendReminder(ctx, tx, o)
		}
		if derr == nil && rearm != nil {
			// Delivered; the same row now waits for the booking's next reminder.
			delivered++
			if err := rearm.apply(ctx, tx, o.id, nil); err != nil {
				return delivered, err
			}
			continue
		}
		if derr == nil {
			delivered++
			if _, err := tx.Exec(ctx, `UPDATE outbox SET delivered_at = $2, attempts = attempts + 1, last_error = NULL WHERE id = $1`, o.id, now); err != nil {
				return delivered, err
			}
			continue
		}
		s.log.WarnContext(ctx, "booking: outbox delivery failed", "id", o.id, "event", o.event, "attempt", o.attempts+1, "err", derr)
		// Exponential backoff: 2 s, 4 s, … up to an hour; dropped after maxAttempts.
		backoff := min(time.Duration(1<<min(o.attempts+1, 12))*time.Second, time.Hour)
		var dropped *time.Time
		msg := derr.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		if o.attempts+1 >= maxAttempts {
			var p reminderPayload
			if o.kind == "reminder" && json.Unmarshal(o.payload, &p) == nil {
				if next := nextRearm(o.event, p.Start); next != nil {
					// Give up on this reminder only: the row moves on to the next.
					if err := next.apply(ctx, tx, o.id, &msg); err != nil {
						return delivered, err
					}
					continue
				}
			}
			dropped = &now
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, due_at = $2, last_error = $3, dropped_at = $4 WHERE id = $1`,
			o.id, now.Add(backoff), msg, dropped); err != nil {
			return delivered, err
		}
	}
	return delivered, tx.Commit(ctx)
}

func (s *Service) sendWebhook(ctx context.Context, o outboxRow, now time.Time) error {
	if o.url == nil || o.secret == nil {
		return fmt.Errorf("webhook %v is gone", o.webhookID)
	}
	body, err := json.Marshal(map[string]any{"version": WebhookVersion, "id": o.id, "event": o.event,
		"created_at": o.createdAt.UTC(), "data": json.RawMessage(o.payload)})
	if err != nil {
		return err
	}
	ts := now.Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *o.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jobhall-webhooks/1")
	req.Header.Set("X-Jobhall-Event", o.event)
	req.Header.Set("X-Jobhall-Delivery", strconv.FormatInt(o.id, 10))
	req.Header.Set("X-Jobhall-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Jobhall-Signature", SignWebhook(*o.secret, ts, body))
	res, err := s.webhooks.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("receiver answered %s", res.Status)
	}
	return nil
}

// rearmed is the reminder a reminder row waits for next.
type rearmed struct {
	event string
	due   time.Time
}

// reminderPayload is what a reminder row carries.
type reminderPayload struct {
	BookingID int64     `json:"booking_id"`
	Start     time.Time `json:"start"`
}

// nextRearm is the reminder after event for an interview at start, or nil
// after the last one.
func nextRearm(event string, start time.Time) *rearmed {
	for i, r := range reminders[:len(reminders)-1] {
		if r.event == event {
			next := reminders[i+1]
			return &rearmed{event: next.event, due: start.Add(-next.ahead)}
		}
	}
	return nil
}

// apply re-arms outbox row id with r, its attempts counted afresh;
// lastErr is why the previous reminder was given up (nil: it was sent).
func (r *rearmed) apply(ctx context.Context, tx pgx.Tx, id int64, lastErr *string) error {
	_, err := tx.Exec(ctx, `UPDATE outbox SET event = $2, due_at = $3, attempts = 0, last_error = $4 WHERE id = $1`,
		id, r.event, r.due, lastErr)
	return err
}

// sendReminder sends the row's reminder and returns the next one of the
// schedule, if any. Reminders of bookings that were cancelled or moved are
// skipped, and their row is done.
func (s *Service) sendReminder(ctx context.Context, tx pgx.Tx, o outboxRow) (*rearmed, error) {
	var p reminderPayload
	if err := json.Unmarshal(o.payload, &p); err != nil {
		return nil, err
	}
	var rem Reminder
	var status string
	err := tx.QueryRow(ctx, `SELECT bk.seeker_id, sk.phone, lower(bk.during), e.name, f.time_zone, bk.status
		FROM bookings bk JOIN seekers sk ON sk.id = bk.seeker_id JOIN booths b ON b.id = bk.booth_id
		JOIN employers e ON e.id = b.employer_id JOIN fairs f ON f.id = b.fair_id WHERE bk.id = $1`, p.BookingID).
		Scan(&rem.SeekerID, &rem.Phone, &rem.Start, &rem.Employer, &rem.TimeZone, &status)
	if err != nil {
		return nil, err
	}
	if status != "booked" || !rem.Start.Equal(p.Start) {
		return nil, nil // nothing to remind of any more
	}
	rem.BookingID, rem.Event = p.BookingID, o.event
	if err := s.notifier.Remind(ctx, rem); err != nil {
		return nil, err
	}
	return nextRearm(o.event, p.Start), nil
}

// roomWebhooks maps room events to webhook events.
var roomWebhooks = map[string]string{
	KindInterviewStarted: EventInterviewStarted,
	KindInterviewEnded:   EventInterviewEnded,
	KindRecordingSaved:   EventRecordingReady,
}
