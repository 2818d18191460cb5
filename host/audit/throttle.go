package audit

import (
	"net/netip"
	"sync"
	"time"
)

// Throttle decides which rows of a flood of refusals reach the audit trail (forged
// webhook deliveries, wrong console sign-ins): an attacker must not be able to grow
// audit_events with every request. At most one row per key (a sender, e.g. a group and
// a ClientKey) per interval, and at most max rows per group (a provider, the console)
// per interval whatever the number of keys: the per-key limit alone let an attacker with
// many addresses (an IPv6 /64 holds 2^64) write one row per request. Nothing is lost
// from the count: a key's next row says how many of its own were left out, and the
// first row of a group's next interval is preceded by a Summary. Metrics count every
// refusal regardless.
type Throttle struct {
	keys   *keyLimiter
	budget *budget
}

// NewThrottle returns a Throttle of one row per key and at most max per group, each
// per interval.
func NewThrottle(interval time.Duration, max int) *Throttle {
	return &Throttle{keys: newKeyLimiter(interval, 10_000), budget: newBudget(interval, max)}
}

// Take reports whether a row for key, in group, may be written at now; if so, how many
// of key's rows were suppressed since its last one. sum, when not nil, is the group's
// interval that just ended with rows left out: write it first.
func (t *Throttle) Take(group, key string, now time.Time) (ok bool, suppressed int, sum *Summary) {
	ok, suppressed = t.keys.allow(group+"|"+key, now)
	if ok {
		ok, sum = t.budget.take(group, now)
	}
	return ok, suppressed, sum
}

// keyLimiter lets through one row per key per interval. Suppressed rows are counted and
// reported on the next row that gets through.
type keyLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	maxKeys  int
	keys     map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

func newKeyLimiter(interval time.Duration, maxKeys int) *keyLimiter {
	return &keyLimiter{interval: interval, maxKeys: maxKeys, keys: map[string]*limitEntry{}}
}

// allow reports whether a row may be written for key at now and, if so, how many were
// suppressed since the last one.
func (l *keyLimiter) allow(key string, now time.Time) (bool, int) {
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
// keys than maxKeys within one interval, it forgets everything, which at worst lets
// one more row per key through (the group's budget still holds).
func (l *keyLimiter) evict(now time.Time) {
	for k, e := range l.keys {
		if now.Sub(e.last) >= l.interval {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= l.maxKeys {
		clear(l.keys)
	}
}

// budget caps the rows of each group per interval. Past the cap, rows are only counted;
// the first row of the next interval comes with a summary of how many were left out.
type budget struct {
	mu       sync.Mutex
	interval time.Duration
	max      int
	windows  map[string]*budgetWindow // by group: a bounded set (providers, "console")
}

type budgetWindow struct {
	start      time.Time
	rows       int
	suppressed int
}

// Summary is a closed interval that suppressed rows.
type Summary struct {
	From, To   time.Time
	Suppressed int
}

func newBudget(interval time.Duration, max int) *budget {
	return &budget{interval: interval, max: max, windows: map[string]*budgetWindow{}}
}

// take reports whether group may write a row at now, and the summary of the interval
// that just ended, if it left rows out.
func (b *budget) take(group string, now time.Time) (bool, *Summary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.windows[group]
	var sum *Summary
	if w == nil || now.Sub(w.start) >= b.interval {
		if w != nil && w.suppressed > 0 {
			sum = &Summary{From: w.start, To: w.start.Add(b.interval), Suppressed: w.suppressed}
		}
		w = &budgetWindow{start: now}
		b.windows[group] = w
	}
	if w.rows >= b.max {
		w.suppressed++
		return false, sum
	}
	w.rows++
	return true, sum
}

// ClientKey is the part of a client address that identifies a sender for a Throttle: an
// IPv6 address's /64, the network one subscriber is usually given, or the whole IPv4
// address.
func ClientKey(client string) string {
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
