-- +goose Up
-- A test-only migration, embedded only in binaries built with -tags poolhost_schemanext:
-- it plays the next release's additive migration in the rolling-upgrade test.
CREATE TABLE schema_next_probe (id INTEGER PRIMARY KEY, note TEXT NOT NULL DEFAULT '');
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (99999, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 99999;
DROP TABLE schema_next_probe;
