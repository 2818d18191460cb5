-- +goose Up
-- PostgreSQL's migration of this number makes every `metric` column compare in the "C"
-- collation (bytes), for cheaper B-tree inserts. SQLite's columns already compare in
-- BINARY, its default: bytes. Nothing changes here; the number keeps both dialects'
-- versions the same.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (31, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 31;
