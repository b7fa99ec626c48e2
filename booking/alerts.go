package booking

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"jobhall/internal/apperr"
)

// Monitoring and early warning. Each rule is a query over live data with
// an officer-set threshold; EvaluateAlerts runs them all under one
// advisory lock (so several nodes never race), stores what fires with at
// most one open alert per rule and subject, clears what no longer fires,
// and pushes raised, cleared and acknowledged alerts to subscribers.

// Alert rules.
const (
	RuleQueueWait        = "queue_wait"         // minutes the longest walk-in has waited at a booth
	RuleBoothIdle        = "booth_idle"         // minutes a present booth has had no interview activity
	RuleNoShowRate       = "no_show_rate"       // % of a fair's interviews due in the last hour that were no-shows
	RuleBookingFill      = "booking_fill"       // % of a fair's open slots booked, in the day before it
	RuleJobPostFlagged   = "job_post_flagged"   // reports against a published post (or its employer unverified)
	RulePovertyNoContact = "poverty_no_contact" // days since a registered poverty-alleviation seeker was last contacted
)

type ruleSpec struct {
	unit     string
	min, max float64
	zh, en   string
}

var ruleSpecs = map[string]ruleSpec{
	RuleQueueWait:        {"minutes", 1, 240, "排队等待超过X分钟", "a booth's queue wait above X minutes"},
	RuleBoothIdle:        {"minutes", 5, 480, "展位空闲超过X分钟", "a booth idle for X minutes during the fair"},
	RuleNoShowRate:       {"percent", 1, 100, "近一小时爽约率超过X%", "no-show rate above X% in the last hour"},
	RuleBookingFill:      {"percent", 1, 100, "开幕前一天预约率低于X%", "booking fill rate below X% a day before the fair"},
	RuleJobPostFlagged:   {"reports", 1, 100, "岗位被举报X次或单位未认证", "a job post reported X times or its employer unverified"},
	RulePovertyNoContact: {"days", 1, 365, "帮扶对象X天未联系", "a registered poverty-alleviation seeker without contact for X days"},
}

// RuleNames lists the rules in a stable order.
var RuleNames = []string{RuleQueueWait, RuleBoothIdle, RuleNoShowRate, RuleBookingFill, RuleJobPostFlagged, RulePovertyNoContact}

// noShowMinSample: the no-show rate is judged on at least this many interviews.
const noShowMinSample = 5

// contactKinds are employment-log entries that count as contact with a seeker.
var contactKinds = []string{KindFollowUp, KindInterviewStarted, KindOutcomeRecorded, KindWalkInOutcome, KindFairCheckedIn,
	KindTrainingCert, KindConsultBooked}

