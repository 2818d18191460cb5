-- +goose Up
-- A provider's suggestion for the configuration of the pool a device measures (Ondilo's
-- /pools volume and type: sdk.Device.Suggested), as its latest discovery reported it:
-- JSON {volumeLiters, kind, location, sanitizer}, NULL when it suggests nothing. It is
-- configuration, not a measured value, so it lives with the device and reaches the pool's
-- own columns only when a user accepts it (POST .../suggestion/accept), never
-- sensor_readings.
ALTER TABLE integration_devices ADD COLUMN suggestion JSONB;
-- Additive (a nullable column): the previous binary keeps working and ignores it.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (10, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 10;
ALTER TABLE integration_devices DROP COLUMN suggestion;
