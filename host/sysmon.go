package host

// GODEBUG is the Go runtime setting the host and its Go plugins run with where the
// operator sets no GODEBUG (one that is set wins, whole: README "Capacity and tuning").
// `poolhost serve` re-executes itself with it (TuneSysmon), host/bench's host does the
// same so that the benchmark measures the host as shipped, and the plugin manager starts
// every plugin with it (unless GODEBUG is in plugins { pass_env }).
//
// Why: Go's sysmon thread sleeps deeply while all of a process's Ps are idle, and the
// first syscall after wakes it with its polling reset to every 20 µs. Under webhook load
// both the host and a plugin go idle many times a second (waiting on the database, on
// the plugin, on the network), so sysmon was woken, polled at 20 µs and went back to
// sleep again and again, each a thread switch, and at 20 µs it took Ps from syscalls
// that spanned a tick, waking another thread to run them: perf at postgres/c64/plugin,
// sysmon 10–11% of the host's CPU and 15% of a plugin's. While schedtrace is set sysmon
// never sleeps deeply, so its polling backs off to every 10 ms. The period is the
// largest (2^31-1 ms, 24.8 days), so what it prints is rare: one scheduler line per that
// period (the first at start on a machine up longer than that), and the scheduler's
// state before a fatal panic's traceback, both on the process's standard error. An idle
// process wakes its sysmon 100 times a second instead of not at all.
//
// Figures, host/bench postgres/c64/plugin, interleaved pairs on the shared 2-core VM: a
// plugin's CPU per delivery 46.5 / 45.0 / 45.0 -> 39.0 / 37.0 / 33.0 µs (2026-12-07
// 04:44–04:48 UTC); the host's in host/bench/HISTORY.md.
const GODEBUG = "schedtrace=2147483647"
