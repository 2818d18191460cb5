-- +goose Up
-- PostgreSQL's migration of this number reorders sensor_readings' duplicate key to
-- (device_id, recorded_at, metric), as SQLite's 00030 did here. Nothing changes here;
-- the number keeps both dialects' versions the same.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (32, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 32;
