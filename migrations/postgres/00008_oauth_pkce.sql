-- +goose Up
-- PKCE (RFC 7636): the verifier of the challenge sent with the authorize URL, handed to
-- the plugin at the callback. It is useless without the authorization code, lives as
-- long as its state (minutes), and is single use, so it is stored as it is.
ALTER TABLE integration_oauth_states ADD COLUMN code_verifier TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE integration_oauth_states DROP COLUMN code_verifier;