// Alert is a stored alert.
type Alert struct {
	ID         int64      `json:"id"`
	Rule       string     `json:"rule"`
	Subject    string     `json:"subject"`
	FairID     *int64     `json:"fair_id"`
	Value      float64    `json:"value"`
	Threshold  float64    `json:"threshold"`
	Message    string     `json:"message"`
	RaisedAt   time.Time  `json:"raised_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ClearedAt  *time.Time `json:"cleared_at"`
	AckedAt    *time.Time `json:"acked_at"`
	AckedBy    *string    `json:"acked_by"`
}

// AlertEvent is pushed to subscribers: Type is "raised", "cleared" or "acked".
type AlertEvent struct {
	Type  string `json:"type"`
	Alert Alert  `json:"alert"`
	// Remote marks an event another node raised (DeliverAlert): a bridge
	// between nodes must not send it on again.
	Remote bool `json:"-"`
}

const alertCols = `id, rule, subject, fair_id, value, threshold, message, raised_at, last_seen_at, cleared_at, acked_at, acked_by`

// firing is one subject over its rule's threshold.
type firing struct {
	subject string
	fairID  int64 // 0: none
	value   float64
	message string
}

// ruleQueries return (subject, fair_id or 0, value, label, extra) for what
// fires at $1 (now) with threshold $2.
var ruleQueries = map[string]string{
	RuleQueueWait: `SELECT 'booth:' || q.booth_id, b.fair_id, max(extract(epoch FROM $1::timestamptz - q.enqueued_at)) / 60,
			e.name || ' ' || b.hall_position, count(*)
		FROM queue_entries q JOIN booths b ON b.id = q.booth_id JOIN fairs f ON f.id = b.fair_id JOIN employers e ON e.id = b.employer_id
		WHERE q.status = 'waiting' AND f.status = 'published'
		GROUP BY q.booth_id, b.fair_id, e.name, b.hall_position
		HAVING max($1::timestamptz - q.enqueued_at) > $2 * interval '1 minute'`,
	RuleBoothIdle: `SELECT 'booth:' || b.id, b.fair_id, extract(epoch FROM $1::timestamptz - act.last) / 60, e.name || ' ' || b.hall_position, 0
		FROM booths b JOIN fairs f ON f.id = b.fair_id JOIN employers e ON e.id = b.employer_id,
		LATERAL (SELECT greatest(b.arrived_at,
			(SELECT max(q.called_at) FROM queue_entries q WHERE q.booth_id = b.id AND q.called_at <= $1),
			(SELECT max(least(upper(bk.during), $1)) FROM bookings bk WHERE bk.booth_id = b.id AND bk.status = 'booked'
				AND bk.seeker_joined_at IS NOT NULL AND lower(bk.during) <= $1)) AS last) act
		WHERE b.arrived_at IS NOT NULL AND f.status = 'published' AND f.day = ($1::timestamptz AT TIME ZONE f.time_zone)::date
			AND act.last < $1::timestamptz - $2 * interval '1 minute'`,
	RuleNoShowRate: `SELECT 'fair:' || b.fair_id, b.fair_id,
			100.0 * count(*) FILTER (WHERE o.outcome = 'no_show' OR (o.outcome IS NULL AND bk.seeker_joined_at IS NULL)) / count(*), f.name, count(*)
		FROM bookings bk JOIN booths b ON b.id = bk.booth_id JOIN fairs f ON f.id = b.fair_id LEFT JOIN outcomes o ON o.booking_id = bk.id
		WHERE bk.status = 'booked' AND bk.id = bk.group_id AND f.status = 'published'
			AND lower(bk.during) > $1::timestamptz - interval '1 hour' AND lower(bk.during) <= $1::timestamptz - interval '5 minutes'
		GROUP BY b.fair_id, f.name
		HAVING count(*) >= ` + strconv.Itoa(noShowMinSample) + `
			AND 100.0 * count(*) FILTER (WHERE o.outcome = 'no_show' OR (o.outcome IS NULL AND bk.seeker_joined_at IS NULL)) / count(*) > $2`,
	RuleBookingFill: `SELECT 'fair:' || f.id, f.id, 100.0 * t.taken / t.open, f.name, t.open
		FROM fairs f, LATERAL (SELECT
			(SELECT count(*) FROM slots s JOIN booths b ON b.id = s.booth_id WHERE b.fair_id = f.id AND s.open) AS open,
			(SELECT count(*) FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE b.fair_id = f.id AND bk.status IN ('held', 'booked')) AS taken) t
		WHERE f.status = 'published' AND t.open > 0
			AND $1::timestamptz >= (f.day::timestamp AT TIME ZONE f.time_zone) - interval '1 day'
			AND $1::timestamptz < (f.day::timestamp AT TIME ZONE f.time_zone)
			AND 100.0 * t.taken / t.open < $2`,
	RuleJobPostFlagged: `WITH rep AS (SELECT job_post_id, count(*) AS n FROM job_post_reports GROUP BY 1)
		SELECT 'job:' || j.id, 0::bigint, coalesce(rep.n, 0)::float8, j.title, (NOT e.verified)::int
		FROM job_posts j JOIN employers e ON e.id = j.employer_id LEFT JOIN rep ON rep.job_post_id = j.id
		WHERE j.status = 'published' AND (NOT e.verified OR coalesce(rep.n, 0) >= $2) AND $1::timestamptz IS NOT NULL`,
	// One pass over the log, grouped, joined to the cohort: a subquery per
	// seeker cost the database a scan of the log per registered seeker on
	// every evaluation (most of a core at city scale).
	RulePovertyNoContact: `SELECT 'seeker:' || sk.id, 0::bigint, extract(epoch FROM $1::timestamptz - coalesce(l.last, sk.created_at)) / 86400, '', 0
		FROM seekers sk LEFT JOIN (SELECT seeker_id, max(at) AS last FROM employment_log WHERE kind = ANY($3) GROUP BY seeker_id) l
			ON l.seeker_id = sk.id
		WHERE sk.poverty_registered AND coalesce(l.last, sk.created_at) < $1::timestamptz - $2 * interval '1 day'`,
}

func alertMessage(rule string, value, threshold float64, label string, extra int64, subject string) string {
	switch rule {
	case RuleQueueWait:
		return fmt.Sprintf("%s：%d人排队，最长已等%.0f分钟（阈值%.0f） / %s: %d waiting, the longest for %.0f minutes (threshold %.0f)",
			label, extra, value, threshold, label, extra, value, threshold)
	case RuleBoothIdle:
		return fmt.Sprintf("%s：已空闲%.0f分钟（阈值%.0f） / %s: idle for %.0f minutes (threshold %.0f)", label, value, threshold, label, value, threshold)
	case RuleNoShowRate:
		return fmt.Sprintf("%s：近一小时%d场面试爽约率%.0f%%（阈值%.0f%%） / %s: %.0f%% no-shows among %d interviews due in the last hour (threshold %.0f%%)",
			label, extra, value, threshold, label, value, extra, threshold)
	case RuleBookingFill:
		return fmt.Sprintf("%s：开幕前一天预约率仅%.1f%%（%d个时段，阈值%.0f%%） / %s: only %.1f%% of %d slots booked a day before (threshold %.0f%%)",
			label, value, extra, threshold, label, value, extra, threshold)
	case RuleJobPostFlagged:
		if extra == 1 {
			return fmt.Sprintf("岗位「%s」的单位未认证（被举报%.0f次） / job post %q: its employer is not verified (%.0f reports)", label, value, label, value)
		}
		return fmt.Sprintf("岗位「%s」被举报%.0f次（阈值%.0f） / job post %q reported %.0f times (threshold %.0f)", label, value, threshold, label, value, threshold)
	case RulePovertyNoContact:
		return fmt.Sprintf("帮扶对象 %s 已%.0f天未联系（阈值%.0f天） / registered poverty-alleviation %s: no contact for %.0f days (threshold %.0f)",
			subject, math.Floor(value), threshold, subject, math.Floor(value), threshold)
	}
	return subject
}

// alertLockKey serializes evaluations across nodes.
const alertLockKey int64 = 0x6a68_616c657274 // "jhalert"

// EvaluateAlerts runs every rule once and returns how many alerts were
// raised and cleared.
func (s *Service) EvaluateAlerts(ctx context.Context) (raised, cleared int, err error) {
	now := s.now()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, alertLockKey); err != nil {
		return 0, 0, err
	}
	rules, err := loadRules(ctx, tx)
	if err != nil {
		return 0, 0, err
	}
	var events []AlertEvent
	for _, ru := range rules {
		var fs []firing
		if ru.Enabled {
			if fs, err = runRule(ctx, tx, ru.Rule, ru.Threshold, now); err != nil {
				return 0, 0, fmt.Errorf("rule %s: %w", ru.Rule, err)
			}
		}
		ev, err := storeFirings(ctx, tx, ru.Rule, ru.Threshold, fs, now)
		if err != nil {
			return 0, 0, fmt.Errorf("rule %s: %w", ru.Rule, err)
		}
		events = append(events, ev...)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, err
	}
	for _, e := range events {
		if e.Type == "raised" {
			raised++
		} else {
			cleared++
		}
		s.publishAlert(e)
	}
	return raised, cleared, nil
}

func runRule(ctx context.Context, tx pgx.Tx, rule string, threshold float64, now time.Time) ([]firing, error) {
	args := []any{now, threshold}
	if rule == RulePovertyNoContact {
		args = append(args, contactKinds)
	}
	rows, err := tx.Query(ctx, ruleQueries[rule], args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []firing
	for rows.Next() {
		var f firing
		var label string
		var extra int64
		if err := rows.Scan(&f.subject, &f.fairID, &f.value, &label, &extra); err != nil {
			return nil, err
		}
		f.value = math.Round(f.value*10) / 10
		f.message = alertMessage(rule, f.value, threshold, label, extra, f.subject)
		out = append(out, f)
	}
	return out, rows.Err()
}

// storeFirings upserts the open alert of every firing subject (one per
// rule and subject: the partial unique index deduplicates) and clears the
// open alerts of subjects that stopped firing.
func storeFirings(ctx context.Context, tx pgx.Tx, rule string, threshold float64, fs []firing, now time.Time) ([]AlertEvent, error) {
	subjects, fairs, values, msgs := make([]string, len(fs)), make([]int64, len(fs)), make([]float64, len(fs)), make([]string, len(fs))
	for i, f := range fs {
		subjects[i], fairs[i], values[i], msgs[i] = f.subject, f.fairID, f.value, f.message
	}
	rows, err := tx.Query(ctx, `WITH f AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::float8[], $5::text[]) AS f(subject, fair_id, value, message)),
		up AS (INSERT INTO alerts (rule, subject, fair_id, value, threshold, message, raised_at, last_seen_at)
			SELECT $1, subject, nullif(fair_id, 0), value, $6, message, $7, $7 FROM f
			ON CONFLICT (rule, subject) WHERE cleared_at IS NULL DO UPDATE SET value = EXCLUDED.value, threshold = EXCLUDED.threshold,
				message = EXCLUDED.message, last_seen_at = EXCLUDED.last_seen_at
			RETURNING `+alertCols+`, xmax = 0 AS inserted),
		cl AS (UPDATE alerts SET cleared_at = $7 WHERE rule = $1 AND cleared_at IS NULL AND subject <> ALL ($2::text[])
			RETURNING `+alertCols+`, false AS inserted)
		SELECT 'raised', `+alertCols+` FROM up WHERE inserted
		UNION ALL SELECT 'cleared', `+alertCols+` FROM cl`, rule, subjects, fairs, values, msgs, threshold, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (AlertEvent, error) {
		var e AlertEvent
		a := &e.Alert
		err := row.Scan(&e.Type, &a.ID, &a.Rule, &a.Subject, &a.FairID, &a.Value, &a.Threshold, &a.Message, &a.RaisedAt, &a.LastSeenAt,
			&a.ClearedAt, &a.AckedAt, &a.AckedBy)
		return e, err
	})
}

// --- rules ---

// AlertRule is a rule with its threshold.
type AlertRule struct {
	Rule        string    `json:"rule"`
	Threshold   float64   `json:"threshold"`
	Enabled     bool      `json:"enabled"`
	UpdatedBy   string    `json:"updated_by"`
	UpdatedAt   time.Time `json:"updated_at"`
	Unit        string    `json:"unit"`
	Min         float64   `json:"min"`
	Max         float64   `json:"max"`
	Description string    `json:"description"`
}

func loadRules(ctx context.Context, q querier) ([]AlertRule, error) {
	rows, err := q.Query(ctx, `SELECT rule, threshold, enabled, updated_by, updated_at FROM alert_rules ORDER BY rule`)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AlertRule, error) {
		var r AlertRule
		err := row.Scan(&r.Rule, &r.Threshold, &r.Enabled, &r.UpdatedBy, &r.UpdatedAt)
		sp := ruleSpecs[r.Rule]
		r.Unit, r.Min, r.Max, r.Description = sp.unit, sp.min, sp.max, sp.zh+" / "+sp.en
		return r, err
	})
	return list, err
}

func (s *Service) handleListAlertRules(w http.ResponseWriter, r *http.Request) error {
	list, err := loadRules(r.Context(), s.pool)
	if err != nil {
		return internal(err, "list alert rules")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"rules": list})
}

func (s *Service) handlePutAlertRule(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		Rule      string   `json:"rule"`
		Threshold *float64 `json:"threshold"`
		Enabled   *bool    `json:"enabled"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	sp, ok := ruleSpecs[in.Rule]
	if !ok {
		return apperr.New(apperr.Invalid, "没有这个规则 / rule must be one of %v", RuleNames)
	}
	if in.Threshold == nil && in.Enabled == nil {
		return apperr.New(apperr.Invalid, "threshold or enabled is required")
	}
	if in.Threshold != nil && (math.IsNaN(*in.Threshold) || *in.Threshold < sp.min || *in.Threshold > sp.max) {
		return apperr.New(apperr.Invalid, "阈值超出范围 / threshold of %s must be %g to %g %s", in.Rule, sp.min, sp.max, sp.unit).
			WithDetails(map[string]any{"rule": in.Rule, "min": sp.min, "max": sp.max, "unit": sp.unit})
	}
	_, err := s.pool.Exec(r.Context(), `UPDATE alert_rules SET threshold = coalesce($2, threshold), enabled = coalesce($3, enabled),
		updated_by = $4, updated_at = $5 WHERE rule = $1`, in.Rule, in.Threshold, in.Enabled, p.actor(), s.now())
	if err != nil {
		return internal(err, "update alert rule")
	}
	list, err := loadRules(r.Context(), s.pool)
	if err != nil {
		return internal(err, "list alert rules")
	}
	for _, ru := range list {
		if ru.Rule == in.Rule {
			return writeJSON(w, http.StatusOK, ru)
		}
	}
	return apperr.New(apperr.NotFound, "no rule %q", in.Rule)
}

