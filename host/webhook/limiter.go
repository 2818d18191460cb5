package webhook

import (
	"net/netip"
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

// rejectBudget caps the webhook.rejected rows of each provider per interval, whatever
// the number of clients: the per-client limiter alone let an attacker with many
// addresses (an IPv6 /64 holds 2^64) write one row per request. Past the cap, rejections
// are only counted; the first rejection of the next interval is preceded by one summary
// row saying how many were left out.
type rejectBudget struct {
	mu       sync.Mutex
	interval time.Duration
	max      int
	windows  map[string]*budgetWindow // by provider: a known provider's id, a bounded set
}

type budgetWindow struct {
	start      time.Time
	rows       int
	suppressed int
}

// rejectSummary is a closed interval that suppressed rows.
type rejectSummary struct {
	From, To   time.Time
	Suppressed int
}

func newRejectBudget(interval time.Duration, max int) *rejectBudget {
	return &rejectBudget{interval: interval, max: max, windows: map[string]*budgetWindow{}}
}

// take reports whether provider may write a rejection row at now, and the summary of
// the interval that just ended, if it left rows out.
func (b *rejectBudget) take(provider string, now time.Time) (bool, *rejectSummary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.windows[provider]
	var sum *rejectSummary
	if w == nil || now.Sub(w.start) >= b.interval {
		if w != nil && w.suppressed > 0 {
			sum = &rejectSummary{From: w.start, To: w.start.Add(b.interval), Suppressed: w.suppressed}
		}
		w = &budgetWindow{start: now}
		b.windows[provider] = w
	}
	if w.rows >= b.max {
		w.suppressed++
		return false, sum
	}
	w.rows++
	return true, sum
}

// clientKey is the part of a client address that identifies a sender for the limiter: an
// IPv6 address's /64, the network one subscriber is usually given, or the whole IPv4
// address.
func clientKey(client string) string {
	addr, err := netip.ParseAddr(client)
	if err != nil {
		if ap, err2 := netip.ParseAddrPort(client); err2 == nil {
			addr, err = ap.Addr(), nil
		}
	}
	if err != nil {
		return client
	}
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}
