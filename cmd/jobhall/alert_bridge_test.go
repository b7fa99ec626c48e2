package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"jobhall/booking"
	"jobhall/internal/bus"
)

// fakeAlerts is one node's alert source: Raise is its monitor.
type fakeAlerts struct {
	mu        sync.Mutex
	subs      []chan booking.AlertEvent
	delivered []booking.AlertEvent
}

func (f *fakeAlerts) SubscribeAlerts(n int) (<-chan booking.AlertEvent, func()) {
	ch := make(chan booking.AlertEvent, n)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	var once sync.Once
	return ch, func() { once.Do(func() { f.mu.Lock(); defer f.mu.Unlock(); close(ch); f.subs = nil }) }
}

func (f *fakeAlerts) raise(e booking.AlertEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		ch <- e
	}
}

func (f *fakeAlerts) DeliverAlert(e booking.AlertEvent) {
	e.Remote = true
	f.mu.Lock()
	f.delivered = append(f.delivered, e)
	f.mu.Unlock()
	f.raise(e) // as booking does: its own subscribers, the bridge among them
}

func (f *fakeAlerts) got() []booking.AlertEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]booking.AlertEvent(nil), f.delivered...)
}

// TestAlertBridge: an alert raised on one node reaches the other nodes'
// subscribers once, and is not echoed back.
func TestAlertBridge(t *testing.T) {
	b := bus.NewLocal()
	defer b.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	a, c := &fakeAlerts{}, &fakeAlerts{}
	doneA := bridgeAlerts(ctx, b, a, "a", log)
	doneC := bridgeAlerts(ctx, b, c, "c", log)
	time.Sleep(50 * time.Millisecond) // both subscribed
	a.raise(booking.AlertEvent{Type: "raised", Alert: booking.Alert{ID: 7, Rule: "queue_wait", Message: "排队过长"}})
	deadline := time.Now().Add(5 * time.Second)
	for len(c.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // an echo would have arrived by now
	if got := c.got(); len(got) != 1 || got[0].Alert.ID != 7 || got[0].Alert.Message != "排队过长" {
		t.Fatalf("other node got %+v", got)
	}
	if got := a.got(); len(got) != 0 {
		t.Fatalf("the raising node got its own alert back: %+v", got)
	}
	cancel()
	<-doneA
	<-doneC
}