// --- alerts ---

func (s *Service) handleListAlerts(w http.ResponseWriter, r *http.Request) error {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "all" {
		return apperr.New(apperr.Invalid, `state must be "open" or "all"`)
	}
	rule := r.URL.Query().Get("rule")
	if _, ok := ruleSpecs[rule]; rule != "" && !ok {
		return apperr.New(apperr.Invalid, "rule must be one of %v", RuleNames)
	}
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `SELECT `+alertCols+` FROM alerts WHERE ($1 = 'all' OR cleared_at IS NULL) AND ($2 = '' OR rule = $2)
		ORDER BY raised_at DESC, id DESC LIMIT $3`, state, rule, limit)
	if err != nil {
		return internal(err, "list alerts")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Alert])
	if err != nil {
		return internal(err, "list alerts")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"alerts": nonNil(list), "state": state})
}

func (s *Service) handleAckAlert(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `UPDATE alerts SET acked_at = $2, acked_by = $3 WHERE id = $1 AND acked_at IS NULL RETURNING `+alertCols,
		id, s.now(), p.actor())
	if err != nil {
		return internal(err, "acknowledge alert")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Alert])
	if err != nil {
		return internal(err, "acknowledge alert")
	}
	if len(list) == 0 {
		var by *string
		err := s.pool.QueryRow(r.Context(), `SELECT acked_by FROM alerts WHERE id = $1`, id).Scan(&by)
		if isNoRows(err) {
			return apperr.New(apperr.NotFound, "没有这个预警 / no alert with id %d", id)
		}
		if err != nil {
			return internal(err, "acknowledge alert")
		}
		return apperr.New(apperr.Conflict, "预警已被确认 / this alert was already acknowledged by %s", deref(by))
	}
	s.publishAlert(AlertEvent{Type: "acked", Alert: list[0]})
	return writeJSON(w, http.StatusOK, list[0])
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// --- live push ---

