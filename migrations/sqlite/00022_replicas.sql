-- +goose Up
-- Each serve process's heartbeat (store.BeatReplica, every few seconds): when it
-- started, when it was last seen, and its readiness then (ready, degraded, not ready),
-- or stopped after a clean shutdown. Any replica's console shows them all; one not
-- seen for a while is shown as gone (crashed, frozen, or cut off from the database).
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY, -- per process: hostname, pid and a random part
    hostname     TEXT NOT NULL,
    version      TEXT NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    status       TEXT NOT NULL,
    problem      TEXT NOT NULL -- the readiness checks not ok
);
CREATE INDEX replicas_last_seen_idx ON replicas (last_seen_at);
-- A new table: the previous binary ignores it (its replicas simply do not show).
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (22, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 22;
DROP TABLE replicas;
