-- +goose Up
-- The SQLite twin of migrations/postgres/00003_readings_without_foreign_keys.sql (the
-- why is there): sensor_readings loses its foreign keys and gains a non-empty metric CHECK, on both
-- engines alike. SQLite
-- cannot drop a constraint, so the table is rebuilt, keeping every row and its id.
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
    UNIQUE (device_id, metric, recorded_at)
);
INSERT INTO sensor_readings_new SELECT id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload FROM sensor_readings;
DROP TABLE sensor_readings;
ALTER TABLE sensor_readings_new RENAME TO sensor_readings;
CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id);

-- +goose Down
CREATE TABLE sensor_readings_old (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES integration_devices (id) ON DELETE CASCADE,
    pool_id     INTEGER NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    metric      TEXT NOT NULL,
    value       REAL NOT NULL,
    unit        TEXT NOT NULL DEFAULT '',
    recorded_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    quality     TEXT NOT NULL DEFAULT '',
    raw_payload BLOB,
    UNIQUE (device_id, metric, recorded_at)
);
INSERT INTO sensor_readings_old SELECT id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload FROM sensor_readings;
DROP TABLE sensor_readings;
ALTER TABLE sensor_readings_old RENAME TO sensor_readings;
CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id);
