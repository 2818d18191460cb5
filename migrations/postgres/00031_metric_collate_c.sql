-- +goose Up
-- Every `metric` column compares in the "C" collation (bytes) instead of the database's
-- default one. Each reading is inserted into two B-trees keyed on metric
-- (`(device_id, metric, recorded_at)` and `(pool_id, metric, recorded_at, id)`), and
-- each comparison there went through the libc locale (strcoll_l after copying both
-- strings). In "C" it is a memcmp. BenchmarkGroupCommitStatementCPU (host/store, 16
-- deliveries a statement, durable cluster), this schema and the previous interleaved:
-- on a database in en_US.UTF-8, text comparisons fell from 14.6 to 10.3 % of the
-- backend's CPU samples (perf) and its CPU per delivery from a median of 229 to 195 µs
-- (11 pairs); in C.UTF-8, glibc's cheap locale, from 7.6 to 6.7 % (too little to
-- see in CPU per delivery: 8 pairs, within their ±40 µs spread).
-- Sorting the statement's readings by metric in "C" as well bought 0.5 % more: not done.
--
-- Metric names are the host's vocabulary (sdk/metric: lowercase ASCII and `_`), which
-- sorts the same by bytes as in en_US.UTF-8 and C.UTF-8, so no answer's order changes. All five tables change
-- together so every comparison between them (rollups against readings, the status'
-- probes from measured_metrics) stays in one collation and keeps its indexes usable.
--
-- Cost: no table is rewritten (same type), but ALTER TABLE holds an ACCESS EXCLUSIVE
-- lock on each table (every partition) while it rebuilds the indexes that contain metric
-- and re-checks `metric <> ''` with a scan; README "Upgrading" has the figures.
-- PostgreSQL drops the changed column's statistics, so each table's metric is analyzed
-- again here (a sample per partition).
ALTER TABLE sensor_readings ALTER COLUMN metric TYPE text COLLATE "C";
ALTER TABLE test_results ALTER COLUMN metric TYPE text COLLATE "C";
ALTER TABLE reading_rollups ALTER COLUMN metric TYPE text COLLATE "C";
ALTER TABLE reading_rollups_daily ALTER COLUMN metric TYPE text COLLATE "C";
ALTER TABLE measured_metrics ALTER COLUMN metric TYPE text COLLATE "C";
ANALYZE sensor_readings (metric);
ANALYZE test_results (metric);
ANALYZE reading_rollups (metric);
ANALYZE reading_rollups_daily (metric);
ANALYZE measured_metrics (metric);
-- Same columns, same values, same answers: the previous binary's statements run as
-- before (theirs compare in "C" too, since a column's collation wins over a parameter's).
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (31, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 31;
ALTER TABLE sensor_readings ALTER COLUMN metric TYPE text COLLATE "default";
ALTER TABLE test_results ALTER COLUMN metric TYPE text COLLATE "default";
ALTER TABLE reading_rollups ALTER COLUMN metric TYPE text COLLATE "default";
ALTER TABLE reading_rollups_daily ALTER COLUMN metric TYPE text COLLATE "default";
ALTER TABLE measured_metrics ALTER COLUMN metric TYPE text COLLATE "default";
ANALYZE sensor_readings (metric);
ANALYZE test_results (metric);
ANALYZE reading_rollups (metric);
ANALYZE reading_rollups_daily (metric);
ANALYZE measured_metrics (metric);
