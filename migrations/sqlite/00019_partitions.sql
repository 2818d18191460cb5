-- +goose Up
-- PostgreSQL partitions sensor_readings, test_results and audit_events by month here
-- (migrations/postgres/00019_partitions.sql). SQLite has no partitioning and keeps the
-- plain tables; its retention deletes in bounded batches instead (host/retention). The
-- number is taken so both engines report the same version.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (19, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 19;
