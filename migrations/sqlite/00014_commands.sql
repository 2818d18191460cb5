-- +goose Up
-- Write/control commands (issue 19). Equipment is what a user commands: it may be bound
-- to a device linked to the same pool, and to one channel (relay) of it.
ALTER TABLE equipment ADD COLUMN device_id INTEGER REFERENCES integration_devices (id) ON DELETE SET NULL;
ALTER TABLE equipment ADD COLUMN channel TEXT NOT NULL DEFAULT '';

-- See the PostgreSQL migration for the lifecycle; "sending" is the dispatcher's lease on
-- the one send it may make.
CREATE TABLE commands (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id          TEXT NOT NULL UNIQUE,
    pool_id            INTEGER NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    equipment_id       INTEGER REFERENCES equipment (id) ON DELETE SET NULL,
    device_id          INTEGER NOT NULL REFERENCES integration_devices (id) ON DELETE CASCADE,
    account_id         INTEGER NOT NULL REFERENCES integration_accounts (id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    provider_device_id TEXT NOT NULL,
    channel            TEXT NOT NULL DEFAULT '',
    command            TEXT NOT NULL,
    params             TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    status             TEXT NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'succeeded',
                                         'failed', 'expired', 'canceled', 'unknown')),
    requested_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    idempotency_key    TEXT,
    request_hash       TEXT NOT NULL DEFAULT '',
    provider_ref       TEXT NOT NULL DEFAULT '',
    reason             TEXT NOT NULL DEFAULT '',
    attempts           INTEGER NOT NULL DEFAULT 0,
    not_before         TIMESTAMP NOT NULL,
    expires_at         TIMESTAMP NOT NULL,
    lease_owner        TEXT,
    lease_token        TEXT,
    lease_expires_at   TIMESTAMP,
    dispatched_at      TIMESTAMP,
    created_at         TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at         TIMESTAMP NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    finished_at        TIMESTAMP,
    UNIQUE (requested_by, idempotency_key),
    CHECK ((status = 'sending') = (lease_token IS NOT NULL))
);
CREATE INDEX commands_due_idx ON commands (status, not_before, id);
CREATE INDEX commands_device_idx ON commands (device_id, id);
CREATE INDEX commands_pool_idx ON commands (pool_id, id);
CREATE INDEX commands_account_ref_idx ON commands (account_id, provider_ref);
CREATE UNIQUE INDEX commands_one_sending_idx ON commands (device_id) WHERE status = 'sending';
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (14, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 14;
DROP TABLE commands;
ALTER TABLE equipment DROP COLUMN channel;
ALTER TABLE equipment DROP COLUMN device_id;
