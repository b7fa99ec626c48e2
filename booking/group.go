package booking

import (
	"context"
	"time"
)

// Group commit of bookings (see batcher): single-slot bookings queued
// behind the running statements are written by one statement and one
// commit. The exclusion constraints still judge every row (ON CONFLICT DO
// NOTHING skips a refused one); a member the statement did not insert, or
// every member of a statement that failed, goes through the single-booking
// path, which gives the precise answer (409 with alternatives, closed slot,
// expired hold cleared and retried).

const (
	groupInFlight = 3  // booking statements at once (PostgreSQL has 2 cores here; one more overlaps the round trips)
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

	// Set by the statement.
	inserted   bool
	id         int64
	seekerName string
}

type slotSeeker struct{ slot, seeker int64 }

func (s *Service) newBookingBatcher() *batcher[groupReq, slotSeeker] {
	return &batcher[groupReq, slotSeeker]{inFlight: groupInFlight, max: groupMax, run: s.runGroup,
		key: func(r *groupReq) slotSeeker { return slotSeeker{r.slot.id, r.seekerID} }}
}

// submitGroup reports whether r was inserted by a group statement; if not
// (refused, or its statement failed) the caller books it on its own.
func (s *Service) submitGroup(ctx context.Context, r *groupReq) bool {
	s.group.do(ctx, r)
	return r.inserted
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
	if err == nil {
		for rows.Next() {
			var ord, id int64
			var name *string
			if rows.Scan(&ord, &id, &name) == nil && ord >= 1 && ord <= int64(n) && name != nil {
				r := batch[ord-1]
				r.inserted, r.id, r.seekerName = true, id, *name
			}
		}
		rows.Close()
		err = rows.Err()
	}
	if err != nil { // nothing was committed
		s.log.WarnContext(ctx, "booking: group statement failed; its bookings go one by one", "n", n, "err", err)
		for _, r := range batch {
			r.inserted = false
		}
		return
	}
	for _, r := range batch {
		if r.inserted { // committed: this node's readers see it at once
			s.slots.dropBooth(r.slot.boothID)
		}
	}
}

// BatchStats counts, per kind of batched statement, the statements that
// carried more than one request and the requests they carried.
type BatchStats struct {
	Bookings, KeyClaims, KeyStores BatchCount
}

// BatchCount is one kind's statements and the requests they carried.
type BatchCount struct{ Statements, Carried int64 }

func (b *batcher[R, K]) count() BatchCount {
	return BatchCount{b.batches.Load(), b.carried.Load()}
}

// BatchStats reports the group-commit counters.
func (s *Service) BatchStats() BatchStats {
	return BatchStats{Bookings: s.group.count(), KeyClaims: s.claims.count(), KeyStores: s.stores.count()}
}
