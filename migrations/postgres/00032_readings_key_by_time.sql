-- +goose Up
-- sensor_readings' duplicate key, the same three columns in another order: (device_id,
-- recorded_at, metric) instead of (device_id, metric, recorded_at), as SQLite's 00030
-- made it. The constraint is the same (ON CONFLICT names the columns, in any order), and
-- no query reads this index by (device_id, metric): deletes by device use its first
-- column, reads by pool and metric the (pool_id, metric, recorded_at, id) index.
-- What changes is where a delivery's readings land in it: a device's readings of one
-- time are adjacent and time only grows, so a webhook of ten metrics inserts into one
-- leaf page at the end of its device's range instead of ten, one per metric. Fewer
-- pages to find, lock and dirty, and after each checkpoint fewer full-page images in
-- the WAL: the cost that grows with the table. The group commit's statement, this key
-- against the old, two databases of one durable cluster, statement by statement
-- interleaved (16 deliveries of 10 readings from 8 devices each, medians of 300):
-- on 2 million readings already stored, 161 -> 141 µs of the backend's CPU per
-- delivery (the new key cheaper in 262 of 300 pairs); on an empty table 136 -> 131.
--
-- Cost: the new key is built on every partition (a sort of each partition's rows), then
-- the old one dropped, under an ACCESS EXCLUSIVE lock on sensor_readings: ingest and
-- reads of readings wait until it commits. README "Upgrading" has the figures.
ALTER TABLE sensor_readings ADD CONSTRAINT sensor_readings_device_id_recorded_at_metric_key
    UNIQUE (device_id, recorded_at, metric);
ALTER TABLE sensor_readings DROP CONSTRAINT sensor_readings_device_id_metric_recorded_at_key;
-- Same columns, same constraint: the previous binary's statements infer this key with
-- their ON CONFLICT (device_id, metric, recorded_at) as before.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (32, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 32;
ALTER TABLE sensor_readings ADD CONSTRAINT sensor_readings_device_id_metric_recorded_at_key
    UNIQUE (device_id, metric, recorded_at);
ALTER TABLE sensor_readings DROP CONSTRAINT sensor_readings_device_id_recorded_at_metric_key;
