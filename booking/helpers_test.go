package booking_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
)

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

func httptestRequest(method, path, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
