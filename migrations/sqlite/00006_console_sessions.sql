-- +goose Up
-- The SQLite twin of migrations/postgres/00006_console_sessions.sql: operators' console
-- sessions, each bound to the API token that opened it (revoking the token ends them).
CREATE TABLE console_sessions (
    id_hash    TEXT PRIMARY KEY,
    token_id   INTEGER NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_token_idx ON console_sessions (token_id);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
