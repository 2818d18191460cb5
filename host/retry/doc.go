// Package retry is the IntegrationRetryWorker: it drains integration_ingestion_failures,
// the table where the webhook pipeline keeps verified payloads it could not ingest at
// once. Each tick, on the one replica elected for it (store.ElectLeader, renewed every
// tick, taken over within one lease when that replica dies), it rescues rows whose lease
// expired, a page at a time; then every replica claims due rows, no more than it has free
// slots, each under a lease of its own (several host replicas on one PostgreSQL never
// work the same row at once),
// has the provider's plugin parse each payload again — without re-verifying it: it was
// verified on receipt and its signature headers are not kept — and hands the readings to
// host/ingest. The row is resolved in the same transaction that stores the readings,
// under a compare-and-set on the lease, so a worker that lost its lease commits nothing.
// A worker stopped mid-attempt (a drain, a reload) hands the row back at once, its
// attempt not spent, under the same compare-and-set (store.ReleaseFailure); a row whose
// lease it lost, or whose attempt committed after all, is left as it is.
// A failed attempt backs off min(base·2^attempt, cap) ±20%; at max attempts the row is
// dead and waits for an operator (see host/failures). Dead rows are never deleted
// automatically.
package retry
