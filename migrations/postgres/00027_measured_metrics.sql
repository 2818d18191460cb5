-- +goose NO TRANSACTION
-- +goose Up
-- Which metrics each pool has ever had a sensor reading or a test result of, so a
-- pool's status (store.LatestMeasurements) probes only those. A probe for a metric the
-- pool never measured finds nothing in any month partition, so it visits every one of
-- them: 12 of the 16 metrics of a typical pool, over 19 months, were 380 empty index
-- probes per status, 4 ms at 10 million readings (make bench-scale), growing with the
-- months kept. A pool's measured metrics are a few rows; they never shrink (a row whose
-- readings are gone costs a probe that finds nothing, never a wrong answer).
--
-- Kept by a statement-level trigger on each table rather than by the writers: every
-- way a row arrives (the group commit's statement, InsertReadings, a test session, a
-- partition's rows moved out of the default one, a bulk load) is covered, and the
-- previous binary keeps it right too. Per statement it inserts those of the statement's
-- distinct (pool, metric) pairs that are not there yet: an index probe per pair, in the
-- writer's transaction, so a pair is committed with the first rows that need it.
--
-- No unique key, on purpose: ON CONFLICT would make a writer wait for another's
-- uncommitted insert of the same new pair until that transaction ends. Two writers
-- racing on a pair's first rows may each add it; the status reads the pairs DISTINCT.
--
-- Run without a transaction, one statement at a time, so that filling the table from
-- the rows already there never blocks an insert (at 100 million readings a single pass
-- inside the migration's transaction held inserts off for minutes): each table's
-- trigger is created first (a short lock, which waits for the inserts in flight), then
-- its rows are read in batches of 100 pool ids, each committed on its own, holding no
-- lock an insert waits for. Every statement can run again: a run cut short is resumed
-- by the next migrate up, which goose records only once every statement has run. A
-- binary of this version is not ready before that (a migration of its own pending), so
-- no status reads a half-filled table; the previous binary never reads it.
CREATE TABLE IF NOT EXISTS measured_metrics (
    pool_id BIGINT NOT NULL,
    source  TEXT NOT NULL, -- 'sensor' or 'test_session', as store.Latest.Source
    metric  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measured_metrics_pool_idx ON measured_metrics (pool_id, source, metric);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION poolhost_measured_readings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A scalar subquery, probed per pair: NOT EXISTS would be planned as a hash
    -- anti-join reading the whole table.
    INSERT INTO measured_metrics (pool_id, source, metric)
    SELECT n.pool_id, 'sensor', n.metric FROM (SELECT DISTINCT pool_id, metric FROM poolhost_new_rows) AS n
    WHERE (SELECT 1 FROM measured_metrics m
           WHERE m.pool_id = n.pool_id AND m.source = 'sensor' AND m.metric = n.metric LIMIT 1) IS NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION poolhost_measured_results() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A scalar subquery, probed per pair: NOT EXISTS would be planned as a hash
    -- anti-join reading the whole table.
    INSERT INTO measured_metrics (pool_id, source, metric)
    SELECT n.pool_id, 'test_session', n.metric FROM (SELECT DISTINCT pool_id, metric FROM poolhost_new_rows) AS n
    WHERE (SELECT 1 FROM measured_metrics m
           WHERE m.pool_id = n.pool_id AND m.source = 'test_session' AND m.metric = n.metric LIMIT 1) IS NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- sensor_readings: the trigger, committed, then the rows already there. A row whose
-- insert committed before the trigger existed is seen by every batch after; one
-- inserted after fires it. Pools are taken by ranges of ids (each batch reads its
-- pools' entries of the (pool_id, metric, recorded_at, id) index), and only pairs not
-- there yet are added: running it again adds nothing.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'sensor_readings'::regclass AND tgname = 'sensor_readings_measured') THEN
        CREATE TRIGGER sensor_readings_measured AFTER INSERT ON sensor_readings
            REFERENCING NEW TABLE AS poolhost_new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION poolhost_measured_readings();
    END IF;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
DECLARE
    lo  BIGINT;
    top BIGINT;
BEGIN
    SELECT min(pool_id) - 1, max(pool_id) INTO lo, top FROM sensor_readings;
    WHILE lo < top LOOP
        INSERT INTO measured_metrics (pool_id, source, metric)
        SELECT n.pool_id, 'sensor', n.metric
        FROM (SELECT DISTINCT pool_id, metric FROM sensor_readings WHERE pool_id > lo AND pool_id <= lo + 100) AS n
        WHERE (SELECT 1 FROM measured_metrics m
               WHERE m.pool_id = n.pool_id AND m.source = 'sensor' AND m.metric = n.metric LIMIT 1) IS NULL;
        COMMIT;
        lo := lo + 100;
    END LOOP;
END $$;
-- +goose StatementEnd

-- test_results, the same way.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'test_results'::regclass AND tgname = 'test_results_measured') THEN
        CREATE TRIGGER test_results_measured AFTER INSERT ON test_results
            REFERENCING NEW TABLE AS poolhost_new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION poolhost_measured_results();
    END IF;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
DECLARE
    lo  BIGINT;
    top BIGINT;
BEGIN
    SELECT min(pool_id) - 1, max(pool_id) INTO lo, top FROM test_results;
    WHILE lo < top LOOP
        INSERT INTO measured_metrics (pool_id, source, metric)
        SELECT n.pool_id, 'test_session', n.metric
        FROM (SELECT DISTINCT pool_id, metric FROM test_results WHERE pool_id > lo AND pool_id <= lo + 100) AS n
        WHERE (SELECT 1 FROM measured_metrics m
               WHERE m.pool_id = n.pool_id AND m.source = 'test_session' AND m.metric = n.metric LIMIT 1) IS NULL;
        COMMIT;
        lo := lo + 100;
    END LOOP;
END $$;
-- +goose StatementEnd

-- The previous binary's inserts fire the triggers too, and it never reads the table.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (27, TRUE) ON CONFLICT (version) DO NOTHING;

-- +goose Down
DELETE FROM schema_compat WHERE version = 27;
DROP TRIGGER IF EXISTS test_results_measured ON test_results;
DROP TRIGGER IF EXISTS sensor_readings_measured ON sensor_readings;
DROP FUNCTION IF EXISTS poolhost_measured_results();
DROP FUNCTION IF EXISTS poolhost_measured_readings();
DROP TABLE IF EXISTS measured_metrics;
