package host

import "github.com/poolhost/poolhost/sdk/gctune"

// GC is the host's garbage-collector default, applied by TuneGC where the operator sets
// no GOGC (one that is set wins; README: Capacity and tuning).
//
// Percent 400: the host's live heap is small — 6–7 MB with 64 senders of 10-reading
// webhook deliveries (GODEBUG=gctrace=1 in host/bench) — while each delivery allocates
// about 28 KB, so at Go's default of 100 a GC cycle started every ~170 deliveries and the
// GC took a fifth of the host's CPU. At 400 a cycle starts every ~900 deliveries, the
// host's CPU per delivery falls by about a fifth (interleaved runs, README), the heap
// peaks near 37 MB and the host's peak RSS goes from ~50 to ~75 MiB. 800 bought no more
// measurable CPU for 25 MiB more RSS.
//
// HeapGoal 64 MiB: at 400 the heap may grow to five times what is live, so a host that
// holds more (deliveries in flight, a large response, a big deployment's state) would
// pay five times its size in memory. After each GC cycle the percent is lowered so that
// the heap's goal stays near 64 MiB, never below Go's own 100 (sdk/gctune): 400 up to
// a live heap of ~13 MB, Go's default from 32 MB on. The heap's goal peaked at 41 MB
// over host/bench's whole run, and the host's RSS is that plus what is not Go's heap (the
// binary, SQLite's own memory, 35–60 MiB there), so the host stays near its 150 MiB
// budget. Not a soft memory limit (GOMEMLIMIT): past one, the runtime collects
// continually, up to half the CPU, where this returns to Go's own pace. GOMEMLIMIT stays
// the operator's, for a container's budget.
var GC = gctune.Defaults{Percent: 400, HeapGoal: 64 << 20}

// TuneGC applies GC. `poolhost serve` calls it first, and host/bench before building its
// in-process host, so the benchmark measures the host as shipped.
func TuneGC() { gctune.Apply(GC) }
