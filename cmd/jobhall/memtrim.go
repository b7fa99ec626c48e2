package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Free heap the runtime may keep instead of returning it: more than this,
// and more than a quarter of the live objects, is given back at once.
const (
	trimMinFree  = 8 << 20
	trimFreeFrac = 4
)

// memoryTrims counts the times trimMemory gave memory back (/metrics).
var memoryTrims atomic.Uint64

// trimMemory returns idle heap to the operating system when much of it is
// free. A join storm (SDP, ICE, DTLS handshakes) leaves tens of MB of free
// heap that the runtime's background scavenger returns only slowly, so a
// media node's RSS would stay at its peak for minutes (docs/BENCHMARKS.md,
// SFU round 6). Each trim is one forced collection, taken only after such
// bursts: in a steady state freed memory is reused and stays under the bar.
func trimMemory(ctx context.Context, period time.Duration) {
	every(ctx, period, func() {
		if trimDue() {
			debug.FreeOSMemory()
			memoryTrims.Add(1)
		}
	})
}

// trimDue reads the free-but-kept heap and the live objects' bytes.
func trimDue() bool {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return false
	}
	free, live := s[0].Value.Uint64(), s[1].Value.Uint64()
	return free > trimMinFree && free > live/trimFreeFrac
}
