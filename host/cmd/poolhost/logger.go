package main

import (
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
)

// newLogger is the one host logger every component gets a Named() child of. Its level
// changes on reload (SetLevel reaches every child: they share it).
func newLogger(cfg *config.Config, w io.Writer) hclog.Logger {
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "poolhost",
		Level:      hclog.LevelFromString(cfg.LogLevel),
		JSONFormat: cfg.LogFormat == "json",
		Output:     w,
	})
	if cfg.LogFormat == "json" {
		return durationLogger{log}
	}
	return log
}

// durationLogger writes time.Duration values as "1.5s" rather than integer
// nanoseconds, which is what encoding/json makes of them in hclog's JSON lines (the
// text format already calls String).
type durationLogger struct{ hclog.Logger }

func durations(args []any) []any {
	var out []any
	for i, a := range args {
		if d, ok := a.(time.Duration); ok {
			if out == nil {
				out = append([]any(nil), args...)
			}
			out[i] = d.String()
		}
	}
	if out == nil {
		return args
	}
	return out
}

func (l durationLogger) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, msg, durations(args)...)
}
func (l durationLogger) Trace(msg string, args ...any) { l.Logger.Trace(msg, durations(args)...) }
func (l durationLogger) Debug(msg string, args ...any) { l.Logger.Debug(msg, durations(args)...) }
func (l durationLogger) Info(msg string, args ...any)  { l.Logger.Info(msg, durations(args)...) }
func (l durationLogger) Warn(msg string, args ...any)  { l.Logger.Warn(msg, durations(args)...) }
func (l durationLogger) Error(msg string, args ...any) { l.Logger.Error(msg, durations(args)...) }
func (l durationLogger) With(args ...any) hclog.Logger {
	return durationLogger{l.Logger.With(durations(args)...)}
}
func (l durationLogger) Named(name string) hclog.Logger { return durationLogger{l.Logger.Named(name)} }
func (l durationLogger) ResetNamed(name string) hclog.Logger {
	return durationLogger{l.Logger.ResetNamed(name)}
}

// syncWriter is w with one lock around every write, for a command that prints to the
// stream its logger writes to while the plugin manager's goroutines log: each line then
// goes out whole, and a test's bytes.Buffer is not written from two goroutines at once
// (plugins check raced so in TestDevConfigUnderUmask002 under -race).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
