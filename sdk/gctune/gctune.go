// Package gctune applies the Go garbage collector's defaults of poolhost's processes:
// the host (`poolhost serve`, and host/bench's in-process host) and every plugin served
// with sdk.Serve. Each process passes its own [Defaults]; what they share is the rule
// that an operator's setting wins: GOGC in the process's environment, which the Go
// runtime has already applied at start, is never overridden, and GOMEMLIMIT is left to
// the operator altogether.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Defaults is a process's GC tuning when its environment says nothing.
type Defaults struct {
	// Percent is the GC percent (GOGC) applied when GOGC is unset; 0 keeps Go's 100.
	Percent int
	// HeapGoal, when set, bounds what Percent may cost in memory: after each GC cycle
	// the percent for the next is lowered, never below Go's 100, so that the heap's goal
	// (the live heap times 1 + percent/100) stays near HeapGoal. A small live heap gets
	// Percent; one of half HeapGoal or more gets Go's default, as without this package.
	//
	// A soft memory limit (GOMEMLIMIT) would bound the heap too, but past it the
	// runtime collects continually, up to half the CPU, where this falls back to Go's
	// own pace.
	HeapGoal int64
}

// Apply sets Percent when GOGC is unset or empty (the Go runtime treats an empty one as
// unset too), and from then on follows HeapGoal after every GC cycle. A set GOGC, "off"
// included, is the operator's, and stays as the runtime read it.
func Apply(d Defaults) {
	if d.Percent <= 0 || os.Getenv("GOGC") != "" {
		following.Store(nil)
		return
	}
	debug.SetGCPercent(d.Percent)
	if d.HeapGoal <= 0 {
		following.Store(nil)
		return
	}
	following.Store(&d)
	if watching.CompareAndSwap(false, true) {
		watch()
	}
}

// PercentFor is the GC percent d gives a live heap of live bytes: the one whose goal is
// d.HeapGoal, between 100 and d.Percent.
func PercentFor(d Defaults, live uint64) int {
	if d.HeapGoal <= 0 || live == 0 {
		return d.Percent
	}
	p := int(uint64(d.HeapGoal)*100/live) - 100
	return max(100, min(d.Percent, p))
}

var (
	following atomic.Pointer[Defaults] // what the watcher follows; nil: nothing
	watching  atomic.Bool              // a cycle mark is armed
)

// cycleMark is an object dropped at once, so the GC cycle that finds it unreachable
// runs its cleanup: a call after (about) every cycle, at no cost between them. One
// is armed at a time, so adjust never runs twice at once. Larger
// than 16 bytes, or the tiny allocator could keep it alive beside other objects.
type cycleMark struct{ _ [32]byte }

func watch() {
	runtime.AddCleanup(new(cycleMark), func(struct{}) { adjust() }, struct{}{})
}

// adjust sets the percent for the live heap the last cycle marked, and arms the next
// cycle's mark. It runs on the runtime's cleanup goroutine, one call at a time.
func adjust() {
	d := following.Load()
	if d == nil {
		watching.Store(false)
		return
	}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	if live[0].Value.Kind() == metrics.KindUint64 {
		debug.SetGCPercent(PercentFor(*d, live[0].Value.Uint64()))
	}
	watch()
}
