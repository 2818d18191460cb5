-- +goose Up
-- Every replay of a delivery that was kept asks which failure row holds it
-- (store.KeptDelivery: provider, account, delivery id). Without an index that read all
-- of the provider's failures, dead letters kept for months included; with it, the
-- delivery's own row or two. delivery_id is nearly unique on its own, so the account
-- (COALESCE(account_id, 0) in the query) is left to a filter.
-- A plain CREATE INDEX, as 00012: it holds writes to the failures table while it
-- builds, a moment for any table of dead letters.
-- Keep migrations/sqlite/00026_failures_by_delivery.sql in step with this file.
CREATE INDEX integration_ingestion_failures_delivery_idx ON integration_ingestion_failures (provider, delivery_id);
-- An index only: the previous binary keeps working.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (26, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 26;
DROP INDEX integration_ingestion_failures_delivery_idx;
