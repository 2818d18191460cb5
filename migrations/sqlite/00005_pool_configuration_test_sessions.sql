-- +goose Up
-- The SQLite twin of migrations/postgres/00005_pool_configuration_test_sessions.sql (the
-- why is there). Timestamps are INTEGER microseconds, as everywhere in this schema.
ALTER TABLE pools ADD COLUMN volume_liters REAL CHECK (volume_liters > 0);
ALTER TABLE pools ADD COLUMN kind TEXT NOT NULL DEFAULT '' CHECK (kind IN ('', 'pool', 'spa'));
ALTER TABLE pools ADD COLUMN location TEXT NOT NULL DEFAULT '' CHECK (location IN ('', 'outdoor', 'indoor'));
ALTER TABLE pools ADD COLUMN sanitizer TEXT NOT NULL DEFAULT ''
    CHECK (sanitizer IN ('', 'chlorine', 'salt', 'bromine', 'biguanide', 'mineral', 'other'));
ALTER TABLE pools ADD COLUMN targets TEXT NOT NULL DEFAULT '{}';

CREATE TABLE test_sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    pool_id    INTEGER NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    taken_at   TIMESTAMP NOT NULL,
    method     TEXT NOT NULL CHECK (method IN ('strips', 'drops', 'photometer', 'lab', 'other')),
    notes      TEXT NOT NULL DEFAULT '',
    author_id  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    provider   TEXT NOT NULL DEFAULT '',
    device_id  INTEGER,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (device_id, taken_at)
);
CREATE INDEX test_sessions_pool_idx ON test_sessions (pool_id, id);

CREATE TABLE test_results (
    session_id INTEGER NOT NULL REFERENCES test_sessions (id) ON DELETE CASCADE,
    pool_id    INTEGER NOT NULL,
    metric     TEXT NOT NULL CHECK (metric <> ''),
    value      REAL NOT NULL,
    unit       TEXT NOT NULL DEFAULT '',
    quality    TEXT NOT NULL DEFAULT '',
    taken_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, metric)
);
CREATE INDEX test_results_pool_metric_time_idx ON test_results (pool_id, metric, taken_at);

-- +goose Down
DROP TABLE test_results;
DROP TABLE test_sessions;
ALTER TABLE pools DROP COLUMN targets;
ALTER TABLE pools DROP COLUMN sanitizer;
ALTER TABLE pools DROP COLUMN location;
ALTER TABLE pools DROP COLUMN kind;
ALTER TABLE pools DROP COLUMN volume_liters;
