-- +goose Up
-- SQLite reuses the highest rowid once its row is deleted (sensor_readings.id is a
-- plain INTEGER PRIMARY KEY). When retention deletes readings up to the newest id the
-- rollups already hold, the next reading would take an id at or below the watermark and
-- never be rolled up. Lowering the watermark to the highest id left keeps it below
-- every id yet to come; the readings it no longer covers are gone, and their figures
-- stay in the rollups. (PostgreSQL's sequences never hand an id out twice.)
-- +goose StatementBegin
CREATE TRIGGER sensor_readings_rollup_watermark AFTER DELETE ON sensor_readings
WHEN OLD.id >= (SELECT watermark FROM rollup_state WHERE name = 'sensor_readings')
BEGIN
    UPDATE rollup_state SET watermark = (SELECT COALESCE(MAX(id), 0) FROM sensor_readings)
    WHERE name = 'sensor_readings' AND watermark > (SELECT COALESCE(MAX(id), 0) FROM sensor_readings);
END;
-- +goose StatementEnd
-- Additive: the previous binary's deletes keep the watermark right too.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (24, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 24;
DROP TRIGGER sensor_readings_rollup_watermark;
