// Package apperr is jobhall's one application error type. Domain packages
// return *Error with a Code; the HTTP and signalling edges map the Code to a
// status or an error frame.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error for the edges.
type Code string

const (
	Invalid      Code = "invalid"      // bad input: 400
	Unauthorized Code = "unauthorized" // no or bad credentials: 401
	Forbidden    Code = "forbidden"    // authenticated but not allowed: 403
	NotFound     Code = "not_found"    // 404
	Conflict     Code = "conflict"     // state conflict, e.g. a taken slot: 409
	TooLarge     Code = "too_large"    // body or message over its bound: 413
	RateLimited  Code = "rate_limited" // 429
	Unavailable  Code = "unavailable"  // a dependency is down: 503
	Internal     Code = "internal"     // anything else: 500
)

// Error is the application error. Message is safe to show to the user;
// Details carries structured extras (e.g. alternative slots on a conflict).
type Error struct {
	Code    Code
	Message string
	Details any
	Err     error // cause, never shown to the user
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with cause err.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(d any) *Error {
	c := *e
	c.Details = d
	return &c
}

// CodeOf returns the Code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain, or an Internal error wrapping err.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", Err: err}
}

// HTTPStatus maps a Code to an HTTP status.
func HTTPStatus(c Code) int {
	switch c {
	case Invalid:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case RateLimited:
		return http.StatusTooManyRequests
	case Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
