// Package outage keeps an outage from flooding the log. While a dependency is down
// (the database unreachable), every request fails the same way; one ERROR line per
// request says nothing the first did not, and buries everything else. A Log writes
// one line when the first failure comes (the outage starts), one line per interval
// with how many failed since, and one line when no failure has come for an interval
// (the outage is over), naming its start, its end (the last failure) and the total.
package outage

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Interval is how often an ongoing outage is reported, and how long without a failure
// ends it.
const Interval = 10 * time.Second

// Log folds the failures of one kind into outage lines. Safe for concurrent use.
type Log struct {
	log      hclog.Logger
	what     string
	interval time.Duration
	now      func() time.Time

	mu       sync.Mutex
	active   bool
	start    time.Time // the first failure
	last     time.Time // the latest failure
	reported time.Time // the last line written
	total    int64     // failures in this outage
	pending  int64     // failures since the last line
	lastErr  string
	timer    *time.Timer
}

// New returns a Log writing to log; what names the failure ("database unreachable").
func New(log hclog.Logger, what string) *Log {
	return newLog(log, what, Interval, time.Now)
}

func newLog(log hclog.Logger, what string, interval time.Duration, now func() time.Time) *Log {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Log{log: log, what: what, interval: interval, now: now}
}

// Fail records one failure. The first of an outage is logged whole with kv (what
// failed: a request id, an account); later ones are counted into the interval's line.
func (l *Log) Fail(err error, kv ...any) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last, l.lastErr = now, err.Error()
	if !l.active {
		l.active, l.start, l.reported, l.total, l.pending = true, now, now, 1, 0
		l.log.Error(l.what+": outage started; further failures are counted and reported every "+l.interval.String(),
			append(kv, "since", stamp(now), "error", err)...)
		l.timer = time.AfterFunc(l.interval, l.check)
		return
	}
	l.total++
	l.pending++
	if now.Sub(l.reported) >= l.interval {
		l.log.Error(l.what+": outage goes on", "since", stamp(l.start), "failed_in_interval", l.pending,
			"failed_total", l.total, "last_error", l.lastErr)
		l.reported, l.pending = now, 0
	}
}

// check ends the outage once an interval has passed without a failure.
func (l *Log) check() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.active {
		return
	}
	if quiet := l.now().Sub(l.last); quiet < l.interval {
		l.timer = time.AfterFunc(l.interval-quiet, l.check)
		return
	}
	l.log.Warn(l.what+": outage over, no failure for "+l.interval.String(), "started", stamp(l.start), "ended", stamp(l.last),
		"duration", l.last.Sub(l.start).Round(time.Millisecond).String(), "failed_total", l.total, "last_error", l.lastErr)
	l.active = false
}

// Close stops the end-of-outage timer (tests; a host's Log lives as long as it does).
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
