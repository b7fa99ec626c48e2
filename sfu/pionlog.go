package sfu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogFactory routes Pion's internal logs to slog. Pion's Info level is
// chatty (one line per state change of every PeerConnection), so it is mapped
// to Debug; Trace is dropped.
type pionLogFactory struct{ log *slog.Logger }

func (f pionLogFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

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
func (l pionLogger) Error(msg string) { l.emit(slog.LevelError, msg) }
func (l pionLogger) Errorf(f string, a ...any) {
	l.emitf(slog.LevelError, f, a...)
}
