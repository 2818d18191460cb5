-- +goose Up
-- An owner adding someone to a pool by user id records an invitation; the user becomes a
-- member when they accept it. The owner's answer is the same whether the id names a user
-- or not, so adding members is no way to learn which user ids exist (pools.SetMember).
-- Keep migrations/sqlite/00028_pool_invitations.sql in step with this file.
CREATE TABLE pool_invitations (
    pool_id    BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    invited_by BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pool_id, user_id)
);
-- A new table only: the previous binary keeps working (it never reads it).
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (28, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 28;
DROP TABLE pool_invitations;
