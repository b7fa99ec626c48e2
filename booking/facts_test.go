package booking_test

import (
	"net/http"
	"strings"
	"testing"

	"jobhall/booking"
)

// A slot's lasting facts are cached by its first booking; what can change
// (the slot closing, the fair's window and status, the seeker) is still
// checked by the database, with the same clear messages.
func TestCachedSlotFactsStillChecked(t *testing.T) {
	e := newEnv(t)
	booths, _ := e.booths(1)
	ss := e.seekerIDs(4)
	slot := e.slotAt(booths[0], 14, 0)
	// Book and cancel: the slot's facts are now cached.
	a := e.signIn("seeker", ss[0])
	r := e.book(a, slot)
	mustStatus(t, r, http.StatusCreated, "first booking")
	mustStatus(t, e.post(fmtPath("/api/v1/bookings/%d/cancel", num(r.Body["id"])), a, map[string]any{}), http.StatusOK, "cancel")

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(e.ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE slots SET open = false WHERE id = $1`, slot)
	r = e.book(e.signIn("seeker", ss[1]), slot)
	if r.Status != http.StatusConflict || r.str("message") != booking.MsgSlotClosed {
		t.Fatalf("closed slot: %d %s", r.Status, r.Raw)
	}
	exec(`UPDATE slots SET open = true WHERE id = $1`, slot)

	exec(`UPDATE fairs SET booking_closes = now() - interval '1 minute', booking_opens = now() - interval '1 hour' WHERE id = $1`, e.fairID)
	r = e.book(e.signIn("seeker", ss[1]), slot)
	if r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "closed") {
		t.Fatalf("closed window: %d %s", r.Status, r.Raw)
	}
	exec(`UPDATE fairs SET booking_closes = now() + interval '1 day', booking_opens = now() + interval '1 hour' WHERE id = $1`, e.fairID)
	r = e.book(e.signIn("seeker", ss[1]), slot)
	if r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "opens") {
		t.Fatalf("window not open yet: %d %s", r.Status, r.Raw)
	}
	exec(`UPDATE fairs SET booking_opens = now() - interval '1 hour', status = 'draft' WHERE id = $1`, e.fairID)
	r = e.book(e.signIn("seeker", ss[1]), slot)
	if r.Status != http.StatusConflict || !strings.Contains(r.str("message"), "not taking bookings") {
		t.Fatalf("unpublished fair: %d %s", r.Status, r.Raw)
	}
	exec(`UPDATE fairs SET status = 'published' WHERE id = $1`, e.fairID)

	// A seeker whose row is gone (its session still valid) is told so.
	var gone int64
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO seekers (name, phone) VALUES ('临时', '19900000001') RETURNING id`).Scan(&gone); err != nil {
		t.Fatal(err)
	}
	tok := e.signIn("seeker", gone)
	exec(`DELETE FROM seekers WHERE id = $1`, gone)
	r = e.book(tok, slot)
	if r.Status != http.StatusUnauthorized || r.str("message") != booking.MsgAccountGone {
		t.Fatalf("seeker gone: %d %s", r.Status, r.Raw)
	}

	// And the cached slot books normally again, with the seeker's name in the link.
	r = e.book(e.signIn("seeker", ss[3]), slot)
	mustStatus(t, r, http.StatusCreated, "booking again")
	if r.str("join_url") == "" {
		t.Fatalf("no join link: %s", r.Raw)
	}
}
