-- +goose Up
-- Periodic maintenance (the lease rescue) runs on one replica: the one whose row here
-- has not expired. A replica renews its row every tick; when it dies, another takes
-- the row over once it expires (store.ElectLeader), within one lease.
CREATE TABLE maintenance_leaders (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
-- Additive (a new table): the previous binary ignores it and rescues on every replica,
-- which the rescue's compare-and-set keeps correct.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (18, TRUE);

-- +goose Down
DELETE FROM schema_compat WHERE version = 18;
DROP TABLE maintenance_leaders;
