-- +goose Up
-- The dead letters of one account are counted before another is kept
-- (webhooks.max_dead_letters_per_account): an index, so that the count does not scan
-- every account's failures.
CREATE INDEX integration_ingestion_failures_account_idx ON integration_ingestion_failures (account_id, status);
-- An index only: the previous binary keeps working.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (12, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 12;
DROP INDEX integration_ingestion_failures_account_idx;
