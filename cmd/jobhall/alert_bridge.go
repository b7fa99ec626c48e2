package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"jobhall/booking"
	"jobhall/internal/bus"
)

// alertsTopic carries alert events between nodes: the monitor runs on one
// node at a time (an advisory lock), but officers' live streams may be on
// any node.
const alertsTopic = "alerts"

// alertSource is what the bridge needs from booking.
type alertSource interface {
	SubscribeAlerts(buffer int) (<-chan booking.AlertEvent, func())
	DeliverAlert(e booking.AlertEvent)
}

type alertMsg struct {
	Node  string             `json:"node"`
	Event booking.AlertEvent `json:"event"`
}

// bridgeAlerts publishes this node's alert events on the bus and delivers
// other nodes' to this node's subscribers, until ctx ends. Two goroutines;
// both end with ctx. Best effort, like the bus: an alert stays in
// PostgreSQL and the dashboard's next read shows it anyway.
func bridgeAlerts(ctx context.Context, b bus.Bus, src alertSource, node string, log *slog.Logger) (done <-chan struct{}) {
	out := make(chan struct{})
	local, unsub := src.SubscribeAlerts(256)
	go func() {
		defer close(out)
		in := subscribeRetrying(ctx, b, alertsTopic, log)
		for {
			select {
			case <-ctx.Done():
				unsub()
				for range in { // the bus closes it when ctx ends
				}
				return
			case e, ok := <-local:
				if !ok {
					local = nil
					continue
				}
				if e.Remote {
					continue
				}
				payload, _ := json.Marshal(alertMsg{Node: node, Event: e})
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				if err := b.Publish(pctx, alertsTopic, payload); err != nil {
					log.Debug("alert not sent to other nodes", "err", err)
				}
				cancel()
			case p, ok := <-in:
				if !ok { // the bus ended the subscription: wait, then again
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
					in = subscribeRetrying(ctx, b, alertsTopic, log)
					continue
				}
				var m alertMsg
				if len(p) > 64<<10 || json.Unmarshal(p, &m) != nil || m.Node == node {
					continue
				}
				src.DeliverAlert(m.Event)
			}
		}
	}()
	return out
}

// subscribeRetrying subscribes to topic, retrying every second while the
// bus (Redis) is down; it returns a closed channel once ctx has ended.
func subscribeRetrying(ctx context.Context, b bus.Bus, topic string, log *slog.Logger) <-chan []byte {
	for {
		ch, err := b.Subscribe(ctx, topic)
		if err == nil {
			return ch
		}
		log.Debug("bus subscribe failed; retrying", "topic", topic, "err", err)
		select {
		case <-ctx.Done():
			c := make(chan []byte)
			close(c)
			return c
		case <-time.After(time.Second):
		}
	}
}
