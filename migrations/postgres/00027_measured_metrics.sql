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
CREATE TABLE measured_metrics (
    pool_id BIGINT NOT NULL,
    source  TEXT NOT NULL, -- 'sensor' or 'test_session', as store.Latest.Source
    metric  TEXT NOT NULL
);
CREATE INDEX measured_metrics_pool_idx ON measured_metrics (pool_id, source, metric);

-- +goose StatementBegin
CREATE FUNCTION poolhost_measured_readings() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE FUNCTION poolhost_measured_results() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER sensor_readings_measured AFTER INSERT ON sensor_readings
    REFERENCING NEW TABLE AS poolhost_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION poolhost_measured_readings();
CREATE TRIGGER test_results_measured AFTER INSERT ON test_results
    REFERENCING NEW TABLE AS poolhost_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION poolhost_measured_results();

-- The rows already there: one pass over each table (about as long as a COUNT(*) of
-- it). The triggers were created first, in this transaction, and block inserts until
-- it commits, so no row is missed in between.
INSERT INTO measured_metrics (pool_id, source, metric)
    SELECT DISTINCT pool_id, 'sensor', metric FROM sensor_readings
    UNION SELECT DISTINCT pool_id, 'test_session', metric FROM test_results;

-- The previous binary's inserts fire the triggers too, and it never reads the table.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (27, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 27;
DROP TRIGGER test_results_measured ON test_results;
DROP TRIGGER sensor_readings_measured ON sensor_readings;
DROP FUNCTION poolhost_measured_results();
DROP FUNCTION poolhost_measured_readings();
DROP TABLE measured_metrics;
