package booking

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxExport bounds one employment-log export.
const maxExport = 100_000

// logKindNames label log kinds in the CSV export, Chinese first.
var logKindNames = map[string]string{
	KindBookingMade: "预约面试 / booking made", KindInterviewStarted: "面试开始 / interview started",
	KindInterviewEnded: "面试结束 / interview ended", KindRecordingSaved: "录像已保存 / recording saved",
	KindRecordingFailed: "录制失败 / recording failed", KindRecordingIncomplete: "录像不完整 / recording incomplete",
	KindRecordingProcessed: "录像处理 / recording processed", KindRecordingConsent: "录制同意 / recording consent",
	KindApplied: "投递简历 / application submitted", KindSeatTaken: "报名活动 / group session joined",
	KindQueueJoined: "现场排队 / walk-in queue joined",
}

type exportEntry struct {
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	At        time.Time       `json:"at"`
	BookingID *int64          `json:"booking_id"`
	Data      json.RawMessage `json:"data"`
}

func (s *Service) exportLog(ctx context.Context, q querier, seekerID int64) ([]exportEntry, error) {
	rows, err := q.Query(ctx, `SELECT id, kind, at, booking_id, data FROM employment_log WHERE seeker_id = $1 ORDER BY at, id LIMIT $2`,
		seekerID, maxExport)
	if err != nil {
		return nil, internal(err, "read employment log")
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByPos[exportEntry])
	if err != nil {
		return nil, internal(err, "read employment log")
	}
	return nonNil(es), nil
}

// writeLogExport writes the whole log as a download: JSON, or CSV (UTF-8
// with a byte-order mark so spreadsheet programs show the Chinese).
func writeLogExport(w http.ResponseWriter, seekerID int64, format string, es []exportEntry) error {
	name := fmt.Sprintf("employment-log-%d.%s", seekerID, format)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	if format == "json" {
		return writeJSON(w, http.StatusOK, map[string]any{"seeker_id": seekerID, "exported_at": time.Now().UTC(), "entries": es})
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"编号 id", "时间 at (UTC)", "类型 kind", "说明 label", "预约 booking_id", "详情 data"})
	for _, e := range es {
		b := ""
		if e.BookingID != nil {
			b = strconv.FormatInt(*e.BookingID, 10)
		}
		_ = cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339), e.Kind, logKindNames[e.Kind], b, string(e.Data)})
	}
	cw.Flush()
	return nil
}

func (s *Service) handleMyLogExport(format string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, _ := s.require(r)
		es, err := s.exportLog(r.Context(), s.pool, p.ID)
		if err != nil {
			return err
		}
		return writeLogExport(w, p.ID, format, es)
	}
}

// handleSeekerLogExport exports a seeker's log for officers of a fair the
// seeker took part in, and administrators; audited with the read.
func (s *Service) handleSeekerLogExport(format string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
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
		defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
		if err := s.mayAccessSeeker(ctx, tx, p, id); err != nil {
			return err
		}
		es, err := s.exportLog(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.audit(ctx, tx, p, "export_log", id, "employment log "+format); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return internal(err, "export employment log")
		}
		return writeLogExport(w, id, format, es)
	}
}
