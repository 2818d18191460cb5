-- +goose Up
-- A pool's days are its own: daily summaries run from local midnight to local midnight
-- in this IANA zone (validated by the host; Go's tzdata computes the edges).
ALTER TABLE pools ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

-- Hourly rollups of sensor readings per pool, metric, device and local clock hour of
-- the pool's zone: [bucket_start, bucket_end) in Unix seconds (an hour, shorter or
-- longer only where the zone's offset changes inside it). n, min, max, sum and last are
-- of exact values; bounded counts the qualified ones (min, max and mean leave them out,
-- as the summary does). With n = 0 the value columns mean nothing. last_us and last_id
-- order the last value as the raw summary does (recorded_at, then id).
CREATE TABLE reading_rollups (
    pool_id      BIGINT NOT NULL,
    metric       TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    device_id    BIGINT NOT NULL,
    bucket_end   BIGINT NOT NULL,
    n            BIGINT NOT NULL,
    bounded      BIGINT NOT NULL,
    min_value    REAL NOT NULL,
    max_value    REAL NOT NULL,
    sum_value    REAL NOT NULL,
    last_value   REAL NOT NULL,
    last_us      BIGINT NOT NULL,
    last_id      BIGINT NOT NULL,
    PRIMARY KEY (pool_id, metric, bucket_start, device_id)
);

-- The rollups hold exactly the sensor readings with id <= watermark.
CREATE TABLE rollup_state (
    name      TEXT PRIMARY KEY,
    watermark BIGINT NOT NULL
);
INSERT INTO rollup_state (name, watermark) VALUES ('sensor_readings', 0);
-- Additive: the previous binary neither reads nor writes these; readings it inserts
-- get ids above the watermark and are rolled up by the next worker run.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (21, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 21;
DROP TABLE rollup_state;
DROP TABLE reading_rollups;
ALTER TABLE pools DROP COLUMN time_zone;
