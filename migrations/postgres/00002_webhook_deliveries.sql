-- +goose Up
-- The first sighting of each webhook delivery id. A reading without its own timestamp is
-- stored at the receipt time of the delivery's FIRST sighting, so a replay (same id)
-- lands on the same (device, metric, recorded_at) key and inserts nothing new.
-- Scoped by account: ids are unique per sender, and each account-scoped URL may be a
-- sender of its own; account_id is 0 for the provider-level URL. No foreign key, so 0
-- stays possible and a deleted account's ids still dedupe a late replay.
-- Keep migrations/sqlite/00002_webhook_deliveries.sql in step with this file.
CREATE TABLE webhook_deliveries (
    provider          TEXT NOT NULL,
    account_id        BIGINT NOT NULL DEFAULT 0,
    delivery_id       TEXT NOT NULL CHECK (delivery_id <> ''),
    first_received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, account_id, delivery_id)
);
-- For pruning ids older than any provider's redelivery window.
CREATE INDEX webhook_deliveries_first_received_idx ON webhook_deliveries (first_received_at);

-- +goose Down
DROP TABLE webhook_deliveries;
