package webhook

import (
	"sync"
	"time"
)

// auditLimiter lets through one audit row per key (provider + client) per interval, so a
// flood of forged deliveries cannot flood audit_events. Suppressed rejections are counted
// and reported on the next row that gets through; metrics count every one regardless.
type auditLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	maxKeys  int
	keys     map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

func newAuditLimiter(interval time.Duration, maxKeys int) *auditLimiter {
	return &auditLimiter{interval: interval, maxKeys: maxKeys, keys: map[string]*limitEntry{}}
}

// allow reports whether an audit row may be written for key at now and, if so, how many
// rejections were suppressed since the last one.
func (l *auditLimiter) allow(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys[key]
	if ok && now.Sub(e.last) < l.interval {
		e.suppressed++
		return false, 0
	}
	if !ok {
		if len(l.keys) >= l.maxKeys {
			l.evict(now)
		}
		e = &limitEntry{}
		l.keys[key] = e
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// evict forgets keys whose interval has passed; if an attacker rotates through more
// clients than maxKeys within one interval, it forgets everything, which at worst lets
// one more row per key through.
func (l *auditLimiter) evict(now time.Time) {
	for k, e := range l.keys {
		if now.Sub(e.last) >= l.interval {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= l.maxKeys {
		clear(l.keys)
	}
}
