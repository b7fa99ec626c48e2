package apperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCodesStatusesAndBody(t *testing.T) {
	want := map[Code]int{Invalid: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409,
		TooLarge: 413, RateLimited: 429, Unavailable: 503, Internal: 500}
	for c, s := range want {
		if HTTPStatus(c) != s {
			t.Errorf("%s -> %d, want %d", c, HTTPStatus(c), s)
		}
	}
	base := New(Conflict, "slot %d taken", 4).WithDetails(map[string]any{"alternatives": []int{5}})
	wrapped := fmt.Errorf("booking: %w", base)
	if CodeOf(wrapped) != Conflict || CodeOf(errors.New("x")) != Internal {
		t.Fatal("CodeOf")
	}
	rec := httptest.NewRecorder()
	WriteHTTP(rec, httptest.NewRequest(http.MethodPost, "/x", nil), wrapped)
	var b Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != 409 || b.Message != "slot 4 taken" || b.Details == nil {
		t.Fatalf("%d %s %v", rec.Code, rec.Body, err)
	}
	rec = httptest.NewRecorder()
	WriteHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil), Wrap(errors.New("pq: secret detail"), Internal, "db"))
	if rec.Code != 500 || json.Unmarshal(rec.Body.Bytes(), &b) != nil || b.Message != "internal error" {
		t.Fatalf("internal leak: %s", rec.Body)
	}
}
