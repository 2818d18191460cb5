-- +goose Up
-- Daily rollups beside the hourly ones: the same figures per pool, metric, device and
-- local day of the pool's zone (local midnight to local midnight), so a year of daily
-- buckets reads 365 rows per device instead of 8,760. Kept by the same runs, from the
-- same watermark, in the same transactions as reading_rollups.
CREATE TABLE reading_rollups_daily (
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
) WITHOUT ROWID;
-- The hourly rollups already there are rolled up into days again from scratch.
DELETE FROM reading_rollups;
UPDATE rollup_state SET watermark = 0;
-- Clustered on the key: a summary reads rollup rows in key order, and a rowid table
-- would seek the row for each of them.
DROP TABLE reading_rollups;
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
) WITHOUT ROWID;
-- Not compatible: the previous binary's rollup worker would move the watermark past
-- readings without adding them to the daily rollups.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (23, 0);

-- +goose Down
DELETE FROM schema_compat WHERE version = 23;
DROP TABLE reading_rollups_daily;
DELETE FROM reading_rollups;
UPDATE rollup_state SET watermark = 0;
