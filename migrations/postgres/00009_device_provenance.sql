-- +goose Up
-- Provenance of each device: verified when the provider's own API listed it for the
-- account's credentials, declared when the user typed its id in (sdk/declared). Only
-- verified devices receive provider-level webhook deliveries, whose secret proves the
-- provider and not which user owns a device (host/ingest enforces this).
--
-- Every existing device becomes declared: the host never recorded which were verified,
-- and guessing would keep exactly the hole this closes. Providers whose devices come
-- from their API (ondilo, iopool) mark them verified again at the next discovery.
--
-- Readings already delivered across users — a provider-level delivery for a device id
-- that two users both declared reached both — cannot be told apart afterwards from
-- readings the device really sent to each, so they are left as they are, not guessed at.
ALTER TABLE integration_devices ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE;
-- Additive (a column with a default): the previous binary keeps working; it records
-- every device it adds as declared (schema_compat, 00007).
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (9, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 9;
ALTER TABLE integration_devices DROP COLUMN verified;
