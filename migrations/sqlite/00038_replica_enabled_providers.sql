-- +goose Up
-- The providers each serve process runs enabled (comma-separated, "" for none), written
-- with its heartbeat and again after each reload; NULL from a binary that predates it.
-- `poolhost accounts disconnect` refuses while a live replica still runs the provider
-- enabled: the config file the command reads may say disabled before any replica was
-- reloaded with it.
ALTER TABLE replicas ADD COLUMN enabled_providers TEXT;
-- Additive (a nullable column): the previous binary ignores it; its replicas show NULL,
-- which accounts disconnect reports as unknown.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (38, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 38;
ALTER TABLE replicas DROP COLUMN enabled_providers;
