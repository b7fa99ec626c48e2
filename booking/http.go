package booking

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"jobhall/internal/apperr"
	"jobhall/internal/gzipbody"
)

// maxBody bounds every JSON request body.
const maxBody = 64 << 10

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decodeJSON reads exactly one JSON object into dst: application/json only,
// at most maxBody bytes, no unknown fields, nothing after it.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.Invalid, "Content-Type must be application/json")
	}
	if r.ContentLength > maxBody {
		return apperr.New(apperr.TooLarge, "request body is over %d bytes", maxBody)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			if e := jsonError(err); apperr.CodeOf(e) == apperr.TooLarge {
				return e
			}
		}
		return apperr.New(apperr.Invalid, "request body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return apperr.New(apperr.TooLarge, "request body is over %d bytes", maxBody)
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.Invalid, "request body is empty; a JSON object is required")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(apperr.Invalid, "request body is not valid JSON")
	case errors.As(err, &typ):
		return apperr.New(apperr.Invalid, "field %q has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apperr.New(apperr.Invalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return apperr.New(apperr.Invalid, "request body is not a valid JSON object")
	}
}

func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.Invalid, "%s must be a positive integer", name)
	}
	return id, nil
}

// queryInt parses an optional bounded integer query parameter.
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, apperr.New(apperr.Invalid, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// queryDate parses an optional YYYY-MM-DD parameter; "" if absent.
func queryDate(r *http.Request) (string, error) {
	v := r.URL.Query().Get("date")
	if v == "" {
		return "", nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil || t.Year() < 2000 || t.Year() > 2200 {
		return "", apperr.New(apperr.Invalid, "date must be YYYY-MM-DD")
	}
	return t.Format(time.DateOnly), nil
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func internal(err error, what string) error { return apperr.Wrap(err, apperr.Internal, "%s", what) }

// --- demo sign-in ---

type personJSON struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	County  string `json:"county,omitempty"`
	BoothID int64  `json:"booth_id,omitempty"`
}

func (s *Service) handleDemoPeople(w http.ResponseWriter, r *http.Request) error {
	if !s.demo {
		return apperr.New(apperr.NotFound, "demo mode is off")
	}
	ctx := r.Context()
	var seed, fairID int64
	err := s.pool.QueryRow(ctx, `SELECT d.seed, d.fair_id FROM demo_seeds d JOIN fairs f ON f.id = d.fair_id
		ORDER BY (f.day >= ($1::timestamptz AT TIME ZONE f.time_zone)::date) DESC,
			CASE WHEN f.day >= ($1::timestamptz AT TIME ZONE f.time_zone)::date THEN f.day END ASC,
			f.day DESC, d.loaded_at DESC
		LIMIT 1`, s.now()).Scan(&seed, &fairID)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "no demo data is loaded")
	}
	if err != nil {
		return internal(err, "find demo fair")
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name, county, 0::bigint FROM seekers WHERE demo_seed = $1 ORDER BY id LIMIT 20`, seed)
	if err != nil {
		return internal(err, "list demo seekers")
	}
	seekers, err := pgx.CollectRows(rows, pgx.RowToStructByPos[personJSON])
	if err != nil {
		return internal(err, "list demo seekers")
	}
	rows, err = s.pool.Query(ctx, `SELECT e.id, e.name, '', b.id FROM booths b JOIN employers e ON e.id = b.employer_id
		WHERE b.fair_id = $1 ORDER BY b.id LIMIT 20`, fairID)
	if err != nil {
		return internal(err, "list demo employers")
	}
	employers, err := pgx.CollectRows(rows, pgx.RowToStructByPos[personJSON])
	if err != nil {
		return internal(err, "list demo employers")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"fair_id": fairID, "seekers": nonNil(seekers), "employers": nonNil(employers)})
}

func (s *Service) handleDemoSession(w http.ResponseWriter, r *http.Request) error {
	if !s.demo {
		return apperr.New(apperr.NotFound, "demo mode is off")
	}
	var in struct {
		Role string `json:"role"`
		ID   int64  `json:"id"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Role != RoleSeeker && in.Role != RoleEmployer {
		return apperr.New(apperr.Invalid, `role must be "seeker" or "employer"`)
	}
	if in.ID <= 0 {
		return apperr.New(apperr.Invalid, "id must be a positive integer")
	}
	p := principal{Role: in.Role, ID: in.ID}
	name, err := s.nameOf(r, p)
	if err != nil {
		if apperr.CodeOf(err) == apperr.Unauthorized {
			return apperr.New(apperr.NotFound, "no %s with id %d", in.Role, in.ID)
		}
		return err
	}
	tok, exp, err := s.issueSession(p)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, tok, exp)
	return writeJSON(w, http.StatusOK, map[string]any{"token": tok, "role": p.Role, "id": p.ID, "name": name, "expires_at": exp.UTC()})
}

