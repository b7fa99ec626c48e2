package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test here starts servers, browsers and peers; none may leave a
// goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
