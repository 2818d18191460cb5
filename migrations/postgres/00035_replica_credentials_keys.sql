-- +goose Up
-- The ids of the credentials keys each serve process opens credentials with (its
-- credentials_key and credentials_old_keys, comma-separated), written with its
-- heartbeat: `poolhost credentials rewrap` refuses while a replica it can see lacks the
-- key it re-seals under, which would fail to open every credential until restarted.
ALTER TABLE replicas ADD COLUMN credentials_key_ids TEXT NOT NULL DEFAULT '';
-- Additive (a column with a default): the previous binary ignores it; its replicas show
-- no key ids, which rewrap reports as unknown.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (35, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 35;
ALTER TABLE replicas DROP COLUMN credentials_key_ids;
