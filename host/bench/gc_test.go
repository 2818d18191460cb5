package bench_test

import (
	"os"
	"runtime/debug"
	"testing"

	poolhost "github.com/poolhost/poolhost/host"
)

// TestBenchmarkHostHasServesGCDefaults: the host these benchmarks build in this process
// runs with the GC defaults `poolhost serve` applies (TestMain calls the same
// poolhost.TuneGC), so its figures are the shipped host's. A GOGC or GOMEMLIMIT in the
// environment is the operator's and is left as the runtime read it.
func TestBenchmarkHostHasServesGCDefaults(t *testing.T) {
	if os.Getenv("GOGC") == "" {
		percent := debug.SetGCPercent(100)
		debug.SetGCPercent(percent)
		if percent != poolhost.GC.Percent {
			t.Errorf("GC percent %d, want serve's %d", percent, poolhost.GC.Percent)
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if limit := debug.SetMemoryLimit(-1); limit != poolhost.GC.MemoryLimit {
			t.Errorf("memory limit %d, want serve's %d", limit, poolhost.GC.MemoryLimit)
		}
	}
}
