package booking

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit of bookings. Under load, single-slot bookings that arrive
// while earlier ones are in the database are written together: one
// statement and one commit for the group, which is what PostgreSQL spends
// most of a booking's CPU on (protocol, executor start-up, relation locks,
// the WAL flush), not the rows. Nothing waits for a group to fill: a
// booking that finds a free place (fewer than groupInFlight statements
// running) goes at once, alone or with whoever queued behind the running
// ones. The exclusion constraints still judge every row (ON CONFLICT DO
// NOTHING skips a refused one); a member the group did not insert, or every
// member of a group whose statement failed, goes through the single-booking
// path, which gives the precise answer (409 with alternatives, closed slot,
// expired hold cleared and retried).
//
// No goroutine of its own: the requester that starts a group runs it and,
// when done, hands the lead to the oldest waiting requester.

const (
	groupInFlight = 3  // group statements at once (PostgreSQL has 2 cores here; one more overlaps the round trips)
	groupMax      = 32 // bookings per statement
	groupTimeout  = 10 * time.Second
)

// groupReq is one single-slot booking waiting for its group.
type groupReq struct {
	slot     slotInfo
	seekerID int64
	status   string
	hold     *time.Time
	origin   string
	jobPost  *int64
	logKind  string
	logData  []byte
	event    string

	done chan struct{} // closed when decided or when this request must lead
	// Written by the leader before done is closed.
	lead       bool // run the pending queue (the request itself included)
	inserted   bool
	id         int64
	seekerName string
}

type combiner struct {
	mu      sync.Mutex
	pending []*groupReq
	running int // groups in the database

	groups, grouped atomic.Int64 // statements run, bookings they carried (tests, stats)
}

// submitGroup waits until r is decided by a group statement. It returns
// false when r was not inserted (refused, or its group failed): the caller
// then books it on its own.
func (s *Service) submitGroup(ctx context.Context, r *groupReq) bool {
	c := &s.group
	r.done = make(chan struct{})
	c.mu.Lock()
	if c.running < groupInFlight {
		c.running++
		r.lead = true
	} else {
		c.pending = append(c.pending, r)
	}
	c.mu.Unlock()
	if !r.lead {
		<-r.done
	}
	if r.lead {
		s.leadGroup(ctx, r)
	}
	return r.inserted
}

// leadGroup runs a group of self and whoever waits, then passes the lead
// to the oldest request still waiting, if any, and returns (so that the
// leader's own answer is not held back by later groups).
func (s *Service) leadGroup(ctx context.Context, self *groupReq) {
	c := &s.group
	c.mu.Lock()
	batch := takeGroupLocked(&c.pending, self)
	c.mu.Unlock()
	s.runGroup(ctx, batch)
	for _, r := range batch[1:] {
		close(r.done)
	}
	c.mu.Lock()
	if len(c.pending) > 0 {
		next := c.pending[0]
		c.pending = c.pending[1:]
		next.lead = true
		close(next.done) // still running: the lead moves on
	} else {
		c.running--
	}
	c.mu.Unlock()
}

// takeGroupLocked makes a group of self and up to groupMax-1 queued
// requests, oldest first, leaving behind any that repeat a slot and seeker
// already in it (two identical requests must not both be answered with
// one booking).
func takeGroupLocked(q *[]*groupReq, self *groupReq) []*groupReq {
	type key struct{ slot, seeker int64 }
	seen := map[key]bool{{self.slot.id, self.seekerID}: true}
	batch := []*groupReq{self}
	var rest []*groupReq
	for _, r := range *q {
		k := key{r.slot.id, r.seekerID}
		if len(batch) == groupMax || seen[k] {
			rest = append(rest, r)
			continue
		}
		seen[k] = true
		batch = append(batch, r)
	}
	*q = rest
	return batch
}

