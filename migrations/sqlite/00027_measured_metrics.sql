-- +goose Up
-- PostgreSQL's migration of this number keeps measured_metrics, which its status query
-- needs to skip the month partitions of metrics a pool never measured. SQLite's tables
-- are not partitioned: its status probes one index per metric, nothing to keep here.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (27, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 27;
