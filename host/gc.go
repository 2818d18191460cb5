package host

import "github.com/poolhost/poolhost/sdk/gctune"

// GC is the host's garbage-collector default, applied by TuneGC where the operator sets
// neither GOGC nor GOMEMLIMIT (one that is set wins; README: Capacity and tuning).
//
// Percent 400: the host's live heap is small — 6–7 MB with 64 senders of 10-reading
// webhook deliveries (GODEBUG=gctrace=1 in host/bench) — while each delivery allocates
// about 28 KB, so at Go's default of 100 a GC cycle started every ~170 deliveries and the
// GC took a fifth of the host's CPU. At 400 a cycle starts every ~900 deliveries, the
// host's CPU per delivery falls by about a fifth (interleaved runs, README), the heap
// peaks near 37 MB and the host's peak RSS goes from ~50 to ~75 MiB. 800 bought no more
// measurable CPU for 25 MiB more RSS.
//
// MemoryLimit 100 MiB: at 400 the heap may grow to five times what is live, so a burst
// that holds more (deliveries in flight, a large response) would cost five times its size
// in memory. The soft limit keeps what the Go runtime holds under 100 MiB by collecting
// more often as it nears it. The host's RSS is that plus what is not Go's heap (the
// binary, SQLite's own memory): 35–60 MiB in host/bench, where the heap's goal peaks at
// 41 MB over every engine and sender count, so the limit costs nothing there and keeps the
// host near its 150 MiB budget when it binds. It binds once the live heap passes ~19 MB,
// and still collects less often than Go's defaults while the live heap is under half of
// it. A host that keeps more live (go_memstats_heap_inuse_bytes on /metrics) sets
// GOMEMLIMIT to its own budget; the runtime spends at most about half the CPU on
// collecting to meet the limit.
var GC = gctune.Defaults{Percent: 400, MemoryLimit: 100 << 20}

// TuneGC applies GC. `poolhost serve` calls it first, and host/bench before building its
// in-process host, so the benchmark measures the host as shipped.
func TuneGC() { gctune.Apply(GC) }
