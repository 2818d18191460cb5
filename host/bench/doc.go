// Package bench holds the end-to-end webhook ingestion benchmark (make bench): signed
// generic deliveries of 10 readings each, posted over real HTTP by 16 and by 64 concurrent
// senders to the real pipeline (httpapi → webhook → plugin → ingest → store) on PostgreSQL and
// on SQLite. Each engine runs twice in the same process: once with the generic plugin
// as a real child process over go-plugin gRPC ("plugin"), and once with the same
// adapter linked into the host ("inprocess"), the baseline the plugin boundary is
// measured against.
//
// The PostgreSQL server the benchmark starts keeps PostgreSQL's durable defaults
// (fsync, synchronous_commit): the figures are what a production host would see.
//
// The package has no non-test code.
package bench