// SubscribeAlerts returns a channel of alert events and a function that
// unsubscribes (and closes the channel). A subscriber that does not keep
// up loses events rather than holding up evaluation; buffer bounds them.
func (s *Service) SubscribeAlerts(buffer int) (<-chan AlertEvent, func()) {
	if buffer < 1 {
		buffer = 64
	}
	ch := make(chan AlertEvent, buffer)
	s.alertMu.Lock()
	if s.alertSubs == nil {
		s.alertSubs = map[chan AlertEvent]struct{}{}
	}
	s.alertSubs[ch] = struct{}{}
	s.alertMu.Unlock()
	var once bool
	return ch, func() {
		s.alertMu.Lock()
		defer s.alertMu.Unlock()
		if !once {
			once = true
			delete(s.alertSubs, ch)
			close(ch)
		}
	}
}

// DeliverAlert hands an event raised on another node (alerts are
// evaluated on one node at a time) to this node's subscribers.
func (s *Service) DeliverAlert(e AlertEvent) {
	e.Remote = true
	s.publishAlert(e)
}

func (s *Service) publishAlert(e AlertEvent) {
	s.alertMu.Lock()
	defer s.alertMu.Unlock()
	for ch := range s.alertSubs {
		select {
		case ch <- e:
		default:
			s.alertDropped.Add(1)
		}
	}
}

