-- +goose Up
-- SQLite's migration of this number keeps the rollup watermark below reused rowids;
-- PostgreSQL's sequences never hand an id out twice, so there is nothing to do here.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (24, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 24;
