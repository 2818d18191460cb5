-- +goose Up
-- audit_events.action in collation "C", as 00031 did for metric. ListAudit filters by an
-- action or by a category (action = 'plugin' OR action LIKE 'plugin.%'), newest first.
-- PostgreSQL turns a LIKE prefix into a range of an index only in collation "C" (or
-- POSIX); in the database's own collation the category's half could use no index, so
-- neither could the filter, and the listing read every partition's rows: 19.7 s for
-- one action among 25 million audit rows (make bench-scale's database, of which JIT
-- compiling was 21.8 s of worker time). In "C" both halves are ranges of
-- audit_events_action_idx (action, id). Actions are ASCII names; no answer orders by
-- them.
--
-- Cost: no row is rewritten; the (action, id) index is rebuilt on every partition under
-- an exclusive lock on audit_events (README "Upgrading").
ALTER TABLE audit_events ALTER COLUMN action TYPE text COLLATE "C";
ANALYZE audit_events (action);
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (33, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 33;
ALTER TABLE audit_events ALTER COLUMN action TYPE text COLLATE "default";
ANALYZE audit_events (action);
