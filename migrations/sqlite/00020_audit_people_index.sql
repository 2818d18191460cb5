-- +goose Up
-- The audit trail's "people" view (store.AuditByPeople) lists what users and operators
-- did, newest first. Per-delivery receipts outnumber those rows by millions to one, so
-- walking the id index backwards would read through all of them: this partial index
-- holds the people rows only. Its condition is store.peopleActors, character for
-- character (a partial index serves a query whose WHERE clause carries its condition).
CREATE INDEX audit_events_people_idx ON audit_events (id)
    WHERE (actor LIKE 'user:%' OR actor IN ('system:cli', 'system:signal'));
-- An index only: the previous binary keeps working.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (20, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 20;
DROP INDEX audit_events_people_idx;
