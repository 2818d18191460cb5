-- +goose Up
-- The SQLite twin of migrations/postgres/00001_init.sql: same tables, columns and
-- constraints. Timestamps are declared TIMESTAMP and hold INTEGER microseconds since the
-- epoch (the store opens SQLite with _time_integer_format=unix_micro), so they compare
-- and sort as numbers and round-trip exactly like PostgreSQL's TIMESTAMPTZ.
-- JSON columns are TEXT checked with json_valid.

CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL UNIQUE CHECK (email <> ''),
    is_admin   BOOLEAN NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE pools (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);

CREATE TABLE pool_members (
    pool_id    INTEGER NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    PRIMARY KEY (pool_id, user_id)
);
CREATE INDEX pool_members_user_idx ON pool_members (user_id);

CREATE TABLE equipment (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    pool_id    INTEGER NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    config     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    created_at TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);
CREATE INDEX equipment_pool_idx ON equipment (pool_id);

CREATE TABLE integration_accounts (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id                INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider               TEXT NOT NULL CHECK (provider <> ''),
    external_account_id    TEXT NOT NULL,
    display_name           TEXT NOT NULL DEFAULT '',
    credentials_ciphertext BLOB,
    credentials_key_id     TEXT,
    status                 TEXT NOT NULL DEFAULT 'active'
                           CHECK (status IN ('active', 'reauth_required', 'disconnected')),
    created_at             TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at             TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    disconnected_at        TIMESTAMP,
    UNIQUE (user_id, provider, external_account_id),
    CHECK ((credentials_ciphertext IS NULL) = (credentials_key_id IS NULL))
);
CREATE INDEX integration_accounts_provider_idx ON integration_accounts (provider, status);

CREATE TABLE integration_oauth_states (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    state_hash   TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    expires_at   TIMESTAMP NOT NULL,
    used_at      TIMESTAMP
);
CREATE INDEX integration_oauth_states_expires_idx ON integration_oauth_states (expires_at);

CREATE TABLE integration_devices (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES integration_accounts (id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    provider_device_id TEXT NOT NULL CHECK (provider_device_id <> ''),
    name               TEXT NOT NULL DEFAULT '',
    model              TEXT NOT NULL DEFAULT '',
    metadata           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at         TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at         TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    UNIQUE (account_id, provider_device_id)
);
CREATE INDEX integration_devices_provider_idx ON integration_devices (provider, provider_device_id);

CREATE TABLE device_pool_links (
    device_id INTEGER PRIMARY KEY REFERENCES integration_devices (id) ON DELETE CASCADE,
    pool_id   INTEGER NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    linked_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    linked_at TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);
CREATE INDEX device_pool_links_pool_idx ON device_pool_links (pool_id);

-- No AUTOINCREMENT here: the rowid alias is enough for keyset pagination and keeps the
-- hot insert path free of sqlite_sequence writes.
CREATE TABLE sensor_readings (
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
CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id);

CREATE TABLE integration_ingestion_failures (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    provider         TEXT NOT NULL,
    account_id       INTEGER REFERENCES integration_accounts (id) ON DELETE SET NULL,
    payload          BLOB NOT NULL,
    headers          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(headers)),
    delivery_id      TEXT NOT NULL DEFAULT '',
    received_at      TIMESTAMP NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'resolved', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts > 0),
    next_attempt_at  TIMESTAMP NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at TIMESTAMP,
    last_error       TEXT NOT NULL DEFAULT '',
    error_history    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(error_history)),
    created_at       TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at       TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    resolved_at      TIMESTAMP,
    CHECK ((status = 'processing') = (lease_token IS NOT NULL))
);
CREATE INDEX integration_ingestion_failures_due_idx ON integration_ingestion_failures (status, next_attempt_at);
CREATE INDEX integration_ingestion_failures_lease_idx ON integration_ingestion_failures (status, lease_expires_at);
CREATE INDEX integration_ingestion_failures_provider_idx ON integration_ingestion_failures (provider, created_at);

CREATE TABLE poll_state (
    account_id         INTEGER PRIMARY KEY REFERENCES integration_accounts (id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    cursor             TEXT NOT NULL DEFAULT '',
    next_poll_at       TIMESTAMP NOT NULL,
    last_polled_at     TIMESTAMP,
    lease_owner        TEXT,
    lease_token        TEXT,
    lease_expires_at   TIMESTAMP,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT NOT NULL DEFAULT '',
    updated_at         TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);
CREATE INDEX poll_state_due_idx ON poll_state (provider, next_poll_at);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TIMESTAMP NOT NULL,
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    provider    TEXT NOT NULL DEFAULT '',
    target_type TEXT NOT NULL DEFAULT '',
    target_id   TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);
CREATE INDEX audit_events_provider_idx ON audit_events (provider, id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE poll_state;
DROP TABLE integration_ingestion_failures;
DROP TABLE sensor_readings;
DROP TABLE device_pool_links;
DROP TABLE integration_devices;
DROP TABLE integration_oauth_states;
DROP TABLE integration_accounts;
DROP TABLE equipment;
DROP TABLE pool_members;
DROP TABLE pools;
DROP TABLE api_tokens;
DROP TABLE users;
