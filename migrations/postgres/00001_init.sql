-- +goose Up
-- The host's whole schema. Provider ids are free strings everywhere, so a new provider
-- never needs a migration. Keep migrations/sqlite/00001_init.sql in step with this file.

CREATE TABLE users (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE CHECK (email <> ''),
    is_admin   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Tokens are stored as sha256 hex of the plaintext; the prefix is only for display.
CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE pools (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE pool_members (
    pool_id    BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (pool_id, user_id)
);
CREATE INDEX pool_members_user_idx ON pool_members (user_id);

-- Pool policy and configuration (pumps, chlorinators, target ranges); config is JSON.
CREATE TABLE equipment (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id    BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    config     JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX equipment_pool_idx ON equipment (pool_id);

-- Credentials are AES-256-GCM ciphertext; credentials_key_id names the key that sealed
-- them so keys can be rotated. Both are NULL once the account is disconnected.
CREATE TABLE integration_accounts (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider               TEXT NOT NULL CHECK (provider <> ''),
    external_account_id    TEXT NOT NULL,
    display_name           TEXT NOT NULL DEFAULT '',
    credentials_ciphertext BYTEA,
    credentials_key_id     TEXT,
    status                 TEXT NOT NULL DEFAULT 'active'
                           CHECK (status IN ('active', 'reauth_required', 'disconnected')),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    disconnected_at        TIMESTAMPTZ,
    UNIQUE (user_id, provider, external_account_id),
    CHECK ((credentials_ciphertext IS NULL) = (credentials_key_id IS NULL))
);
CREATE INDEX integration_accounts_provider_idx ON integration_accounts (provider, status);

-- The state value is a bearer secret for the callback, so only its sha256 is kept.
CREATE TABLE integration_oauth_states (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state_hash   TEXT NOT NULL UNIQUE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ
);
CREATE INDEX integration_oauth_states_expires_idx ON integration_oauth_states (expires_at);

CREATE TABLE integration_devices (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id         BIGINT NOT NULL REFERENCES integration_accounts (id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    provider_device_id TEXT NOT NULL CHECK (provider_device_id <> ''),
    name               TEXT NOT NULL DEFAULT '',
    model              TEXT NOT NULL DEFAULT '',
    metadata           JSONB NOT NULL DEFAULT '{}',
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (account_id, provider_device_id)
);
-- Provider-level webhooks name devices by the provider's id only.
CREATE INDEX integration_devices_provider_idx ON integration_devices (provider, provider_device_id);

-- The primary key makes a device belong to at most one pool.
CREATE TABLE device_pool_links (
    device_id BIGINT PRIMARY KEY REFERENCES integration_devices (id) ON DELETE CASCADE,
    pool_id   BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    linked_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    linked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX device_pool_links_pool_idx ON device_pool_links (pool_id);

-- Unique on device+metric+recorded_at so replayed deliveries insert nothing new.
CREATE TABLE sensor_readings (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   BIGINT NOT NULL REFERENCES integration_devices (id) ON DELETE CASCADE,
    pool_id     BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    metric      TEXT NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    unit        TEXT NOT NULL DEFAULT '',
    recorded_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    quality     TEXT NOT NULL DEFAULT '',
    raw_payload BYTEA,
    UNIQUE (device_id, metric, recorded_at)
);
CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id);

-- The dead-letter and retry table: pending -> processing -> resolved | dead.
CREATE TABLE integration_ingestion_failures (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider         TEXT NOT NULL,
    account_id       BIGINT REFERENCES integration_accounts (id) ON DELETE SET NULL,
    payload          BYTEA NOT NULL,
    headers          JSONB NOT NULL DEFAULT '{}',
    delivery_id      TEXT NOT NULL DEFAULT '',
    received_at      TIMESTAMPTZ NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'resolved', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts > 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error       TEXT NOT NULL DEFAULT '',
    error_history    JSONB NOT NULL DEFAULT '[]',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at      TIMESTAMPTZ,
    CHECK ((status = 'processing') = (lease_token IS NOT NULL))
);
CREATE INDEX integration_ingestion_failures_due_idx ON integration_ingestion_failures (status, next_attempt_at);
CREATE INDEX integration_ingestion_failures_lease_idx ON integration_ingestion_failures (status, lease_expires_at);
CREATE INDEX integration_ingestion_failures_provider_idx ON integration_ingestion_failures (provider, created_at);

CREATE TABLE poll_state (
    account_id         BIGINT PRIMARY KEY REFERENCES integration_accounts (id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    cursor             TEXT NOT NULL DEFAULT '',
    next_poll_at       TIMESTAMPTZ NOT NULL,
    last_polled_at     TIMESTAMPTZ,
    lease_owner        TEXT,
    lease_token        TEXT,
    lease_expires_at   TIMESTAMPTZ,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT NOT NULL DEFAULT '',
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX poll_state_due_idx ON poll_state (provider, next_poll_at);

-- actor is a user id, "system" or "provider:<id>".
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
