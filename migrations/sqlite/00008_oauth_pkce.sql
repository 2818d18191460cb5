-- +goose Up
-- PKCE (RFC 7636): the verifier of the challenge sent with the authorize URL, handed to
-- the plugin at the callback. It is useless without the authorization code, lives as
-- long as its state (minutes), and is single use, so it is stored as it is.
ALTER TABLE integration_oauth_states ADD COLUMN code_verifier TEXT NOT NULL DEFAULT '';
-- Additive (a column with a default): the previous binary keeps working (schema_compat, 00007).
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (8, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 8;
ALTER TABLE integration_oauth_states DROP COLUMN code_verifier;
