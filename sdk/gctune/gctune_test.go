package gctune

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// percent reads the GC percent without changing it.
func percent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// reset restores Go's own default (GC percent 100) with nothing followed, and at the
// end of t what the process had before.
func reset(t *testing.T) {
	p, limit := percent(), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		following.Store(nil)
		debug.SetGCPercent(p)
		debug.SetMemoryLimit(limit)
	})
	following.Store(nil)
	debug.SetGCPercent(100)
}

func TestApplyDefaultWhenGOGCIsUnset(t *testing.T) {
	reset(t)
	t.Setenv("GOGC", "")
	Apply(Defaults{Percent: 400})
	if p := percent(); p != 400 {
		t.Fatalf("GC percent %d, want 400", p)
	}
}

// The runtime applied the operator's GOGC at start; Apply must not replace it with its
// default (here the runtime's 100 stands in for the operator's), nor follow a heap goal.
func TestApplyLeavesAnOperatorsGOGC(t *testing.T) {
	for _, gogc := range []string{"150", "off"} {
		reset(t)
		t.Setenv("GOGC", gogc)
		Apply(Defaults{Percent: 400, HeapGoal: 64 << 20})
		if p := percent(); p != 100 || following.Load() != nil {
			t.Errorf("GOGC=%s: GC percent changed to %d (following %v)", gogc, p, following.Load())
		}
	}
}

// Apply never sets a memory limit: GOMEMLIMIT is the operator's alone.
func TestApplySetsNoMemoryLimit(t *testing.T) {
	reset(t)
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOGC", "")
	Apply(Defaults{Percent: 400, HeapGoal: 64 << 20})
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Errorf("memory limit %d, want none", l)
	}
}

func TestPercentFor(t *testing.T) {
	d := Defaults{Percent: 400, HeapGoal: 64 << 20}
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 400},        // nothing measured yet
		{8 << 20, 400},  // goal 8×5 = 40 MiB: the default's, under HeapGoal
		{16 << 20, 300}, // 16×4 = 64 MiB
		{32 << 20, 100}, // 32×2 = 64 MiB
		{48 << 20, 100}, // never below Go's own 100
		{1 << 30, 100},
	} {
		if got := PercentFor(d, tc.live); got != tc.want {
			t.Errorf("live %d MiB: percent %d, want %d", tc.live>>20, got, tc.want)
		}
	}
	if got := PercentFor(Defaults{Percent: 400}, 1<<30); got != 400 {
		t.Errorf("no heap goal: percent %d, want 400 whatever is live", got)
	}
}

// A live heap that grows past half the goal brings the percent down to Go's 100 after
// the next cycles, and back up to the default once it is freed.
func TestApplyFollowsTheLiveHeap(t *testing.T) {
	reset(t)
	t.Setenv("GOGC", "")
	d := Defaults{Percent: 400, HeapGoal: 16 << 20}
	Apply(d)
	waitPercent := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			runtime.GC()
			if percent() == want {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("GC percent %d, want %d", percent(), want)
	}
	held := make([][]byte, 0, 64)
	for range 64 {
		held = append(held, make([]byte, 1<<20)) // 64 MiB live: four times the goal
	}
	waitPercent(100)
	runtime.KeepAlive(held)
	held = nil
	// What this test process keeps live besides is well under 16/5 MiB.
	waitPercent(400)
}
