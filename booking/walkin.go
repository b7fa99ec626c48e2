package booking

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"jobhall/internal/apperr"
)

// --- the walk-in queue ---

func (s *Service) handleJoinQueue(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Mode string `json:"mode"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Mode != "onsite" && in.Mode != "remote" {
		return apperr.New(apperr.Invalid, `mode must be "onsite" or "remote"`)
	}
	if _, err := s.booth(r, boothID); err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	var id, pos int64
	err = s.pool.QueryRow(ctx, `WITH q AS (INSERT INTO queue_entries (booth_id, seeker_id, mode, enqueued_at) VALUES ($1, $2, $3, $4) RETURNING id),
		l AS (INSERT INTO employment_log (seeker_id, kind, at, data)
			SELECT $2, 'queue_joined', $4, jsonb_build_object('booth_id', $1::bigint, 'mode', $3::text, 'queue_entry', q.id) FROM q)
		SELECT q.id, 1 + (SELECT count(*) FROM queue_entries e WHERE e.booth_id = $1 AND e.status = 'waiting') FROM q`,
		boothID, p.ID, in.Mode, now).Scan(&id, &pos)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return apperr.New(apperr.Conflict, "您已在这个展位的队列中 / you are already waiting in this booth's queue")
	}
	if err != nil {
		return internal(err, "join queue")
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "booth_id": boothID, "mode": in.Mode, "position": pos, "status": "waiting"})
}

type queueEntry struct {
	ID         int64      `json:"id"`
	SeekerID   int64      `json:"seeker_id"`
	SeekerName string     `json:"seeker_name"`
	Mode       string     `json:"mode"`
	Status     string     `json:"status"`
	Lane       *int16     `json:"lane"`
	EnqueuedAt time.Time  `json:"enqueued_at"`
	CalledAt   *time.Time `json:"called_at"`
}

func (s *Service) handleListQueue(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	if _, err := s.manageBooth(r, p, boothID); err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `SELECT q.id, q.seeker_id, sk.name, q.mode, q.status, q.lane, q.enqueued_at, q.called_at
		FROM queue_entries q JOIN seekers sk ON sk.id = q.seeker_id WHERE q.booth_id = $1 AND q.status = 'waiting' ORDER BY (q.handed_off_from IS NULL), q.id LIMIT $2`, boothID, limit)
	if err != nil {
		return internal(err, "list queue")
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByPos[queueEntry])
	if err != nil {
		return internal(err, "list queue")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"booth_id": boothID, "waiting": nonNil(es), "limit": limit})
}

// handleCallNext takes the first waiting entry that no other lane is
// taking right now (FOR UPDATE SKIP LOCKED), so lanes calling at once get
// different seekers and never wait on each other. Seekers handed off from
// another booth go first.
func (s *Service) handleCallNext(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	boothID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Lane int16 `json:"lane"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	b, err := s.manageBooth(r, p, boothID)
	if err != nil {
		return err
	}
	if in.Lane < 1 || in.Lane > b.lanes {
		return apperr.New(apperr.Invalid, "lane must be 1 to %d for this booth", b.lanes)
	}
	rows, err := s.pool.Query(r.Context(), `WITH next AS (
			SELECT id FROM queue_entries WHERE booth_id = $1 AND status = 'waiting' ORDER BY (handed_off_from IS NULL), id LIMIT 1 FOR UPDATE SKIP LOCKED)
		UPDATE queue_entries q SET status = 'called', called_at = $3, lane = $2 FROM next, seekers sk
		WHERE q.id = next.id AND sk.id = q.seeker_id
		RETURNING q.id, q.seeker_id, sk.name, q.mode, q.status, q.lane, q.enqueued_at, q.called_at`, boothID, in.Lane, s.now())
	if err != nil {
		return internal(err, "call next")
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByPos[queueEntry])
	if err != nil {
		return internal(err, "call next")
	}
	var e *queueEntry
	if len(es) == 1 {
		e = &es[0]
	}
	return writeJSON(w, http.StatusOK, map[string]any{"booth_id": boothID, "entry": e})
}

// --- group sessions with seats ---

