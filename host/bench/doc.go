// Package bench holds the end-to-end webhook ingestion benchmark (make bench): signed
// generic deliveries of 10 readings each, posted over real HTTP by 16 and by 64 concurrent
// senders to the real pipeline (httpapi → webhook → plugin → ingest → store) on PostgreSQL and
// on SQLite. Each engine runs twice in the same process: once with the generic plugin
// as a real child process over go-plugin gRPC ("plugin"), and once with the same
// adapter linked into the host ("inprocess"), the baseline the plugin boundary is
// measured against. Before them, the batched ceiling: the same rows written straight
// through the store's group-commit statement, 16 deliveries at a time; each end-to-end
// figure is also printed as a fraction of it (x-ceiling).
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
