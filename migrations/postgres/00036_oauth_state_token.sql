-- +goose Up
-- The token that started a connect (NULL: started before this migration, or by a
-- previous binary during a rolling upgrade). Revoking a token deletes the connects it
-- started and no one finished, so a leaked token's holder cannot start one, authorize
-- it with a provider account of their own, and have the owner's app complete it after
-- the token is revoked.
ALTER TABLE integration_oauth_states ADD COLUMN token_id BIGINT;
CREATE INDEX integration_oauth_states_token_idx ON integration_oauth_states (token_id);
-- Additive (a nullable column and an index): the previous binary ignores it.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (36, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 36;
DROP INDEX integration_oauth_states_token_idx;
ALTER TABLE integration_oauth_states DROP COLUMN token_id;
