-- +goose Up
-- Pools can be deleted (DELETE /v1/pools/{poolId}, store.DeletePool). Their commands
-- stay, as history: see the PostgreSQL migration of this number. commands.pool_id no
-- longer references pools, and SQLite cannot drop a foreign key, so the table is
-- rebuilt (every row and id kept, the AUTOINCREMENT sequence too, so no id is handed
-- out twice), its indexes recreated as 00014 made them, and one added. PostgreSQL's group-commit
-- guard (poolhost_hold_pools) has no twin here: SQLite's one writer checks the pools in
-- the group commit's transaction (writeDeliveriesTx).
CREATE TABLE commands_new (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id          TEXT NOT NULL UNIQUE,
    pool_id            INTEGER NOT NULL,
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
INSERT INTO commands_new SELECT * FROM commands ORDER BY id;
INSERT INTO sqlite_sequence (name, seq) SELECT 'commands_new', 0
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'commands_new');
UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM sqlite_sequence WHERE name IN ('commands', 'commands_new'))
    WHERE name = 'commands_new';
DROP TABLE commands;
ALTER TABLE commands_new RENAME TO commands;
CREATE INDEX commands_due_idx ON commands (status, not_before, id);
CREATE INDEX commands_device_idx ON commands (device_id, id);
CREATE INDEX commands_pool_idx ON commands (pool_id, id);
CREATE INDEX commands_account_ref_idx ON commands (account_id, provider_ref);
CREATE UNIQUE INDEX commands_one_sending_idx ON commands (device_id) WHERE status = 'sending';
-- Deleting equipment sets its commands' equipment_id NULL: indexed, as on PostgreSQL.
CREATE INDEX commands_equipment_idx ON commands (equipment_id);
-- The previous binary neither deletes pools nor notices the missing foreign key.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (39, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 39;
-- The commands of deleted pools cannot be kept under the foreign key.
DELETE FROM commands WHERE pool_id NOT IN (SELECT id FROM pools);
CREATE TABLE commands_old (
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
INSERT INTO commands_old SELECT * FROM commands ORDER BY id;
INSERT INTO sqlite_sequence (name, seq) SELECT 'commands_old', 0
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'commands_old');
UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM sqlite_sequence WHERE name IN ('commands', 'commands_old'))
    WHERE name = 'commands_old';
DROP TABLE commands;
ALTER TABLE commands_old RENAME TO commands;
CREATE INDEX commands_due_idx ON commands (status, not_before, id);
CREATE INDEX commands_device_idx ON commands (device_id, id);
CREATE INDEX commands_pool_idx ON commands (pool_id, id);
CREATE INDEX commands_account_ref_idx ON commands (account_id, provider_ref);
CREATE UNIQUE INDEX commands_one_sending_idx ON commands (device_id) WHERE status = 'sending';
