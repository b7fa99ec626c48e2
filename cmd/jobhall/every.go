package main

import (
	"context"
	"time"
)

// every calls fn once per period until ctx ends (the node's background
// loops).
func every(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
