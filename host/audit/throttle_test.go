package audit

import (
	"testing"
	"time"
)

func TestKeyLimiter(t *testing.T) {
	l := newKeyLimiter(time.Minute, 2)
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

func TestBudget(t *testing.T) {
	b := newBudget(time.Minute, 3)
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 10; i++ {
		ok, sum := b.take("generic", t0.Add(time.Duration(i)*time.Second))
		if ok != (i < 3) || sum != nil {
			t.Fatalf("rejection %d: allow=%v summary=%v, want allow=%v and no summary", i, ok, sum, i < 3)
		}
	}
	if ok, _ := b.take("ttn", t0); !ok {
		t.Fatal("another provider's budget was spent")
	}
	ok, sum := b.take("generic", t0.Add(time.Minute))
	if !ok || sum == nil || sum.Suppressed != 7 || !sum.From.Equal(t0) {
		t.Fatalf("next interval: allow=%v summary=%+v, want allowed with 7 suppressed since %v", ok, sum, t0)
	}
	if _, sum := b.take("generic", t0.Add(2*time.Minute+time.Second)); sum != nil {
		t.Fatalf("an interval that suppressed nothing has summary %+v", sum)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                  "192.0.2.7",
		"192.0.2.7:5555":             "192.0.2.7",
		"::ffff:192.0.2.7":           "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":       "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"not an address":             "not an address",
	} {
		if got := ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
