-- +goose Up
-- A failed webhook subscription (subscription_error, 00015) is retried with backoff
-- like a failed poll (connect.RetrySubscriptions, on one elected replica): how many
-- attempts failed in a row, and when the next one is due. Both are cleared with the
-- error; the partial index holds only the accounts waiting for a retry, so the retry
-- tick reads nothing while every subscription is fine.
ALTER TABLE integration_accounts ADD COLUMN subscription_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integration_accounts ADD COLUMN subscription_retry_at TIMESTAMP;
CREATE INDEX integration_accounts_subscription_retry_idx ON integration_accounts (subscription_retry_at)
    WHERE subscription_retry_at IS NOT NULL;
-- Existing errors are retried at once by the first tick.
UPDATE integration_accounts SET subscription_retry_at = updated_at WHERE subscription_error IS NOT NULL;
-- Additive (columns with defaults, an index): the previous binary ignores them.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (25, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 25;
DROP INDEX integration_accounts_subscription_retry_idx;
ALTER TABLE integration_accounts DROP COLUMN subscription_retry_at;
ALTER TABLE integration_accounts DROP COLUMN subscription_attempts;
