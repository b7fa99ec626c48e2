package booking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"jobhall/internal/apperr"
)

// icsEvent is one VEVENT.
type icsEvent struct {
	uid, summary, location, description string
	start, end, stamp                   time.Time
	cancelled                           bool
}

// icsEscape escapes TEXT values (RFC 5545 §3.3.11).
func icsEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\n", `\n`, "\r", "").Replace(s)
}

// icsFold folds content lines at 75 octets without splitting UTF-8.
func icsFold(line string) string {
	var b strings.Builder
	n := 0
	for _, r := range line {
		l := len(string(r))
		if n+l > 75 {
			b.WriteString("\r\n ")
			n = 1
		}
		b.WriteRune(r)
		n += l
	}
	b.WriteString("\r\n")
	return b.String()
}

func writeICS(w http.ResponseWriter, name string, events []icsEvent) error {
	const f = "20060102T150405Z"
	var b strings.Builder
	for _, l := range []string{"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//jobhall//booking//ZH", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
		"X-WR-CALNAME:" + icsEscape(name)} {
		b.WriteString(icsFold(l))
	}
	for _, e := range events {
		lines := []string{"BEGIN:VEVENT", "UID:" + e.uid, "DTSTAMP:" + e.stamp.UTC().Format(f), "DTSTART:" + e.start.UTC().Format(f),
			"DTEND:" + e.end.UTC().Format(f), "SUMMARY:" + icsEscape(e.summary), "LOCATION:" + icsEscape(e.location),
			"DESCRIPTION:" + icsEscape(e.description)}
		if e.cancelled {
			lines = append(lines, "STATUS:CANCELLED")
		} else {
			lines = append(lines, "STATUS:CONFIRMED")
		}
		lines = append(lines, "END:VEVENT")
		for _, l := range lines {
			b.WriteString(icsFold(l))
		}
	}
	b.WriteString(icsFold("END:VCALENDAR"))
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte(b.String()))
	return err
}

func (s *Service) handleBookingICS(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	g, err := s.lockGroup(ctx, tx, p, id)
	if err != nil {
		return err
	}
	var pos, fair, venue string
	if err := tx.QueryRow(ctx, `SELECT b.hall_position, f.name, f.venue FROM booths b JOIN fairs f ON f.id = b.fair_id WHERE b.id = $1`, g.boothID).
		Scan(&pos, &fair, &venue); err != nil {
		return internal(err, "read booth")
	}
	return writeICS(w, fair, []icsEvent{{uid: fmt.Sprintf("booking-%d@jobhall", g.id), summary: "面试 Interview: " + g.employerName,
		location: strings.TrimSpace(venue + " " + pos), description: fmt.Sprintf("%s · 通道 lane %d · %s", fair, g.lane, RoomForBooking(g.id)),
		start: g.start, end: g.end, stamp: s.now(), cancelled: g.status != "booked" && g.status != "held"}})
}

// feedToken is the capability in a lane's feed URL: calendar apps cannot
// send cookies, so the URL itself authorizes (revoked by rotating the key).
func (s *Service) feedToken(boothID int64, lane int16) string {
	h := hmac.New(sha256.New, s.feedKey)
	fmt.Fprintf(h, "%d/%d", boothID, lane)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

func (s *Service) handleCalendarFeeds(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := s.manageBooth(r, p, boothID)
	if err != nil {
		return err
	}
	type feed struct {
		Lane int16  `json:"lane"`
		URL  string `json:"url"`
	}
	feeds := make([]feed, 0, b.lanes)
	for l := int16(1); l <= b.lanes; l++ {
		feeds = append(feeds, feed{l, fmt.Sprintf("%s/api/v1/booths/%d/lanes/%d/calendar.ics?token=%s", s.publicURL, boothID, l,
			url.QueryEscape(s.feedToken(boothID, l)))})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"booth_id": boothID, "feeds": feeds})
}

func (s *Service) handleLaneFeed(w http.ResponseWriter, r *http.Request) error {
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	lane, err := strconv.Atoi(r.PathValue("lane"))
	if err != nil || lane < 1 || lane > 20 {
		return apperr.New(apperr.Invalid, "lane must be 1 to 20")
	}
	tok := r.URL.Query().Get("token")
	if tok == "" || !hmac.Equal([]byte(tok), []byte(s.feedToken(boothID, int16(lane)))) {
		return apperr.New(apperr.Forbidden, "日历订阅链接无效 / this calendar feed link is not valid")
	}
	b, err := s.booth(r, boothID)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `SELECT bk.id, lower(bk.during), upper(bk.during), sk.name, bk.status FROM bookings bk
		JOIN seekers sk ON sk.id = bk.seeker_id
		WHERE bk.booth_id = $1 AND bk.lane = $2 AND bk.status IN ('booked', 'cancelled') AND upper(bk.during) > $3
		ORDER BY lower(bk.during) LIMIT 2000`, boothID, lane, s.now().AddDate(0, 0, -7))
	if err != nil {
		return internal(err, "read feed")
	}
	defer rows.Close()
	var evs []icsEvent
	for rows.Next() {
		var id int64
		var st, en time.Time
		var name, status string
		if err := rows.Scan(&id, &st, &en, &name, &status); err != nil {
			return internal(err, "read feed")
		}
		evs = append(evs, icsEvent{uid: fmt.Sprintf("booking-%d@jobhall", id), summary: "面试 Interview: " + name,
			location: b.employerName, description: RoomForBooking(id), start: st, end: en, stamp: s.now(), cancelled: status != "booked"})
	}
	if err := rows.Err(); err != nil {
		return internal(err, "read feed")
	}
	return writeICS(w, fmt.Sprintf("%s · 通道 lane %d", b.employerName, lane), evs)
}
