package gctune

import (
	"math"
	"runtime/debug"
	"testing"
)

// current reads the GC percent and the soft memory limit without changing them.
func current() (percent int, limit int64) {
	percent = debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1)
}

// reset restores Go's own defaults (GC percent 100, no memory limit), and at the end of
// t what the process had before.
func reset(t *testing.T) {
	percent, limit := current()
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}

func TestApplyDefaultsWhenTheEnvironmentIsSilent(t *testing.T) {
	reset(t)
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	Apply(Defaults{Percent: 400, MemoryLimit: 96 << 20})
	if p, l := current(); p != 400 || l != 96<<20 {
		t.Fatalf("GC percent %d, memory limit %d; want 400 and %d", p, l, 96<<20)
	}
}

// The runtime applied the operator's GOGC and GOMEMLIMIT at start; Apply must not
// replace them with its defaults (here the runtime's values stand in for the operator's).
func TestApplyLeavesAnOperatorsSettings(t *testing.T) {
	for _, env := range []struct{ gogc, limit string }{
		{"150", "1GiB"},
		{"off", "off"},
	} {
		reset(t)
		t.Setenv("GOGC", env.gogc)
		t.Setenv("GOMEMLIMIT", env.limit)
		Apply(Defaults{Percent: 400, MemoryLimit: 96 << 20})
		if p, l := current(); p != 100 || l != math.MaxInt64 {
			t.Errorf("GOGC=%s GOMEMLIMIT=%s: GC percent changed to %d, memory limit to %d", env.gogc, env.limit, p, l)
		}
	}
}

// Each default is independent: an operator's GOGC alone still gets the memory limit,
// and GOMEMLIMIT alone still gets the GC percent.
func TestApplyEachDefaultOnItsOwn(t *testing.T) {
	reset(t)
	t.Setenv("GOGC", "200")
	t.Setenv("GOMEMLIMIT", "")
	Apply(Defaults{Percent: 400, MemoryLimit: 96 << 20})
	if p, l := current(); p != 100 || l != 96<<20 {
		t.Errorf("GOGC set: GC percent %d, memory limit %d; want 100 (untouched) and %d", p, l, 96<<20)
	}

	reset(t)
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "1GiB")
	Apply(Defaults{Percent: 400, MemoryLimit: 96 << 20})
	if p, l := current(); p != 400 || l != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set: GC percent %d, memory limit %d; want 400 and none (untouched)", p, l)
	}

	reset(t)
	Apply(Defaults{}) // zero: Go's own defaults stay
	if p, l := current(); p != 100 || l != math.MaxInt64 {
		t.Errorf("zero Defaults: GC percent %d, memory limit %d", p, l)
	}
}