// streamMax bounds one event stream; EventSource reconnects by itself.
const streamMax = time.Hour

// handleAlertStream pushes alert events as server-sent events: the open
// alerts first, then every change.
func (s *Service) handleAlertStream(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	ch, unsubscribe := s.SubscribeAlerts(256)
	defer unsubscribe()
	rows, err := s.pool.Query(r.Context(), `SELECT `+alertCols+` FROM alerts WHERE cleared_at IS NULL ORDER BY raised_at, id LIMIT 1000`)
	if err != nil {
		return internal(err, "list alerts")
	}
	open, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Alert])
	if err != nil {
		return internal(err, "list alerts")
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 5000\n\n")
	for _, a := range open {
		writeSSE(w, AlertEvent{Type: "open", Alert: a})
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(20 * time.Second)
	defer heartbeat.Stop()
	limit := time.NewTimer(streamMax)
	defer limit.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.streamsDone:
			return nil
		case <-limit.C:
			return nil
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e, ok := <-ch:
			if !ok {
				return nil
			}
			writeSSE(w, e)
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

func writeSSE(w http.ResponseWriter, e AlertEvent) {
	body, _ := jsonMarshal(e)
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Alert.ID, e.Type, body)
}

// CloseStreams ends every alert event stream (call before the HTTP
// server's Shutdown, which does not cancel running requests).
func (s *Service) CloseStreams() {
	s.streamsOnce.Do(func() { close(s.streamsDone) })
}

// --- metrics ---

// Figure is one metric sample for Prometheus: cmd/jobhall exports them
// as gauges named jobhall_<Name>.
type Figure struct {
	Name   string
	Help   string
	Labels map[string]string
	Value  float64
}

// MonitorFigures returns the live figures the rules watch, per rule and
// per fair running today: open and unacknowledged alerts, attendees
// checked in, booths present, walk-ins waiting and the longest wait,
// the last hour's no-show rate and the booking fill rate.
func (s *Service) MonitorFigures(ctx context.Context) ([]Figure, error) {
	now := s.now()
	var out []Figure
	rows, err := s.pool.Query(ctx, `SELECT r.rule, count(a.id), count(a.id) FILTER (WHERE a.acked_at IS NULL)
		FROM alert_rules r LEFT JOIN alerts a ON a.rule = r.rule AND a.cleared_at IS NULL GROUP BY r.rule ORDER BY r.rule`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var rule string
		var open, unacked int64
		if err := rows.Scan(&rule, &open, &unacked); err != nil {
			rows.Close()
			return nil, err
		}
		l := map[string]string{"rule": rule}
		out = append(out, Figure{"alerts_open", "Open alerts per monitoring rule.", l, float64(open)},
			Figure{"alerts_unacknowledged", "Open alerts no officer has acknowledged.", l, float64(unacked)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.pool.Query(ctx, `SELECT f.id,
			(SELECT count(*) FROM fair_attendees a WHERE a.fair_id = f.id AND a.checked_in_at IS NOT NULL),
			(SELECT count(*) FROM booths b WHERE b.fair_id = f.id AND b.arrived_at IS NOT NULL),
			(SELECT count(*) FROM queue_entries q JOIN booths b ON b.id = q.booth_id WHERE b.fair_id = f.id AND q.status = 'waiting'),
			coalesce((SELECT extract(epoch FROM $1::timestamptz - min(q.enqueued_at)) FROM queue_entries q JOIN booths b ON b.id = q.booth_id
				WHERE b.fair_id = f.id AND q.status = 'waiting'), 0),
			coalesce((SELECT 100.0 * count(*) FILTER (WHERE o.outcome = 'no_show' OR (o.outcome IS NULL AND bk.seeker_joined_at IS NULL)) / nullif(count(*), 0)
				FROM bookings bk JOIN booths b ON b.id = bk.booth_id LEFT JOIN outcomes o ON o.booking_id = bk.id
				WHERE b.fair_id = f.id AND bk.status = 'booked' AND bk.id = bk.group_id
					AND lower(bk.during) > $1::timestamptz - interval '1 hour' AND lower(bk.during) <= $1::timestamptz - interval '5 minutes'), 0),
			coalesce(100.0 * (SELECT count(*) FROM bookings bk JOIN booths b ON b.id = bk.booth_id WHERE b.fair_id = f.id AND bk.status IN ('held', 'booked'))
				/ nullif((SELECT count(*) FROM slots s JOIN booths b ON b.id = s.booth_id WHERE b.fair_id = f.id AND s.open), 0), 0)
		FROM fairs f WHERE f.status = 'published' AND f.day BETWEEN ($1::timestamptz AT TIME ZONE f.time_zone)::date
			AND ($1::timestamptz AT TIME ZONE f.time_zone)::date + 1 ORDER BY f.id`, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var fair, attendees, booths, waiting int64
		var maxWait, noShow, fill float64
		if err := rows.Scan(&fair, &attendees, &booths, &waiting, &maxWait, &noShow, &fill); err != nil {
			return nil, err
		}
		l := map[string]string{"fair": strconv.FormatInt(fair, 10)}
		out = append(out,
			Figure{"fair_attendees_checked_in", "Registered seekers checked in at the entrance.", l, float64(attendees)},
			Figure{"fair_booths_present", "Booths whose staff checked in.", l, float64(booths)},
			Figure{"fair_queue_waiting", "Walk-in seekers waiting at the fair's booths.", l, float64(waiting)},
			Figure{"fair_queue_max_wait_seconds", "Longest current walk-in wait at the fair.", l, maxWait},
			Figure{"fair_no_show_rate_percent", "No-shows among the interviews due in the last hour.", l, noShow},
			Figure{"fair_booking_fill_percent", "Booked share of the fair's open slots.", l, fill})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out = append(out, Figure{"alert_events_dropped", "Alert events a slow subscriber missed.", nil, float64(s.alertDropped.Load())})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RunMonitor evaluates the alert rules and takes the attendance of ended
// training sessions every interval until ctx ends.
func (s *Service) RunMonitor(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, _, err := s.EvaluateAlerts(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "booking: alert rules", "err", err)
		}
		if _, err := s.TakeDueAttendance(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "booking: training attendance", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
