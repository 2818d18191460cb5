-- +goose Up
-- sensor_readings is the one table written once per reading, hundreds of rows per
-- transaction under group commit. Its two foreign keys ran a trigger per row — an SPI
-- query plus a FOR KEY SHARE lock on the device's and the pool's rows, which concurrent
-- transactions then contend on — and cost about a quarter of the server's CPU per
-- delivery (pgbench, 100 readings per transaction: 280 → 365 transactions/s).
--
-- What they guarded is held elsewhere: ingest writes device_id and pool_id only from the
-- device lookup in the same transaction, and nothing deletes pools or devices (accounts
-- are disconnected and devices unlinked, rows stay). Code that ever deletes them must
-- delete their readings in the same transaction.
-- A reading's metric is never empty (ingest drops unknown metrics); the CHECK costs
-- nothing per row and keeps a bug from storing one.
-- Keep migrations/sqlite/00003_readings_without_foreign_keys.sql in step with this file.
ALTER TABLE sensor_readings
    DROP CONSTRAINT sensor_readings_device_id_fkey,
    DROP CONSTRAINT sensor_readings_pool_id_fkey,
    ADD CONSTRAINT sensor_readings_metric_check CHECK (metric <> '');

-- +goose Down
ALTER TABLE sensor_readings
    DROP CONSTRAINT sensor_readings_metric_check,
    ADD CONSTRAINT sensor_readings_device_id_fkey
        FOREIGN KEY (device_id) REFERENCES integration_devices (id) ON DELETE CASCADE,
    ADD CONSTRAINT sensor_readings_pool_id_fkey
        FOREIGN KEY (pool_id) REFERENCES pools (id) ON DELETE CASCADE;
