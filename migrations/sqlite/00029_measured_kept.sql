-- +goose Up
-- PostgreSQL's migration of this number lets its group commit skip the measured_metrics
-- trigger (00027); SQLite keeps no measured_metrics.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (29, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 29;