// groupSQL books the rows of its arrays (one per request) that the
// exclusion constraints allow, with their log entries, webhooks and first
// reminders, in one statement: $1 slots, $2 seekers, $3 statuses, $4 hold
// expiries, $5 origins, $6 job posts, $7 log kinds, $8 log data, $9
// employers, $10 booths, $11 webhook events, $12 now. A row is left out
// when its slot is not at its booth, the booth has a daily cap (those take
// the single path, under their locks) or its fair is not taking bookings.
// Rows are inserted in slot order, so that concurrent groups meet in the
// same order.
var groupSQL = `WITH r AS (
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::text[], $6::bigint[], $7::text[], $8::text[],
		$9::bigint[], $10::bigint[], $11::text[]) WITH ORDINALITY
		AS r(slot, seeker, status, hold, origin, job, logkind, logdata, employer, booth, event, ord)
),
ins AS (
	INSERT INTO bookings (slot_id, booth_id, lane, seeker_id, during, status, hold_expires_at, kind, origin, job_post_id, confirmed_at)
	SELECT s.id, s.booth_id, s.lane, r.seeker, s.during, r.status, r.hold, 'one_to_one', r.origin, r.job,
		CASE WHEN r.status = 'booked' THEN $12::timestamptz END
	FROM r JOIN slots s ON s.id = r.slot AND s.booth_id = r.booth
	CROSS JOIN LATERAL (SELECT 1 FROM booths b JOIN fairs f ON f.id = b.fair_id WHERE b.id = r.booth AND b.daily_cap IS NULL
		AND f.status = 'published' AND f.booking_opens <= $12 AND $12 < f.booking_closes LIMIT 1) ok
	ORDER BY s.id, r.ord
	ON CONFLICT DO NOTHING
	RETURNING id, slot_id, seeker_id, lower(during) AS start
),
j AS (SELECT i.id, i.start, r.* FROM ins i JOIN r ON r.slot = i.slot_id AND r.seeker = i.seeker_id),
lg AS (
	INSERT INTO employment_log (seeker_id, kind, at, booking_id, data)
	SELECT j.seeker, j.logkind, $12, j.id, j.logdata::jsonb || jsonb_build_object('booking_id', j.id, 'room', 'interview-' || j.id)
	FROM j WHERE j.logkind <> ''
),
wh AS (
	INSERT INTO outbox (kind, event, webhook_id, booking_id, payload)
	SELECT 'webhook', j.event, w.id, j.id, jsonb_build_object('booking_id', j.id, 'seeker_id', j.seeker) || j.logdata::jsonb
	FROM j JOIN webhooks w ON w.active AND j.event = ANY (w.events) AND (w.employer_id IS NULL OR w.employer_id = j.employer)
	WHERE j.status = 'booked'
),
rm AS (
	INSERT INTO outbox (kind, event, booking_id, payload, due_at)
	SELECT 'reminder', rr.ev, j.id, jsonb_build_object('booking_id', j.id, 'start', j.start), j.start - rr.ahead
	FROM j CROSS JOIN LATERAL (` + firstReminderSQL("j.start", "$12") + `) rr
	WHERE j.status = 'booked'
)
SELECT j.ord, j.id, (SELECT name FROM seekers WHERE id = j.seeker) FROM j`

// runGroup writes batch in one statement. A batch of one runs it too:
// the in-flight statements are what lets a queue, and so the next group,
// form behind them.
func (s *Service) runGroup(ctx context.Context, batch []*groupReq) {
	n := len(batch)
	slots, seekers, jobs, employers, booths := make([]int64, n), make([]int64, n), make([]*int64, n), make([]int64, n), make([]int64, n)
	statuses, origins, kinds, data, events := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	holds := make([]*time.Time, n)
	for i, r := range batch {
		slots[i], seekers[i], jobs[i], employers[i], booths[i] = r.slot.id, r.seekerID, r.jobPost, r.slot.employerID, r.slot.boothID
		statuses[i], origins[i], kinds[i], data[i], events[i] = r.status, r.origin, r.logKind, string(r.logData), r.event
		holds[i] = r.hold
	}
	// The leader's client may go away; the others' bookings must not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, groupSQL, slots, seekers, statuses, holds, origins, jobs, kinds, data, employers, booths, events, s.now())
	if err != nil {
		s.log.WarnContext(ctx, "booking: group statement failed; its bookings go one by one", "n", n, "err", err)
		return
	}
	type won struct {
		id   int64
		name *string
	}
	wins := make(map[int64]won, n)
	for rows.Next() {
		var ord, id int64
		var name *string
		if err := rows.Scan(&ord, &id, &name); err != nil {
			s.log.ErrorContext(ctx, "booking: read group result", "err", err) // a bug: the row's booking exists unanswered
			continue
		}
		wins[ord] = won{id, name}
	}
	rows.Close()
	if err := rows.Err(); err != nil { // nothing was committed
		s.log.WarnContext(ctx, "booking: group statement failed; its bookings go one by one", "n", n, "err", err)
		return
	}
	if n > 1 {
		s.group.groups.Add(1)
		s.group.grouped.Add(int64(n))
	}
	booths = slices.Compact(slices.Sorted(slices.Values(booths)))
	for _, b := range booths {
		s.slots.dropBooth(b)
	}
	for i, r := range batch {
		if w, ok := wins[int64(i+1)]; ok && w.name != nil {
			r.inserted, r.id, r.seekerName = true, w.id, *w.name
		}
	}
}

// GroupStats reports how many statements carried more than one booking,
// and how many bookings they carried.
func (s *Service) GroupStats() (groups, bookings int64) {
	return s.group.groups.Load(), s.group.grouped.Load()
}