// nameOf returns the display name of p; Unauthorized if p no longer exists.
func (s *Service) nameOf(r *http.Request, p principal) (string, error) {
	q := `SELECT name FROM seekers WHERE id = $1`
	switch {
	case p.Role == RoleEmployer:
		q = `SELECT name FROM employers WHERE id = $1`
	case p.Role != RoleSeeker:
		q = `SELECT name FROM accounts WHERE id = $1 AND NOT disabled`
	}
	var name string
	err := s.pool.QueryRow(r.Context(), q, p.ID).Scan(&name)
	if isNoRows(err) {
		return "", apperr.New(apperr.Unauthorized, "your account no longer exists; please sign in again")
	}
	if err != nil {
		return "", internal(err, "look up account")
	}
	return name, nil
}

func (s *Service) handleSession(w http.ResponseWriter, r *http.Request) error {
	p, err := s.require(r)
	if err != nil {
		return err
	}
	name, err := s.nameOf(r, p)
	if err != nil {
		return err
	}
	out := map[string]any{"role": p.Role, "id": p.ID, "name": name}
	if p.Account != 0 {
		out["account_id"] = p.Account
	}
	if p.Role == RoleEmployer {
		rows, err := s.pool.Query(r.Context(), `SELECT id FROM booths WHERE employer_id = $1 ORDER BY id DESC LIMIT 50`, p.ID)
		if err != nil {
			return internal(err, "list booths")
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return internal(err, "list booths")
		}
		out["booth_ids"] = ids
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleSignOut(w http.ResponseWriter, r *http.Request) error {
	s.clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- fairs and booths ---

type fairJSON struct {
	ID            int64     `json:"id"`
	Name          string    `json:"name"`
	Venue         string    `json:"venue"`
	Day           string    `json:"day"`
	Mode          string    `json:"mode"`
	TimeZone      string    `json:"time_zone"`
	BookingOpens  time.Time `json:"booking_opens"`
	BookingCloses time.Time `json:"booking_closes"`
	Status        string    `json:"status"`
	Booths        int64     `json:"booths"`
	BookingOpen   bool      `json:"booking_open"`
}

func (s *Service) handleCurrentFair(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	var f fairJSON
	var day time.Time
	err := s.pool.QueryRow(r.Context(), `SELECT f.id, f.name, f.venue, f.day, f.mode, f.time_zone, f.booking_opens, f.booking_closes, f.status,
			(SELECT count(*) FROM booths b WHERE b.fair_id = f.id)
		FROM fairs f
		WHERE f.status IN ('published', 'closed') AND f.day >= ($1::timestamptz AT TIME ZONE f.time_zone)::date
		ORDER BY f.day, f.id LIMIT 1`, now).
		Scan(&f.ID, &f.Name, &f.Venue, &day, &f.Mode, &f.TimeZone, &f.BookingOpens, &f.BookingCloses, &f.Status, &f.Booths)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "no job fair is scheduled today or later")
	}
	if err != nil {
		return internal(err, "find current fair")
	}
	loc := s.zone(f.TimeZone)
	f.Day = day.Format(time.DateOnly)
	f.BookingOpens, f.BookingCloses = f.BookingOpens.In(loc), f.BookingCloses.In(loc)
	f.BookingOpen = f.Status == "published" && !now.Before(f.BookingOpens) && now.Before(f.BookingCloses)
	return writeJSON(w, http.StatusOK, f)
}

type boothJSON struct {
	ID           int64  `json:"id"`
	EmployerID   int64  `json:"employer_id"`
	EmployerName string `json:"employer_name"`
	Industry     string `json:"industry"`
	Verified     bool   `json:"verified"`
	Lanes        int16  `json:"lanes"`
	HallPosition string `json:"hall_position"`
	JobPosts     int64  `json:"job_posts"`
}

func (s *Service) handleFairBooths(w http.ResponseWriter, r *http.Request) error {
	fairID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 1_000_000)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if utf8.RuneCountInString(q) > 100 || !utf8.ValidString(q) {
		return apperr.New(apperr.Invalid, "q must be valid text of at most 100 characters")
	}
	pattern := "%" + likeEscaper.Replace(q) + "%"
	ctx := r.Context()
	var total int64
	err = s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM booths b JOIN employers e ON e.id = b.employer_id
			WHERE b.fair_id = f.id AND (e.name ILIKE $2 OR e.industry ILIKE $2))
		FROM fairs f WHERE f.id = $1`, fairID, pattern).Scan(&total)
	if isNoRows(err) {
		return apperr.New(apperr.NotFound, "no fair with id %d", fairID)
	}
	if err != nil {
		return internal(err, "count booths")
	}
	rows, err := s.pool.Query(ctx, `SELECT b.id, b.employer_id, e.name, e.industry, e.verified, b.lanes, b.hall_position,
			(SELECT count(*) FROM job_posts j WHERE j.employer_id = b.employer_id AND j.status = 'published')
		FROM booths b JOIN employers e ON e.id = b.employer_id
		WHERE b.fair_id = $1 AND (e.name ILIKE $2 OR e.industry ILIKE $2)
		ORDER BY b.id LIMIT $3 OFFSET $4`, fairID, pattern, limit, offset)
	if err != nil {
		return internal(err, "list booths")
	}
	booths, err := pgx.CollectRows(rows, pgx.RowToStructByPos[boothJSON])
	if err != nil {
		return internal(err, "list booths")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"fair_id": fairID, "booths": nonNil(booths), "total": total, "limit": limit, "offset": offset})
}

// likeEscaper escapes LIKE wildcards (backslash is the default escape).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

type slotJSON struct {
	ID    int64     `json:"id"`
	Lane  int16     `json:"lane"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// boothInfo is what handlers need to know about a booth.
