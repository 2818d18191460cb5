-- +goose Up
-- Pools can be deleted (DELETE /v1/pools/{poolId}, store.DeletePool). Their commands
-- stay, as history: a command sent, delivered or of unknown outcome was carried out (or
-- may have been) on a real device, and the ones still queued are canceled, not erased.
-- So commands.pool_id no longer references pools: it keeps the id of a pool that may be
-- gone (ids are never handed out twice), as sensor_readings.pool_id has since 00003.
ALTER TABLE commands DROP CONSTRAINT commands_pool_id_fkey;
-- Deleting equipment (with its pool, or alone) sets its commands' equipment_id NULL:
-- without an index, the foreign key's action read every command for each piece of
-- equipment deleted, as equipmentIdle's count did.
CREATE INDEX commands_equipment_idx ON commands (equipment_id);

-- poolhost_hold_pools is the group commit's guard (writeDeliveriesSQL): it is true when
-- every pool of ids still exists, and fails the statement with SQLSTATE PH001 when one
-- was deleted, so that nothing is written to it; ingest then resolves the deliveries
-- again and drops those readings as unlinked_device. It takes a shared advisory lock
-- per pool for the writer's transaction, which DeletePool takes exclusively: a write
-- that checked a pool before its delete commits first (and its readings are deleted
-- with the pool), and one that checks after finds it gone. VOLATILE, so that its check
-- reads the pools as they are once the lock is held, not as the statement's snapshot
-- saw them before it waited.
-- +goose StatementBegin
CREATE FUNCTION poolhost_hold_pools(ids BIGINT[]) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    i BIGINT;
    locked TEXT;
BEGIN
    -- An assignment, not PERFORM: PL/pgSQL evaluates it without a query (about half
    -- the function's cost for one pool). Shared locks never wait for one another, so
    -- their order does not matter.
    IF ids IS NULL THEN -- a write of no readings (an audit row alone)
        RETURN TRUE;
    END IF;
    FOREACH i IN ARRAY ids LOOP
        locked := pg_advisory_xact_lock_shared(1886351212, (i & 2147483647)::INT)::TEXT;
    END LOOP;
    IF EXISTS (SELECT 1 FROM unnest(ids) AS u(id) WHERE NOT EXISTS (SELECT 1 FROM pools p WHERE p.id = u.id)) THEN
        RAISE EXCEPTION 'a pool of this write was deleted' USING ERRCODE = 'PH001';
    END IF;
    RETURN TRUE;
END
$$;
-- +goose StatementEnd
-- The previous binary neither deletes pools nor calls the function; the commands it
-- reads keep a pool id, as before; the index only adds.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (39, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 39;
DROP FUNCTION poolhost_hold_pools(BIGINT[]);
DROP INDEX commands_equipment_idx;
-- The commands of deleted pools cannot be kept under the foreign key.
DELETE FROM commands c WHERE NOT EXISTS (SELECT 1 FROM pools p WHERE p.id = c.pool_id);
ALTER TABLE commands ADD CONSTRAINT commands_pool_id_fkey FOREIGN KEY (pool_id) REFERENCES pools (id) ON DELETE CASCADE;
