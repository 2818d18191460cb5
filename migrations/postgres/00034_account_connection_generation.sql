-- +goose Up
-- Which connection of an account its credentials belong to: a reconnect (or a connect
-- after a disconnect) reuses the account's row and counts one more. A plugin call reads
-- the count with the credentials it is given, and the tokens it refreshes are stored
-- only while the count is the same (store.RefreshAccountCredentials): a poll in flight
-- across a reconnect must not put the replaced connection's tokens over the new ones.
ALTER TABLE integration_accounts ADD COLUMN connection_generation BIGINT NOT NULL DEFAULT 0;
-- Additive (a column with a default): the previous binary ignores it (its reconnects do
-- not count, so its replicas keep the old behaviour during a roll).
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (34, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 34;
ALTER TABLE integration_accounts DROP COLUMN connection_generation;
