package booking_test

import (
	"net/http"
	"sync"
	"testing"

	"jobhall/booking"
)

// One group statement: the exclusion constraints judge every row (a slot
// taken twice, a seeker at two booths at once), each winner gets its log
// entry and reminder, and a row the database refuses with an error (a
// closed slot) fails the whole statement, leaving nothing behind.
func TestGroupStatement(t *testing.T) {
	e := newEnv(t)
	booths, _ := e.booths(3)
	ss := e.seekerIDs(6)
	a, b, c := e.slotAt(booths[0], 10, 0), e.slotAt(booths[1], 10, 0), e.slotAt(booths[2], 10, 0)
	a2 := e.slotAt(booths[0], 10, 15)
	got, err := booking.GroupForTest(e.ctx, e.svc, []int64{ss[0], ss[1], ss[2], ss[2], ss[3]}, []int64{a, a, b, c, a2})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0] || got[1] || got[2] == got[3] || !got[4] {
		t.Fatalf("inserted %v, want [true false (one of b, c) true]", got)
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE status = 'booked'`); n != 3 {
		t.Fatalf("%d bookings, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE kind = 'booking_made'`); n != 3 {
		t.Fatalf("%d log entries, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM outbox o JOIN bookings b ON b.id = o.booking_id WHERE o.kind = 'reminder'`); n != 3 {
		t.Fatalf("%d reminder rows, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM bookings WHERE group_id <> id`); n != 0 {
		t.Fatalf("%d bookings whose group is not themselves", n)
	}

	closed := e.slotAt(booths[1], 11, 0)
	if _, err := e.pool.Exec(e.ctx, `UPDATE slots SET open = false WHERE id = $1`, closed); err != nil {
		t.Fatal(err)
	}
	got, err = booking.GroupForTest(e.ctx, e.svc, []int64{ss[4], ss[5]}, []int64{e.slotAt(booths[0], 11, 0), closed})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] || got[1] {
		t.Fatalf("inserted %v from a failed statement", got)
	}
	if n := e.count(`SELECT count(*) FROM bookings`); n != 3 {
		t.Fatalf("%d bookings after a failed group, want 3", n)
	}
	// On their own (as the single path does after a failed group), the
	// good one books and the closed one gets its clear message.
	mustStatus(t, e.book(e.signIn("seeker", ss[4]), e.slotAt(booths[0], 11, 0)), http.StatusCreated, "book after a failed group")
	r := e.book(e.signIn("seeker", ss[5]), closed)
	if r.Status != http.StatusConflict || r.str("message") != booking.MsgSlotClosed {
		t.Fatalf("closed slot: %d %s", r.Status, r.Raw)
	}
}

