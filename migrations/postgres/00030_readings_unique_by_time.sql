-- +goose Up
-- SQLite's migration of this number reorders sensor_readings' unique key to (device_id,
-- recorded_at, metric), so a delivery's readings share one leaf page of that index (its
-- comment has the figures). PostgreSQL's partitioned table keeps its key: rebuilding it
-- on every partition is not a step to take without measuring it there.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (30, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 30;
