-- +goose Up
-- sensor_readings, test_results and audit_events grow without bound (a probe every 15
-- minutes is 35,000 deliveries a year, each several readings and an audit row). They
-- become range-partitioned by calendar month (UTC) so retention drops a whole month
-- (DROP TABLE of a partition: no row deletes, no vacuum debt) and queries bounded in
-- time read only the months they touch.
--
-- Partitions are named <table>_pYYYYMM and cover [first of month, first of next month)
-- UTC; <table>_default takes any row whose month has no partition yet, so no write is
-- ever refused. The host's maintenance (store.EnsurePartitions, on the elected replica)
-- creates the months ahead and moves rows out of the default partition.
--
-- A unique constraint of a partitioned table must contain the partition key:
-- - sensor_readings: the primary key becomes (id, recorded_at); id stays an identity,
--   unique by construction. Duplicate detection, UNIQUE (device_id, metric,
--   recorded_at), already contains the key and is unchanged (ON CONFLICT keeps working).
-- - test_results: (session_id, metric) becomes (session_id, metric, taken_at). taken_at
--   is the session's, copied to each of its results, so within a session the key is
--   exactly as unique as before.
-- - audit_events: the primary key becomes (id, at); id is an identity.
-- No foreign key points at these tables (test_results' own reference to test_sessions
-- is kept).
--
-- The conversion copies every row (rename the old table, create the partitioned one
-- and the months the old rows cover, copy, drop the old): it costs about one bulk
-- INSERT of the tables plus their index builds, and holds an exclusive lock on the
-- three tables until it commits. README.md ("Operations: partitioning") says how to run
-- it with the service up or down.

-- Creates <tbl>_pYYYYMM for every month that has rows in <tbl>_unpartitioned and for
-- the current month and the next three, then <tbl>_default. Dropped at the end.
-- +goose StatementBegin
CREATE FUNCTION poolhost_tmp_month_partitions(tbl TEXT, col TEXT) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m TIMESTAMP; -- a month's first instant, UTC
BEGIN
    FOR m IN EXECUTE format(
        'SELECT DISTINCT date_trunc(''month'', %I AT TIME ZONE ''UTC'') FROM %I
         UNION SELECT date_trunc(''month'', now() AT TIME ZONE ''UTC'') + make_interval(months => k)
         FROM generate_series(0, 3) AS k ORDER BY 1', col, tbl || '_unpartitioned')
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            tbl || '_p' || to_char(m, 'YYYYMM'), tbl,
            (m AT TIME ZONE 'UTC'), ((m + interval '1 month') AT TIME ZONE 'UTC'));
    END LOOP;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', tbl || '_default', tbl);
END $$;
-- +goose StatementEnd

ALTER TABLE sensor_readings RENAME TO sensor_readings_unpartitioned;
ALTER TABLE sensor_readings_unpartitioned RENAME CONSTRAINT sensor_readings_pkey TO sensor_readings_unpartitioned_pkey;
ALTER TABLE sensor_readings_unpartitioned RENAME CONSTRAINT sensor_readings_device_id_metric_recorded_at_key TO sensor_readings_unpartitioned_dedup_key;
ALTER INDEX sensor_readings_pool_metric_time_idx RENAME TO sensor_readings_unpartitioned_pool_metric_time_idx;
ALTER SEQUENCE sensor_readings_id_seq RENAME TO sensor_readings_unpartitioned_id_seq;
CREATE TABLE sensor_readings (
    id          BIGINT GENERATED ALWAYS AS IDENTITY,
    device_id   BIGINT NOT NULL,
    pool_id     BIGINT NOT NULL,
    metric      TEXT NOT NULL CHECK (metric <> ''),
    value       DOUBLE PRECISION NOT NULL,
    unit        TEXT NOT NULL DEFAULT '',
    recorded_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    quality     TEXT NOT NULL DEFAULT '',
    raw_payload BYTEA,
    qualifier   TEXT,
    PRIMARY KEY (id, recorded_at),
    UNIQUE (device_id, metric, recorded_at)
) PARTITION BY RANGE (recorded_at);
CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id);
SELECT poolhost_tmp_month_partitions('sensor_readings', 'recorded_at');
INSERT INTO sensor_readings (id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier)
    OVERRIDING SYSTEM VALUE
    SELECT id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier
    FROM sensor_readings_unpartitioned;
