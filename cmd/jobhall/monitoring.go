package main

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"jobhall/booking"
)

// monitorFigures exports the booking service's monitoring figures (open
// alerts per rule, the running fairs' check-ins, queues, no-show and fill
// rates) as jobhall_* gauges, read from the database at each scrape.
type monitorFigures struct {
	svc *booking.Service
	log *slog.Logger
}

// Describe sends nothing: the label sets vary with the fairs running, so
// the collector is unchecked.
func (monitorFigures) Describe(chan<- *prometheus.Desc) {}

func (m monitorFigures) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	figs, err := m.svc.MonitorFigures(ctx)
	if err != nil {
		m.log.Warn("monitoring figures", "err", err)
		return
	}
	for _, f := range figs {
		keys := make([]string, 0, len(f.Labels))
		for k := range f.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = f.Labels[k]
		}
		d := prometheus.NewDesc("jobhall_"+f.Name, f.Help, keys, nil)
		if mt, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, f.Value, vals...); err == nil {
			ch <- mt
		}
	}
}
