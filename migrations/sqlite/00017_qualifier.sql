-- +goose Up
-- A value beyond the range of the method that measured it ("FC > 10" from a photometer)
-- is a bound, not a measurement: qualifier says which side ('above' or 'below') and the
-- value is the bound. NULL is an exact value, as every row stored before was. Means and
-- extremes leave qualified rows out; the status judges them against targets.
ALTER TABLE sensor_readings ADD COLUMN qualifier TEXT;
ALTER TABLE test_results ADD COLUMN qualifier TEXT;
-- Additive: the previous binary neither writes nor reads the column.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (17, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 17;
ALTER TABLE test_results DROP COLUMN qualifier;
ALTER TABLE sensor_readings DROP COLUMN qualifier;