// Many seekers at once over HTTP: bookings are written in groups, and the
// answers are what they would be one by one (one winner per slot, 409 with
// alternatives for the rest, a log entry and a reminder per booking).
func TestGroupedBookingsUnderLoad(t *testing.T) {
	e := newEnv(t)
	booths, _ := e.booths(10)
	ss := e.seekerIDs(200)
	var slots []int64
	for _, b := range booths {
		for i := range 10 {
			slots = append(slots, e.slotAt(b, 9+i/4, 15*(i%4)))
		}
	}
	tokens := e.signInAll("seeker", ss)
	results := make([]resp, len(ss))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range ss {
		wg.Go(func() {
			<-start
			results[i] = e.book(tokens[i], slots[i%len(slots)]) // two seekers per slot
		})
	}
	close(start)
	wg.Wait()
	won := map[int64]int{}
	for i, r := range results {
		switch r.Status {
		case http.StatusCreated:
			won[num(r.Body["slot_id"])]++
			if r.str("join_url") == "" {
				t.Errorf("seeker %d: no join link in %s", ss[i], r.Raw)
			}
		case http.StatusConflict:
			if r.str("message") != booking.MsgSlotTaken {
				t.Errorf("seeker %d: %s", ss[i], r.Raw)
			}
		default:
			t.Errorf("seeker %d: %d %s", ss[i], r.Status, r.Raw)
		}
	}
	if len(won) != len(slots) {
		t.Fatalf("%d slots booked, want %d", len(won), len(slots))
	}
	for s, n := range won {
		if n != 1 {
			t.Fatalf("slot %d won %d times", s, n)
		}
	}
	if n := e.count(`SELECT count(*) FROM bookings x JOIN bookings y ON x.id < y.id AND x.status = 'booked' AND y.status = 'booked'
		AND x.during && y.during AND ((x.booth_id = y.booth_id AND x.lane = y.lane) OR x.seeker_id = y.seeker_id)`); n != 0 {
		t.Fatalf("%d overlapping pairs", n)
	}
	if n := e.count(`SELECT count(*) FROM employment_log WHERE kind = 'booking_made'`); n != len(slots) {
		t.Fatalf("%d log entries, want %d", n, len(slots))
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE kind = 'reminder'`); n != len(slots) {
		t.Fatalf("%d reminder rows, want %d", n, len(slots))
	}
	st := e.svc.BatchStats().Bookings
	t.Logf("%d group statements carried %d of %d attempts", st.Statements, st.Carried, len(ss))
	if st.Statements == 0 {
		t.Fatal("200 concurrent bookings formed no group")
	}
}

// Under load, Idempotency-Keys are claimed and their answers stored in
// batches, and still: each key runs its request once, a concurrent
// duplicate replays the same answer or is told to retry, a later replay is
// byte for byte the first answer.
func TestIdempotencyKeysUnderLoad(t *testing.T) {
	e := newEnv(t)
	booths, _ := e.booths(10)
	ss := e.seekerIDs(100)
	tokens := e.signInAll("seeker", ss)
	slot := func(i int) int64 { return e.slotAt(booths[i%10], 9+(i/10)/4, 15*((i/10)%4)) }
	slots := make([]int64, len(ss))
	for i := range ss {
		slots[i] = slot(i)
	}
	const copies = 2 // each request sent twice at once under one key
	results := make([]resp, len(ss)*copies)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for j := range results {
		i := j % len(ss)
		wg.Go(func() {
			<-start
			results[j] = e.withKey("POST", "/api/v1/bookings", tokens[i], fmtPath("load-%d", i), map[string]any{"slot_id": slots[i]})
		})
	}
	close(start)
	wg.Wait()
	for i := range ss {
		var created []resp
		for c := range copies {
			r := results[c*len(ss)+i]
			switch {
			case r.Status == http.StatusCreated:
				created = append(created, r)
			case r.Status == http.StatusConflict && r.str("code") == "conflict" && len(r.str("message")) > 0:
			default:
				t.Fatalf("seeker %d: %d %s", ss[i], r.Status, r.Raw)
			}
		}
		if len(created) == 0 {
			t.Fatalf("seeker %d: no copy booked", ss[i])
		}
		if len(created) == 2 && string(created[0].Raw) != string(created[1].Raw) {
			t.Fatalf("seeker %d: two different answers under one key:\n%s\n%s", ss[i], created[0].Raw, created[1].Raw)
		}
		again := e.withKey("POST", "/api/v1/bookings", tokens[i], fmtPath("load-%d", i), map[string]any{"slot_id": slots[i]})
		if string(again.Raw) != string(created[0].Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("seeker %d: replay %s, first %s", ss[i], again.Raw, created[0].Raw)
		}
	}
	if n := e.count(`SELECT count(*) FROM bookings`); n != len(ss) {
		t.Fatalf("%d bookings, want %d", n, len(ss))
	}
	st := e.svc.BatchStats()
	t.Logf("%d claim batches, %d store batches", st.KeyClaims.Statements, st.KeyStores.Statements)
	if st.KeyClaims.Statements == 0 {
		t.Fatal("200 concurrent keyed requests formed no claim batch")
	}
}
