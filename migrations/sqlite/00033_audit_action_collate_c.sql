-- +goose Up
-- PostgreSQL's migration of this number puts audit_events.action in collation "C", so
-- that a category filter can use its index. Nothing changes here; the number keeps both
-- dialects' versions the same.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (33, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 33;
