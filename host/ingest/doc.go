// Package ingest is the one path from "a plugin returned readings" to "rows committed".
// The webhook pipeline, the retry worker and the poll worker all hand their readings to
// [Service.Ingest]; none of them writes readings on its own.
//
// Ingest is the host's last line of defence against what plugins send: it drops, before
// anything is persisted and counting by reason, readings with an unknown metric, a value
// that is not finite or physically absurd, a unit that cannot be converted, a timestamp
// too far in the future or the past, and readings for devices that are unknown, belong
// to another account, or are linked to no pool. It converts every value to its metric's
// canonical unit and keeps values outside the healthy range with a quality flag. The
// survivors are inserted in one transaction; replays insert nothing new because readings
// are unique on device, metric and recorded time.
//
// Requests that only need an audit row beside their readings (Request.Audit: webhooks)
// are group-committed: those arriving while a transaction is in flight share the next
// one, and each still gets its own counts and audit row (batch.go). Requests with a
// Finish (the retry and poll workers' compare-and-set), and deliveries whose untimed
// readings take the delivery's first receipt time, keep a transaction of their own.
package ingest
