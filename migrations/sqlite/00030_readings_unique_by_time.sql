-- +goose Up
-- sensor_readings' unique key, the same three columns in another order: (device_id,
-- recorded_at, metric) instead of (device_id, metric, recorded_at). The constraint is
-- the same (the group commit's ON CONFLICT names the columns, in any order), and no
-- query reads the index by (device_id, metric): deletes by device use its first column.
-- What changes is where a delivery's readings land in it: a device's readings of one
-- time are adjacent, and time only grows, so a webhook of ten metrics writes one leaf
-- page of this index instead of ten, at the end of its device's range. A group commit of
-- 8 devices' deliveries wrote 80 of its leaves, and each dirty page is one more WAL
-- frame (two writes, a checksum, a copy at checkpoint). Group commits of 44 deliveries
-- from 8 devices over 400,000 readings wrote 12.9 -> 5.8 write(2) calls and 28.5 -> 13.0
-- KB per delivery (WAL and checkpoints); BenchmarkWriteDeliveries (one device) spent
-- 142-151 -> 120-134 µs of CPU per delivery in three interleaved pairs on the shared VM.
-- TestGroupCommitWritesFewPages (host/store) counts the pages.
--
-- SQLite cannot reorder a table's UNIQUE constraint, so the table is rebuilt, keeping
-- every row and its id (the rollups' watermark counts on ids): a full copy, once (14 s
-- for a million readings with the C sqlite3 on the shared VM; the host's transpiled
-- SQLite is slower). Its index and trigger are recreated as 00003 and 00024 made
-- them. PostgreSQL's migration of this number changes nothing.
CREATE TABLE sensor_readings_new (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL,
    pool_id     INTEGER NOT NULL,
    metric      TEXT NOT NULL CHECK (metric <> ''),
    value       REAL NOT NULL,
    unit        TEXT NOT NULL DEFAULT '',
    recorded_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    quality     TEXT NOT NULL DEFAULT '',
    raw_payload BLOB,
    qualifier   TEXT,
    UNIQUE (device_id, recorded_at, metric)
);
INSERT INTO sensor_readings_new (id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier)
    SELECT id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier FROM sensor_readings ORDER BY id;
DROP TABLE sensor_readings;
ALTER TABLE sensor_readings_new RENAME TO sensor_readings;
CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id);
-- +goose StatementBegin
CREATE TRIGGER sensor_readings_rollup_watermark AFTER DELETE ON sensor_readings
WHEN OLD.id >= (SELECT watermark FROM rollup_state WHERE name = 'sensor_readings')
BEGIN
    UPDATE rollup_state SET watermark = (SELECT COALESCE(MAX(id), 0) FROM sensor_readings)
    WHERE name = 'sensor_readings' AND watermark > (SELECT COALESCE(MAX(id), 0) FROM sensor_readings);
END;
-- +goose StatementEnd
-- Same columns, same constraint: the previous binary reads and writes it as before.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (30, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 30;
CREATE TABLE sensor_readings_old (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL,
    pool_id     INTEGER NOT NULL,
    metric      TEXT NOT NULL CHECK (metric <> ''),
    value       REAL NOT NULL,
    unit        TEXT NOT NULL DEFAULT '',
    recorded_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    quality     TEXT NOT NULL DEFAULT '',
    raw_payload BLOB,
    qualifier   TEXT,
    UNIQUE (device_id, metric, recorded_at)
);
INSERT INTO sensor_readings_old (id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier)
    SELECT id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier FROM sensor_readings ORDER BY id;
DROP TABLE sensor_readings;
ALTER TABLE sensor_readings_old RENAME TO sensor_readings;
CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id);
-- +goose StatementBegin
CREATE TRIGGER sensor_readings_rollup_watermark AFTER DELETE ON sensor_readings
WHEN OLD.id >= (SELECT watermark FROM rollup_state WHERE name = 'sensor_readings')
BEGIN
    UPDATE rollup_state SET watermark = (SELECT COALESCE(MAX(id), 0) FROM sensor_readings)
    WHERE name = 'sensor_readings' AND watermark > (SELECT COALESCE(MAX(id), 0) FROM sensor_readings);
END;
-- +goose StatementEnd
