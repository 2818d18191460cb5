-- +goose Up
-- The SQLite twin of migrations/postgres/00002_webhook_deliveries.sql: the first
-- sighting of each webhook delivery id, so a replay's readings without their own
-- timestamp get the first receipt time and dedupe on sensor_readings' unique key.
CREATE TABLE webhook_deliveries (
    provider          TEXT NOT NULL,
    account_id        INTEGER NOT NULL DEFAULT 0,
    delivery_id       TEXT NOT NULL CHECK (delivery_id <> ''),
    first_received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, account_id, delivery_id)
);
CREATE INDEX webhook_deliveries_first_received_idx ON webhook_deliveries (first_received_at);

-- +goose Down
DROP TABLE webhook_deliveries;