type groupSessionJSON struct {
	ID         int64     `json:"id"`
	FairID     *int64    `json:"fair_id"`
	Kind       string    `json:"kind"`
	Title      string    `json:"title"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Capacity   int32     `json:"capacity"`
	SeatsTaken int32     `json:"seats_taken"`
}

func (s *Service) handleCreateGroupSession(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	var in struct {
		FairID   *int64    `json:"fair_id"`
		Kind     string    `json:"kind"`
		Title    string    `json:"title"`
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
		Capacity int32     `json:"capacity"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	switch {
	case in.Kind != "training" && in.Kind != "info_session" && in.Kind != "consultation":
		return apperr.New(apperr.Invalid, `kind must be "training", "info_session" or "consultation"`)
	case in.Start.IsZero() || in.End.IsZero() || !in.Start.Before(in.End):
		return apperr.New(apperr.Invalid, "时间段颠倒或为空 / start and end are required and start must be before end")
	case !in.Start.After(s.now()):
		return apperr.New(apperr.Invalid, "start must be in the future")
	case in.Capacity < 1 || in.Capacity > 10000:
		return apperr.New(apperr.Invalid, "capacity must be 1 to 10000")
	}
	if err := textField("title", in.Title, 1, 200); err != nil {
		return err
	}
	if in.FairID != nil && p.Role == RoleOfficer {
		if err := s.runsFair(r.Context(), p, *in.FairID); err != nil {
			return err
		}
	}
	var host *int64
	if p.Account != 0 {
		host = &p.Account
	}
	var id int64
	err := s.pool.QueryRow(r.Context(), `INSERT INTO group_sessions (fair_id, kind, title, host_id, during, capacity)
		VALUES ($1, $2, $3, $4, tstzrange($5, $6), $7) RETURNING id`, in.FairID, in.Kind, strings.TrimSpace(in.Title), host, in.Start, in.End, in.Capacity).Scan(&id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return apperr.New(apperr.NotFound, "没有这个招聘会 / no such fair")
	}
	if err != nil {
		return internal(err, "create group session")
	}
	return writeJSON(w, http.StatusCreated, groupSessionJSON{ID: id, FairID: in.FairID, Kind: in.Kind, Title: strings.TrimSpace(in.Title),
		Start: in.Start, End: in.End, Capacity: in.Capacity})
}

func (s *Service) handleListGroupSessions(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 100_000)
	if err != nil {
		return err
	}
	fair, err := queryInt(r, "fair_id", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(), `SELECT id, fair_id, kind, title, lower(during), upper(during), capacity, seats_taken
		FROM group_sessions WHERE ($1 = 0 OR fair_id = $1) AND upper(during) > $2 ORDER BY lower(during), id LIMIT $3 OFFSET $4`,
		fair, s.now(), limit, offset)
	if err != nil {
		return internal(err, "list group sessions")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[groupSessionJSON])
	if err != nil {
		return internal(err, "list group sessions")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sessions": nonNil(list), "limit": limit, "offset": offset})
}

// handleTakeSeat counts the seat with a conditional increment: the row
// update only happens while seats_taken < capacity (and a CHECK backs it).
func (s *Service) handleTakeSeat(w http.ResponseWriter, r *http.Request) error {
	p, _ := s.require(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var g groupSessionJSON
	err = tx.QueryRow(ctx, `UPDATE group_sessions SET seats_taken = seats_taken + 1
		WHERE id = $1 AND seats_taken < capacity AND lower(during) > $2
		RETURNING id, fair_id, kind, title, lower(during), upper(during), capacity, seats_taken`, id, now).
		Scan(&g.ID, &g.FairID, &g.Kind, &g.Title, &g.Start, &g.End, &g.Capacity, &g.SeatsTaken)
	if isNoRows(err) {
		var cap, taken int32
		var start time.Time
		if err := tx.QueryRow(ctx, `SELECT capacity, seats_taken, lower(during) FROM group_sessions WHERE id = $1`, id).Scan(&cap, &taken, &start); err != nil {
			if isNoRows(err) {
				return apperr.New(apperr.NotFound, "没有这个课程或活动 / no group session with id %d", id)
			}
			return internal(err, "take seat")
		}
		if !now.Before(start) {
			return apperr.New(apperr.Invalid, "活动已开始 / this session has already started")
		}
		return apperr.New(apperr.Conflict, "名额已满 / all %d seats are taken", cap)
	}
	if err != nil {
		return internal(err, "take seat")
	}
	tag, err := tx.Exec(ctx, `INSERT INTO session_seats (session_id, seeker_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, id, p.ID, now)
	if err != nil {
		return internal(err, "take seat")
	}
	if tag.RowsAffected() == 0 {
		return apperr.New(apperr.Conflict, "您已报名 / you already have a seat in this session")
	}
	if err := logTx(ctx, tx, p.ID, KindSeatTaken, now, nil, map[string]any{"session_id": id, "kind": g.Kind, "title": g.Title,
		"start": g.Start, "end": g.End}); err != nil {
		return internal(err, "write employment log")
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(err, "take seat")
	}
	return writeJSON(w, http.StatusCreated, g)
}
