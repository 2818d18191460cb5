-- +goose Up
-- The SQLite twin of migrations/postgres/00007_schema_compat_and_disabled_users.sql:
-- each migration from this one on records whether the previous binary keeps working on
-- the schema it leaves, and users can be disabled.
CREATE TABLE schema_compat (
    version                  INTEGER PRIMARY KEY,
    compatible_with_previous BOOLEAN NOT NULL CHECK (compatible_with_previous IN (0, 1))
);
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (7, 1);

ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;

-- +goose Down
ALTER TABLE users DROP COLUMN disabled_at;
DROP TABLE schema_compat;
