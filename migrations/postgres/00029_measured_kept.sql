-- +goose Up
-- sensor_readings' measured_metrics trigger (00027) does nothing in a transaction that
-- set poolhost.measured_kept to 'on'. The group commit's statement sets it when every
-- (pool, metric) pair of its readings is one its process saw committed in
-- measured_metrics before (store.measuredPairs): for a lone delivery, the trigger was
-- 110 µs of the database's 870 µs of CPU (the pairs it probed were always there). Every
-- other insert, and the previous binary's, fires it as before.
--
-- Recreated in this transaction, so no insert commits between the two without it. Cost:
-- catalog changes only, whatever the table's size; it waits for the inserts in flight
-- (a SHARE ROW EXCLUSIVE lock on sensor_readings) and blocks new ones until it commits.
DROP TRIGGER sensor_readings_measured ON sensor_readings;
CREATE TRIGGER sensor_readings_measured AFTER INSERT ON sensor_readings
    REFERENCING NEW TABLE AS poolhost_new_rows
    FOR EACH STATEMENT
    WHEN (current_setting('poolhost.measured_kept', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION poolhost_measured_readings();

-- The previous binary never sets the setting: its inserts fire the trigger.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (29, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 29;
DROP TRIGGER sensor_readings_measured ON sensor_readings;
CREATE TRIGGER sensor_readings_measured AFTER INSERT ON sensor_readings
    REFERENCING NEW TABLE AS poolhost_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION poolhost_measured_readings();
