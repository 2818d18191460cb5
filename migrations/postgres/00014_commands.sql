-- +goose Up
-- Write/control commands (issue 19). Equipment is what a user commands: it may be bound
-- to a device linked to the same pool, and to one channel (relay) of it.
ALTER TABLE equipment ADD COLUMN device_id BIGINT REFERENCES integration_devices (id) ON DELETE SET NULL;
ALTER TABLE equipment ADD COLUMN channel TEXT NOT NULL DEFAULT '';

-- One row per command, persisted before any plugin is called. status is the lifecycle
-- queued → sending → sent → delivered → succeeded | failed | expired | canceled | unknown;
-- "sending" is the dispatcher's lease on the one send it may make: a lease that expires
-- there becomes unknown, never queued again (at most once).
CREATE TABLE commands (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id          TEXT NOT NULL UNIQUE,
    pool_id            BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    equipment_id       BIGINT REFERENCES equipment (id) ON DELETE SET NULL,
    device_id          BIGINT NOT NULL REFERENCES integration_devices (id) ON DELETE CASCADE,
    account_id         BIGINT NOT NULL REFERENCES integration_accounts (id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    provider_device_id TEXT NOT NULL,
    channel            TEXT NOT NULL DEFAULT '',
    command            TEXT NOT NULL,
    params             JSONB NOT NULL DEFAULT '{}',
    status             TEXT NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'succeeded',
                                         'failed', 'expired', 'canceled', 'unknown')),
    requested_by       BIGINT REFERENCES users (id) ON DELETE SET NULL,
    idempotency_key    TEXT,
    request_hash       TEXT NOT NULL DEFAULT '',
    provider_ref       TEXT NOT NULL DEFAULT '',
    reason             TEXT NOT NULL DEFAULT '',
    attempts           INTEGER NOT NULL DEFAULT 0,
    not_before         TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    lease_owner        TEXT,
    lease_token        TEXT,
    lease_expires_at   TIMESTAMPTZ,
    dispatched_at      TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at        TIMESTAMPTZ,
    UNIQUE (requested_by, idempotency_key),
    CHECK ((status = 'sending') = (lease_token IS NOT NULL))
);
CREATE INDEX commands_due_idx ON commands (status, not_before, id);
CREATE INDEX commands_device_idx ON commands (device_id, id);
CREATE INDEX commands_pool_idx ON commands (pool_id, id);
CREATE INDEX commands_account_ref_idx ON commands (account_id, provider_ref);
-- The database's own guard for "one command in flight per device".
CREATE UNIQUE INDEX commands_one_sending_idx ON commands (device_id) WHERE status = 'sending';
-- Additive (new table, nullable column): the previous binary keeps working.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (14, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 14;
DROP TABLE commands;
ALTER TABLE equipment DROP COLUMN channel;
ALTER TABLE equipment DROP COLUMN device_id;
