-- +goose Up
-- Poll state is now made with the account (store.UpsertAccount, in the connect or OAuth
-- callback transaction) instead of by the poll worker on every tick, whose cost then grew
-- with every account instead of the due ones. This backfills the accounts linked before:
-- every account not disconnected gets a state, due at once (as the worker would have
-- made it). Polling still only claims the providers configured with poll = true.
INSERT INTO poll_state (account_id, provider, next_poll_at, updated_at)
SELECT id, provider, now(), now() FROM integration_accounts WHERE status <> 'disconnected'
ON CONFLICT (account_id) DO NOTHING;
-- Rows only: the previous binary made the same rows itself and keeps working.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (11, TRUE);

-- +goose Down
-- The backfilled rows stay: the previous binary expects them.
DELETE FROM schema_compat WHERE version = 11;
