-- +goose Up
-- schema_compat: each migration from this one on inserts its own row saying whether a
-- binary that expects the version before it keeps working on the schema it leaves
-- (true for a migration that only adds). A replica still running the previous binary
-- during a rolling upgrade reads the row of a migration it does not know, and stays
-- ready only when every newer migration says true (store.SchemaState).
CREATE TABLE schema_compat (
    version                  BIGINT PRIMARY KEY,
    compatible_with_previous BOOLEAN NOT NULL
);
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (7, TRUE);

-- A disabled user's tokens and console sessions stop authenticating at once
-- (`poolhost users disable`); the user and their data stay.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE users DROP COLUMN disabled_at;
DROP TABLE schema_compat;
