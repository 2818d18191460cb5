package bench_test

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	poolhost "github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/sdk/gctune"
)

// TestBenchmarkHostHasServesGCDefaults: the host these benchmarks build in this process
// runs with the GC defaults `poolhost serve` applies (TestMain calls the same
// poolhost.TuneGC), so its figures are the shipped host's. A GOGC in the environment is
// the operator's and is left as the runtime read it.
func TestBenchmarkHostHasServesGCDefaults(t *testing.T) {
	if os.Getenv("GOGC") == "" {
		percent := debug.SetGCPercent(100)
		debug.SetGCPercent(percent)
		if want := gctune.PercentFor(poolhost.GC, liveHeap()); percent != want {
			t.Errorf("GC percent %d, want serve's %d for this live heap", percent, want)
		}
	}
}

// liveHeap is the live heap the last GC cycle marked, after one more.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // the tuner's cleanup follows the first cycle
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
