-- +goose Up
-- The console's Overview counts deliveries per provider and hour. Counting a day of
-- audit rows on every view grew with traffic; a rollup keeps the counts per provider,
-- action (and drop reason) and hour, and the Overview adds the few rows not rolled up
-- yet (store.RollupAudit).
CREATE TABLE audit_hourly (
    provider   TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    reason     TEXT    NOT NULL, -- '' for the action's count; a drop reason for readings dropped
    hour       INTEGER NOT NULL, -- hours since the Unix epoch
    n          INTEGER NOT NULL,
    suppressed INTEGER NOT NULL,
    PRIMARY KEY (provider, action, reason, hour)
);
CREATE INDEX audit_hourly_hour_idx ON audit_hourly (hour);
-- How far the rollup has gone: audit rows with a larger id are counted from
-- audit_events. It starts at the last day, which the Overview shows.
CREATE TABLE audit_rollup (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    last_id INTEGER NOT NULL
);
INSERT INTO audit_rollup (id, last_id) VALUES (1, COALESCE(
    (SELECT MIN(id) - 1 FROM audit_events WHERE at >= (CAST(strftime('%s', 'now') AS INTEGER) - 25 * 3600) * 1000000),
    (SELECT MAX(id) FROM audit_events), 0));
-- New tables only: the previous binary keeps working (its Overview scans as before).
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (16, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 16;
DROP TABLE audit_rollup;
DROP TABLE audit_hourly;
