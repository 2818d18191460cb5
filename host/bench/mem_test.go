package bench_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// Memory figures of a run: allocations per delivery in the plugin (from its expvar
// endpoint, sdk.PprofEnv), the peak resident set of this process and of the plugin, and
// this process's garbage collections.
// This process's allocations are -benchmem's B/op and allocs/op; they include the load
// generator, which runs here too.

// pluginMem reads the plugin's cumulative allocation counters from its /debug/vars.
type pluginMem struct {
	Mallocs, TotalAlloc uint64
	ok                  bool
}

func readPluginMem(addr string) pluginMem {
	if addr == "" {
		return pluginMem{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/vars", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return pluginMem{}
	}
	defer resp.Body.Close()
	var v struct {
		Memstats struct{ Mallocs, TotalAlloc uint64 } `json:"memstats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return pluginMem{}
	}
	return pluginMem{Mallocs: v.Memstats.Mallocs, TotalAlloc: v.Memstats.TotalAlloc, ok: true}
}

// resetPeakRSS restarts pid's peak resident set (VmHWM) from its current size, so a
// run's peak is its own and not an earlier run's (Linux: clear_refs 5).
func resetPeakRSS(pid string) {
	_ = os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0)
}

// peakRSSMiB is pid's peak resident set since the last reset, in MiB (0: unknown).
func peakRSSMiB(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// hostGC is the garbage collector's work in this process (the host's: the load generator
// is a child process) so far: its cycles, and the CPU the runtime attributes to them.
// Cycles per delivery do not depend on what else the box runs, so they show a GC setting's
// effect when the shared machine makes CPU figures noisy.
type hostGC struct {
	cycles uint64
	cpu    float64 // seconds, the runtime's estimate (/cpu/classes/gc/total)
}

func readHostGC() hostGC {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return hostGC{cycles: s[0].Value.Uint64(), cpu: s[1].Value.Float64()}
}

// hostAllocs is how many heap objects this process (the host) has allocated so far,
// tiny ones one by one as runtime.MemStats.Mallocs counts them: what -benchmem's
// allocs/op counts, read without stopping the world.
func hostAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/tiny/allocs:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}
