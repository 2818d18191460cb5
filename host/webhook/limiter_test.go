package webhook

import (
	"testing"
	"time"
)

func TestAuditLimiter(t *testing.T) {
	l := newAuditLimiter(time.Minute, 2)
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		key        string
		at         time.Duration
		allow      bool
		suppressed int
	}{
		{"p|a", 0, true, 0},
		{"p|a", time.Second, false, 0},
		{"p|a", 2 * time.Second, false, 0},
		{"p|b", 3 * time.Second, true, 0},
		{"p|a", time.Minute, true, 2},
		{"p|a", time.Minute + time.Second, false, 0},
		// A third key with the table full evicts the expired "p|b" and is let through.
		{"p|c", 2 * time.Minute, true, 0},
	}
	for i, s := range steps {
		ok, n := l.allow(s.key, t0.Add(s.at))
		if ok != s.allow || n != s.suppressed {
			t.Errorf("step %d (%s at %v): allow=%v suppressed=%d, want %v %d", i, s.key, s.at, ok, n, s.allow, s.suppressed)
		}
	}
	if len(l.keys) > 2 {
		t.Errorf("limiter holds %d keys, want at most 2", len(l.keys))
	}
}
