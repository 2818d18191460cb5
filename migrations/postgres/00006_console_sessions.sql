-- +goose Up
-- Operators' console sessions (/ui/). A session is bound to the API token it was
-- opened with: signing in proves the token, and every request joins the token, so
-- revoking the token ends its sessions at once. Only the cookie value's hash is stored.
CREATE TABLE console_sessions (
    id_hash    TEXT PRIMARY KEY,
    token_id   BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX console_sessions_token_idx ON console_sessions (token_id);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
