-- +goose Up
-- Who created the pool: ingest { max_pools_per_user } counts the pools a user created.
-- It counted the pools a user owned, and any owner may make any user an owner, unasked,
-- while a last owner cannot leave: one user could hand pools to another and leave them,
-- creating without end and leaving the other stuck owning pools that spent their own
-- places. A pool made before this migration counts for its earliest owner still there;
-- one made by the previous binary during a rolling upgrade (NULL) counts for nobody.
ALTER TABLE pools ADD COLUMN created_by INTEGER;
UPDATE pools SET created_by = (
    SELECT m.user_id FROM pool_members m
    WHERE m.pool_id = pools.id AND m.role = 'owner'
    ORDER BY m.created_at, m.user_id LIMIT 1);
CREATE INDEX pools_created_by_idx ON pools (created_by);
-- Additive (a nullable column and an index): the previous binary ignores it.
INSERT INTO schema_compat (version, compatible_with_previous) VALUES (37, 1);

-- +goose Down
DELETE FROM schema_compat WHERE version = 37;
DROP INDEX pools_created_by_idx;
ALTER TABLE pools DROP COLUMN created_by;
