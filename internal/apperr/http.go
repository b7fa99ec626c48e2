package apperr

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// Body is the JSON shape of an error response: {code, message, details}.
type Body struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// WriteHTTP writes err as a JSON error response with the mapped status.
// Internal errors are logged and shown only as "internal error".
func WriteHTTP(w http.ResponseWriter, r *http.Request, err error) {
	e := As(err)
	status := HTTPStatus(e.Code)
	if status >= 500 {
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	msg := e.Message
	if e.Code == Internal {
		msg = "internal error"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Body{Code: e.Code, Message: msg, Details: e.Details})
}
