package main

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func heapFree() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var trimSink [][]byte

// After a burst of garbage the trimmer gives the free heap back; with
// little free heap it does nothing.
func TestTrimMemory(t *testing.T) {
	defer goleak.VerifyNone(t)
	runtime.GC()
	for i := 0; i < 4096; i++ { // 64 MiB, then dropped
		trimSink = append(trimSink, make([]byte, 16<<10))
	}
	trimSink = nil
	runtime.GC()
	if !trimDue() {
		t.Fatalf("%d bytes free after a 64 MiB burst, and no trim due", heapFree())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	before := memoryTrims.Load()
	go func() { defer close(done); trimMemory(ctx, 100*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for memoryTrims.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no trim within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if trimDue() {
		t.Fatalf("still %d bytes free after the trim", heapFree())
	}
}

// recent serves one computed value to every reader within maxAge.
func TestRecent(t *testing.T) {
	calls := 0
	f := recent(time.Hour, func() int { calls++; return calls })
	if f() != 1 || f() != 1 || calls != 1 {
		t.Fatalf("computed %d times within maxAge", calls)
	}
	g := recent(0, func() int { calls++; return calls })
	if g() == g() {
		t.Fatal("not computed again after maxAge")
	}
}
