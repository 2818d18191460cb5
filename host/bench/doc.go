// Package bench holds the end-to-end webhook ingestion benchmark (make bench): signed
// generic deliveries of 10 readings each, posted over real HTTP by 16 and by 64 concurrent
// senders to the real pipeline (httpapi → webhook → plugin → ingest → store) on PostgreSQL and
// on SQLite. Each engine runs twice in the same process: once with the generic plugin
// as a real child process over go-plugin gRPC ("plugin"), and once with the same
// adapter linked into the host ("inprocess"), the baseline the plugin boundary is
// measured against. The two alternate, round after round (POOLHOST_BENCH_ROUNDS, 3), and
// each run is bracketed by two rounds of the batched ceiling on its own database — the
// same rows written straight through the store's group-commit statement, 16 deliveries
// at a time — one just before it and one just after: the run's x-ceiling is its
// deliveries/s ÷ the mean of the two. After each engine's runs at a concurrency, a
// summary on stdout gives every round's figures, their medians, plugin ÷ in process
// within each round, and the ceiling's rounds with their spread and their own CPU per
// delivery. util is the share of the box's cores a run's (or a ceiling round's)
// processes used while it ran, box-util the share every process on the machine used
// (/proc/stat): a ratio short with util well below 1 waited, with box-util near 1 and
// util not, something else took the box.
//
// The load generator runs in a child process (this test binary again), so -benchmem's
// B/op and allocs/op, host-cpu-us and host-peak-RSS are the host's alone; cpu-us/delivery
// is the whole box's (host, load generator, plugin and PostgreSQL server). The load
// generator works as wrk does (blast_test.go): every delivery is built and signed before
// the clock starts (client-setup-cpu-us, not in the whole box's figure) and written on
// kept-alive connections; client-cpu-us is its CPU while posting.
//
// The PostgreSQL server the benchmark starts keeps PostgreSQL's durable defaults
// (fsync, synchronous_commit): the figures are what a production host would see.
//
// The package has no non-test code.
package bench
