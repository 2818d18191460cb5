-- +goose Up
-- The SQLite twin of migrations/postgres/00028_pool_invitations.sql: an owner adding
-- someone by user id records an invitation, which the user accepts.
CREATE TABLE pool_invitations (
    pool_id    INTEGER NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    invited_by INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pool_id, user_id)
);
-- A new table only: the previous binary keeps working (it never reads it).
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (28, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 28;
DROP TABLE pool_invitations;