type boothInfo struct {
	employerID   int64
	employerName string
	timeZone     string
	fairDay      time.Time
	fairID       int64
	lanes        int16
}

func (s *Service) booth(r *http.Request, id int64) (boothInfo, error) {
	var b boothInfo
	err := s.pool.QueryRow(r.Context(), `SELECT b.employer_id, e.name, f.time_zone, f.day, f.id, b.lanes
		FROM booths b JOIN employers e ON e.id = b.employer_id JOIN fairs f ON f.id = b.fair_id WHERE b.id = $1`, id).
		Scan(&b.employerID, &b.employerName, &b.timeZone, &b.fairDay, &b.fairID, &b.lanes)
	if isNoRows(err) {
		return b, apperr.New(apperr.NotFound, "no booth with id %d", id)
	}
	if err != nil {
		return b, internal(err, "look up booth")
	}
	return b, nil
}

func (s *Service) handleBoothSlots(w http.ResponseWriter, r *http.Request) error {
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	date, err := queryDate(r)
	if err != nil {
		return err
	}
	now, wall := s.now(), time.Now() // the cache ages on the wall clock even when tests fix s.now
	if e, ok := s.slots.get(boothID, date, wall); ok {
		if e.body != nil && (e.bodyUntil.IsZero() || now.Before(e.bodyUntil)) {
			return writeEncoded(w, r, e.body, e.gz)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"booth_id": boothID, "date": e.date, "time_zone": e.tz,
			"slots": s.freshSlots(e.slots, e.tz, now)})
	}
	reqDate := date
	// One round trip: the booth's zone and day, and its free open slots of
	// that day (a range on lower(during), so slots_booth_start_idx serves it).
	var day *string
	if date != "" {
		day = &date
	}
	rows, err := s.pool.Query(r.Context(), `WITH b AS (SELECT f.time_zone, coalesce($3::date, f.day) AS day FROM booths b JOIN fairs f ON f.id = b.fair_id
			WHERE b.id = $1)
		SELECT b.time_zone, b.day::text, x.id, x.lane, x.lo, x.hi FROM b LEFT JOIN LATERAL (
			SELECT s.id, s.lane, lower(s.during) AS lo, upper(s.during) AS hi FROM slots s
			WHERE s.booth_id = $1 AND s.open AND lower(s.during) > $2
				AND lower(s.during) >= (b.day::timestamp AT TIME ZONE b.time_zone) AND lower(s.during) < ((b.day + 1)::timestamp AT TIME ZONE b.time_zone)
				AND NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.booth_id = s.booth_id AND bk.lane = s.lane
					AND bk.status IN ('held', 'booked') AND bk.during && s.during)
			ORDER BY lower(s.during), s.lane LIMIT 1000) x ON true`, boothID, now, day)
	if err != nil {
		return internal(err, "list slots")
	}
	var tz string
	found := false
	slots := []slotJSON{}
	for rows.Next() {
		var id *int64
		var lane *int16
		var lo, hi *time.Time
		if err := rows.Scan(&tz, &date, &id, &lane, &lo, &hi); err != nil {
			rows.Close()
			return internal(err, "list slots")
		}
		found = true
		if id != nil {
			slots = append(slots, slotJSON{ID: *id, Lane: *lane, Start: *lo, End: *hi})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return internal(err, "list slots")
	}
	if !found {
		return apperr.New(apperr.NotFound, "no booth with id %d", boothID)
	}
	e := slotEntry{at: wall, tz: tz, date: date, slots: slots}
	fresh := s.freshSlots(slots, tz, now)
	e.body, e.gz = encodeAnswer(map[string]any{"booth_id": boothID, "date": date, "time_zone": tz, "slots": fresh})
	if len(fresh) > 0 {
		e.bodyUntil = fresh[0].Start // sorted by start: the first to drop out
	}
	s.slots.put(boothID, reqDate, e)
	return writeEncoded(w, r, e.body, e.gz)
}