SELECT setval(pg_get_serial_sequence('sensor_readings', 'id'),
    (SELECT last_value FROM sensor_readings_unpartitioned_id_seq),
    (SELECT is_called FROM sensor_readings_unpartitioned_id_seq));
DROP TABLE sensor_readings_unpartitioned;

ALTER TABLE test_results RENAME TO test_results_unpartitioned;
ALTER TABLE test_results_unpartitioned RENAME CONSTRAINT test_results_pkey TO test_results_unpartitioned_pkey;
ALTER INDEX test_results_pool_metric_time_idx RENAME TO test_results_unpartitioned_pool_metric_time_idx;
CREATE TABLE test_results (
    session_id BIGINT NOT NULL REFERENCES test_sessions (id) ON DELETE CASCADE,
    pool_id    BIGINT NOT NULL,
    metric     TEXT NOT NULL CHECK (metric <> ''),
    value      DOUBLE PRECISION NOT NULL,
    unit       TEXT NOT NULL DEFAULT '',
    quality    TEXT NOT NULL DEFAULT '',
    taken_at   TIMESTAMPTZ NOT NULL,
    qualifier  TEXT,
    PRIMARY KEY (session_id, metric, taken_at)
) PARTITION BY RANGE (taken_at);
CREATE INDEX test_results_pool_metric_time_idx ON test_results (pool_id, metric, taken_at);
SELECT poolhost_tmp_month_partitions('test_results', 'taken_at');
INSERT INTO test_results (session_id, pool_id, metric, value, unit, quality, taken_at, qualifier)
    SELECT session_id, pool_id, metric, value, unit, quality, taken_at, qualifier FROM test_results_unpartitioned;
DROP TABLE test_results_unpartitioned;

ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER TABLE audit_events_unpartitioned RENAME CONSTRAINT audit_events_pkey TO audit_events_unpartitioned_pkey;
ALTER INDEX audit_events_at_idx RENAME TO audit_events_unpartitioned_at_idx;
ALTER INDEX audit_events_action_idx RENAME TO audit_events_unpartitioned_action_idx;
ALTER INDEX audit_events_provider_idx RENAME TO audit_events_unpartitioned_provider_idx;
ALTER SEQUENCE audit_events_id_seq RENAME TO audit_events_unpartitioned_id_seq;
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY,
    at          TIMESTAMPTZ NOT NULL,
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    provider    TEXT NOT NULL DEFAULT '',
    target_type TEXT NOT NULL DEFAULT '',
    target_id   TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    details     JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);
CREATE INDEX audit_events_provider_idx ON audit_events (provider, id);
SELECT poolhost_tmp_month_partitions('audit_events', 'at');
INSERT INTO audit_events (id, at, action, actor, provider, target_type, target_id, request_id, details)
    OVERRIDING SYSTEM VALUE
    SELECT id, at, action, actor, provider, target_type, target_id, request_id, details FROM audit_events_unpartitioned;
SELECT setval(pg_get_serial_sequence('audit_events', 'id'),
    (SELECT last_value FROM audit_events_unpartitioned_id_seq),
    (SELECT is_called FROM audit_events_unpartitioned_id_seq));
DROP TABLE audit_events_unpartitioned;

DROP FUNCTION poolhost_tmp_month_partitions(TEXT, TEXT);
ANALYZE sensor_readings, test_results, audit_events;

-- The tables keep their names, columns and conflict targets: the previous binary reads
-- and writes them unchanged.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (19, TRUE);

-- +goose Down
-- Back to plain tables, copying every row (the same cost as the way up).
DELETE FROM schema_compat WHERE version = 19;

ALTER TABLE sensor_readings RENAME TO sensor_readings_partitioned;
ALTER TABLE sensor_readings_partitioned RENAME CONSTRAINT sensor_readings_pkey TO sensor_readings_partitioned_pkey;
ALTER TABLE sensor_readings_partitioned RENAME CONSTRAINT sensor_readings_device_id_metric_recorded_at_key TO sensor_readings_partitioned_dedup_key;
ALTER INDEX sensor_readings_pool_metric_time_idx RENAME TO sensor_readings_partitioned_pool_metric_time_idx;
-- +goose StatementBegin
DO $$ BEGIN
    EXECUTE format('ALTER SEQUENCE %s RENAME TO sensor_readings_partitioned_id_seq', pg_get_serial_sequence('sensor_readings_partitioned', 'id'));
