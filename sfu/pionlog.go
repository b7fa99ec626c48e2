package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/logging"
)

// pionLogFactory routes Pion's internal logs to slog. Pion's Info level is
// chatty (one line per state change of every PeerConnection), so it is mapped
// to Debug; Trace is dropped.
type pionLogFactory struct {
	log     *slog.Logger
	unknown *atomic.Uint64 // packets on SSRCs nobody negotiated
	// scopes holds one logger per scope: Pion asks for a dozen per
	// PeerConnection, and each With would copy the handler (≈ 3 KB a viewer).
	scopes *sync.Map // scope -> *slog.Logger
}

func (f pionLogFactory) NewLogger(scope string) logging.LeveledLogger {
	if f.scopes == nil {
		return pionLogger{log: f.log.With("pion", scope), unknown: f.unknown}
	}
	l, ok := f.scopes.Load(scope)
	if !ok {
		l, _ = f.scopes.LoadOrStore(scope, f.log.With("pion", scope))
	}
	return pionLogger{log: l.(*slog.Logger), unknown: f.unknown}
}

type pionLogger struct {
	log     *slog.Logger
	unknown *atomic.Uint64
}

// hostile reports Pion's per-packet complaints about undeclared SSRCs: a
// publisher can send those at line rate, so they are counted, not logged.
func (l pionLogger) hostile(msg string) bool {
	if l.unknown != nil && strings.HasPrefix(msg, "Incoming unhandled RTP ssrc") {
		l.unknown.Add(1)
		return true
	}
	return false
}

func (l pionLogger) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l pionLogger) emitf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (l pionLogger) Debug(msg string)    { l.emit(slog.LevelDebug, msg) }
func (l pionLogger) Debugf(f string, a ...any) {
	if strings.HasPrefix(f, "got new track: %+v") {
		// Pion formats the whole live TrackRemote here while another of
		// its goroutines may set the track's RTX SSRC: a data race (seen
		// under -race with Firefox). The SFU logs the track itself.
		return
	}
	l.emitf(slog.LevelDebug, f, a...)
}
func (l pionLogger) Info(msg string) { l.emit(slog.LevelDebug, msg) }
func (l pionLogger) Infof(f string, a ...any) {
	l.emitf(slog.LevelDebug, f, a...)
}
func (l pionLogger) Warn(msg string) { l.emit(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(f string, a ...any) {
	l.emitf(slog.LevelWarn, f, a...)
}
func (l pionLogger) Error(msg string) {
	if !l.hostile(msg) {
		l.emit(slog.LevelError, msg)
	}
}
func (l pionLogger) Errorf(f string, a ...any) {
	if !l.hostile(f) {
		l.emitf(slog.LevelError, f, a...)
	}
}