// encodeAnswer is v as writeJSON sends it, and gzipped (nil when that
// fails or does not pay).
func encodeAnswer(v any) (body, gz []byte) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		return nil, nil
	}
	body = b.Bytes()
	if len(body) < 1400 { // about one TCP segment: not worth it
		return body, nil
	}
	return body, gzipbody.Compress(body)
}

// writeEncoded sends a 200 JSON answer made by encodeAnswer, gzipped when
// the client takes it.
func writeEncoded(w http.ResponseWriter, r *http.Request, body, gz []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if gz != nil && !strings.Contains(strings.Join(h.Values("Vary"), ","), "Accept-Encoding") {
		h.Add("Vary", "Accept-Encoding")
	}
	if gz != nil && gzipbody.Accepts(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", strconv.Itoa(len(gz)))
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(gz)
		return err
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// freshSlots copies the cached slots that still start after now, in the
// fair's zone (the cached slice is shared and never changed).
func (s *Service) freshSlots(cached []slotJSON, tz string, now time.Time) []slotJSON {
	out := make([]slotJSON, 0, len(cached))
	for _, sl := range cached {
		if sl.Start.After(now) {
			out = append(out, sl)
		}
	}
	s.localSlots(out, tz)
	return out
}

func (s *Service) localSlots(slots []slotJSON, tz string) {
	loc := s.zone(tz)
	for i := range slots {
		slots[i].Start, slots[i].End = slots[i].Start.In(loc), slots[i].End.In(loc)
	}
}
