// Package store is the host's only door to SQL. It speaks to PostgreSQL (lib/pq, for
// production and several replicas) and SQLite (modernc.org/sqlite, for one machine) with
// one set of typed methods over one schema (migrations/). The places where the two
// dialects differ — claiming leased rows, appending to a JSON array, time buckets — are
// in dialect.go, except where a whole operation differs by engine: bulk delivery writes
// (deliverywrite.go), migrations and their dialect (migrate.go), backups (backup.go) and
// opening the database (store.go).
//
// Every method takes a context. Methods that must be atomic open their own transaction,
// or join the caller's when called on a [Tx] from [Store.InTx], so ingestion can insert
// readings and append an audit row in one commit.
//
// Errors: a missing row is [ErrNotFound]; a unique, foreign-key or check violation is
// [ErrConflict] (or [ErrNotFound] for a reference to a missing row). Both are *host.Error
// values, so the HTTP API and CLI translate them without knowing SQL.
package store
