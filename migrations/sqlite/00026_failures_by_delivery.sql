-- +goose Up
-- The SQLite twin of migrations/postgres/00026_failures_by_delivery.sql: the lookup of
-- a replayed delivery's failure row (store.KeptDelivery) reads this index, not every
-- failure of the provider.
CREATE INDEX integration_ingestion_failures_delivery_idx ON integration_ingestion_failures (provider, delivery_id);
-- An index only: the previous binary keeps working.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (26, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 26;
DROP INDEX integration_ingestion_failures_delivery_idx;