END $$;
-- +goose StatementEnd
CREATE TABLE sensor_readings (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   BIGINT NOT NULL,
    pool_id     BIGINT NOT NULL,
    metric      TEXT NOT NULL CHECK (metric <> ''),
    value       DOUBLE PRECISION NOT NULL,
    unit        TEXT NOT NULL DEFAULT '',
    recorded_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    quality     TEXT NOT NULL DEFAULT '',
    raw_payload BYTEA,
    qualifier   TEXT,
    UNIQUE (device_id, metric, recorded_at)
);
CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id);
INSERT INTO sensor_readings (id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier)
    OVERRIDING SYSTEM VALUE
    SELECT id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier
    FROM sensor_readings_partitioned;
SELECT setval(pg_get_serial_sequence('sensor_readings', 'id'),
    (SELECT last_value FROM sensor_readings_partitioned_id_seq),
    (SELECT is_called FROM sensor_readings_partitioned_id_seq));
DROP TABLE sensor_readings_partitioned;

ALTER TABLE test_results RENAME TO test_results_partitioned;
ALTER TABLE test_results_partitioned RENAME CONSTRAINT test_results_pkey TO test_results_partitioned_pkey;
ALTER INDEX test_results_pool_metric_time_idx RENAME TO test_results_partitioned_pool_metric_time_idx;
CREATE TABLE test_results (
    session_id BIGINT NOT NULL REFERENCES test_sessions (id) ON DELETE CASCADE,
    pool_id    BIGINT NOT NULL,
    metric     TEXT NOT NULL CHECK (metric <> ''),
    value      DOUBLE PRECISION NOT NULL,
    unit       TEXT NOT NULL DEFAULT '',
    quality    TEXT NOT NULL DEFAULT '',
    taken_at   TIMESTAMPTZ NOT NULL,
    qualifier  TEXT,
    PRIMARY KEY (session_id, metric)
);
CREATE INDEX test_results_pool_metric_time_idx ON test_results (pool_id, metric, taken_at);
INSERT INTO test_results (session_id, pool_id, metric, value, unit, quality, taken_at, qualifier)
    SELECT session_id, pool_id, metric, value, unit, quality, taken_at, qualifier FROM test_results_partitioned;
DROP TABLE test_results_partitioned;

ALTER TABLE audit_events RENAME TO audit_events_partitioned;
ALTER TABLE audit_events_partitioned RENAME CONSTRAINT audit_events_pkey TO audit_events_partitioned_pkey;
ALTER INDEX audit_events_at_idx RENAME TO audit_events_partitioned_at_idx;
ALTER INDEX audit_events_action_idx RENAME TO audit_events_partitioned_action_idx;
ALTER INDEX audit_events_provider_idx RENAME TO audit_events_partitioned_provider_idx;
-- +goose StatementBegin
DO $$ BEGIN
    EXECUTE format('ALTER SEQUENCE %s RENAME TO audit_events_partitioned_id_seq', pg_get_serial_sequence('audit_events_partitioned', 'id'));
END $$;
-- +goose StatementEnd
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    provider    TEXT NOT NULL DEFAULT '',
    target_type TEXT NOT NULL DEFAULT '',
    target_id   TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    details     JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);
CREATE INDEX audit_events_provider_idx ON audit_events (provider, id);
INSERT INTO audit_events (id, at, action, actor, provider, target_type, target_id, request_id, details)
    OVERRIDING SYSTEM VALUE
    SELECT id, at, action, actor, provider, target_type, target_id, request_id, details FROM audit_events_partitioned;
SELECT setval(pg_get_serial_sequence('audit_events', 'id'),
    (SELECT last_value FROM audit_events_partitioned_id_seq),
    (SELECT is_called FROM audit_events_partitioned_id_seq));
DROP TABLE audit_events_partitioned;
