-- Read replicas (--database-replica): the primary's WAL position (bytes past 0/0) after each
-- signed-in person's last write. Their reads go to a replica only once it has replayed past
-- this position, so nobody misses their own change. In the database, not in one instance's
-- memory: the next request may reach another instance.
CREATE TABLE replica_marks (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    at BIGINT NOT NULL
);
