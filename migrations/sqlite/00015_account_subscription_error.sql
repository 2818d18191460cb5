-- +goose Up
-- Why the plugin could not register the account's own webhook URL with its provider's
-- cloud (sdk.Subscriber), shown on the account; NULL when it is registered or there is
-- nothing to register. A non-NULL value is retried at the account's next discovery.
ALTER TABLE integration_accounts ADD COLUMN subscription_error TEXT;
-- Additive (a nullable column): the previous binary keeps working and ignores it.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (15, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 15;
ALTER TABLE integration_accounts DROP COLUMN subscription_error;
