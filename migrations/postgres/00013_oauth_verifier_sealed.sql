-- +goose Up
-- The PKCE verifier (00008) was stored as it is. It is now sealed by the credentials
-- cipher like account credentials (AES-256-GCM, key id beside it, the state's user,
-- provider and hash as associated data): with the authorization code, which crosses the
-- user's browser and the provider's logs, it is what redeems the code, so a database
-- reader must not hold it. The states stored before held their verifier in clear; they
-- are deleted rather than sealed here (SQL has no key): a connect started before the
-- upgrade answers oauth-state-invalid at its callback and is simply started again
-- (states live ten minutes).
DELETE FROM integration_oauth_states;
ALTER TABLE integration_oauth_states ADD COLUMN code_verifier_ciphertext BYTEA;
ALTER TABLE integration_oauth_states ADD COLUMN code_verifier_key_id TEXT;
-- Additive: the previous binary keeps working (it still writes code_verifier in clear,
-- which this binary reads only for a state without ciphertext: a connect such a replica
-- started during a rolling upgrade). Once no previous binary runs, no clear verifier is
-- written again, and purge removes the last within a day.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (13, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 13;
-- The previous binary reads code_verifier only: sealed states cannot complete there.
DELETE FROM integration_oauth_states;
ALTER TABLE integration_oauth_states DROP COLUMN code_verifier_key_id;
ALTER TABLE integration_oauth_states DROP COLUMN code_verifier_ciphertext;
