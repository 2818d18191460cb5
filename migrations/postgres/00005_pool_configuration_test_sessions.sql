-- +goose Up
-- Configuration and measurement, kept apart (DESIGN.md, "Measured values and configuration
-- never mix"). A pool's configuration is its own columns: volume, kind, location,
-- sanitizer and target ranges per metric (JSON {metric: {min, max}} in canonical units,
-- overriding the sanitizer's defaults). Measured values are sensor_readings and, here,
-- test sessions: a manual, photometer or lab water test, a set of results taken together.
-- Keep migrations/sqlite/00005_pool_configuration_test_sessions.sql in step with this file.
ALTER TABLE pools
    ADD COLUMN volume_liters DOUBLE PRECISION CHECK (volume_liters > 0),
    ADD COLUMN kind      TEXT NOT NULL DEFAULT '' CHECK (kind IN ('', 'pool', 'spa')),
    ADD COLUMN location  TEXT NOT NULL DEFAULT '' CHECK (location IN ('', 'outdoor', 'indoor')),
    ADD COLUMN sanitizer TEXT NOT NULL DEFAULT ''
        CHECK (sanitizer IN ('', 'chlorine', 'salt', 'bromine', 'biguanide', 'mineral', 'other')),
    ADD COLUMN targets   JSONB NOT NULL DEFAULT '{}';

-- author_id is the member who entered it; device_id and provider are set instead when a
-- provider submitted it (a photometer cloud), and make its replays insert nothing new.
CREATE TABLE test_sessions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id    BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    taken_at   TIMESTAMPTZ NOT NULL,
    method     TEXT NOT NULL CHECK (method IN ('strips', 'drops', 'photometer', 'lab', 'other')),
    notes      TEXT NOT NULL DEFAULT '',
    author_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    provider   TEXT NOT NULL DEFAULT '',
    device_id  BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (device_id, taken_at)
);
CREATE INDEX test_sessions_pool_idx ON test_sessions (pool_id, id);

-- One row per result, validated and converted like a sensor reading. pool_id and taken_at
-- are the session's, copied so "latest value of a metric" and summaries read one index,
-- as they do on sensor_readings.
CREATE TABLE test_results (
    session_id BIGINT NOT NULL REFERENCES test_sessions (id) ON DELETE CASCADE,
    pool_id    BIGINT NOT NULL,
    metric     TEXT NOT NULL CHECK (metric <> ''),
    value      DOUBLE PRECISION NOT NULL,
    unit       TEXT NOT NULL DEFAULT '',
    quality    TEXT NOT NULL DEFAULT '',
    taken_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, metric)
);
CREATE INDEX test_results_pool_metric_time_idx ON test_results (pool_id, metric, taken_at);

-- +goose Down
DROP TABLE test_results;
DROP TABLE test_sessions;
ALTER TABLE pools
    DROP COLUMN targets,
    DROP COLUMN sanitizer,
    DROP COLUMN location,
    DROP COLUMN kind,
    DROP COLUMN volume_liters;
