package booking_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"jobhall/booking"
)

// reminderBox keeps the reminders delivered through the outbox.
type reminderBox struct {
	mu   sync.Mutex
	got  []booking.Reminder
	fail bool // refuse every reminder (a failing SMS gateway)
}

func (b *reminderBox) Remind(_ context.Context, r booking.Reminder) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return context.DeadlineExceeded
	}
	b.got = append(b.got, r)
	return nil
}

// events returns the delivered reminders of booking id, in order.
func (b *reminderBox) events(id int64) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.got {
		if r.BookingID == id {
			out = append(out, r.Event)
		}
	}
	return out
}

// One outbox row per booking carries its three reminders: each goes out at
// its time, in order, and a cancelled booking's row stops.
func TestRemindersFromOneRow(t *testing.T) {
	box := &reminderBox{}
	clock := &testClock{t: time.Now()}
	e := newEnvWith(t, func(c *booking.Config) { c.Now, c.Notifier = clock.Now, box })
	clock.Set(time.Now()) // after the seeding that opened the booking window
	ss := e.seekerIDs(3)
	booths, _ := e.booths(1)
	s1, s2, s3 := e.slotAt(booths[0], 10, 0), e.slotAt(booths[0], 10, 15), e.slotAt(booths[0], 10, 30)
	var ids []int64
	for i, sl := range []int64{s1, s2, s3} {
		r := e.book(e.signIn("seeker", ss[i]), sl)
		mustStatus(t, r, 201, "book")
		ids = append(ids, num(r.Body["id"]))
	}
	for _, id := range ids {
		if n := e.count(`SELECT count(*) FROM outbox WHERE kind = 'reminder' AND booking_id = $1`, id); n != 1 {
			t.Fatalf("booking %d has %d reminder rows, want 1", id, n)
		}
	}
	deliver := func() {
		t.Helper()
		for range 5 { // a re-armed row that is already due goes out on a later pass
			if _, err := e.svc.DeliverDue(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := e.slotTime(s1)
	deliver()
	if got := box.events(ids[0]); len(got) != 0 {
		t.Fatalf("reminders before their time: %v", got)
	}
	clock.Set(start.Add(-24*time.Hour + time.Second))
	deliver()
	if got := box.events(ids[0]); !slices.Equal(got, []string{"reminder.24h"}) {
		t.Fatalf("after 24 h mark: %v", got)
	}
	clock.Set(start.Add(-time.Hour + time.Second))
	deliver()
	if got := box.events(ids[0]); !slices.Equal(got, []string{"reminder.24h", "reminder.1h"}) {
		t.Fatalf("after 1 h mark: %v", got)
	}
	// The second booking (15 minutes later) has had its first reminder; it
	// is cancelled now and gets no more.
	if got := box.events(ids[1]); !slices.Equal(got, []string{"reminder.24h"}) {
		t.Fatalf("second booking: %v", got)
	}
	r := e.post(fmtPath("/api/v1/bookings/%d/cancel", ids[1]), e.signIn("seeker", ss[1]), map[string]any{})
	mustStatus(t, r, 200, "cancel")
	clock.Set(start.Add(-10*time.Minute + time.Second))
	deliver()
	want := []string{"reminder.24h", "reminder.1h", "reminder.10m"}
	if got := box.events(ids[0]); !slices.Equal(got, want) {
		t.Fatalf("after 10 min mark: %v", got)
	}
	// A dispatcher that was down: the third booking's three reminders come
	// late but still each once, in order.
	clock.Set(e.slotTime(s3).Add(-time.Minute))
	deliver()
	if got := box.events(ids[2]); !slices.Equal(got, want) {
		t.Fatalf("late dispatcher: %v", got)
	}
	if got := box.events(ids[1]); !slices.Equal(got, []string{"reminder.24h"}) {
		t.Fatalf("cancelled booking reminded: %v", got)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE kind = 'reminder' AND delivered_at IS NULL`); n != 0 {
		t.Fatalf("%d reminder rows still pending", n)
	}
}

// A reminder that keeps failing is given up, but the row moves on to the
// next one instead of being dropped with it.
func TestReminderGivenUpMovesOn(t *testing.T) {
	box := &reminderBox{fail: true}
	clock := &testClock{t: time.Now()}
	e := newEnvWith(t, func(c *booking.Config) { c.Now, c.Notifier = clock.Now, box })
	clock.Set(time.Now()) // after the seeding that opened the booking window
	ss := e.seekerIDs(1)
	booths, _ := e.booths(1)
	sl := e.slotAt(booths[0], 11, 0)
	r := e.book(e.signIn("seeker", ss[0]), sl)
	mustStatus(t, r, 201, "book")
	id := num(r.Body["id"])
	start := e.slotTime(sl)
	clock.Set(start.Add(-24*time.Hour + time.Second))
	for range 12 {
		if _, err := e.pool.Exec(e.ctx, `UPDATE outbox SET due_at = $2 WHERE booking_id = $1 AND kind = 'reminder' AND event = 'reminder.24h'`,
			id, clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.DeliverDue(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	var event string
	var due time.Time
	var dropped bool
	if err := e.pool.QueryRow(e.ctx, `SELECT event, due_at, dropped_at IS NOT NULL FROM outbox WHERE booking_id = $1 AND kind = 'reminder'`, id).
		Scan(&event, &due, &dropped); err != nil {
		t.Fatal(err)
	}
	if event != "reminder.1h" || !due.Equal(start.Add(-time.Hour)) || dropped {
		t.Fatalf("after 12 failures: event %s due %v dropped %v", event, due, dropped)
	}
	box.mu.Lock()
	box.fail = false
	box.mu.Unlock()
	clock.Set(start.Add(-time.Hour + time.Second))
	if _, err := e.svc.DeliverDue(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := box.events(id); !slices.Equal(got, []string{"reminder.1h"}) {
		t.Fatalf("after recovery: %v", got)
	}
}
