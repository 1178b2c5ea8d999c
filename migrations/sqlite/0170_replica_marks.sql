-- Read replicas (--database-replica) are a PostgreSQL feature; SQLite ignores them. The table
-- exists on both backends so the schema stays one: the primary's WAL position after each
-- signed-in person's last write, which their reads wait for on a replica.
CREATE TABLE replica_marks (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    at INTEGER NOT NULL
);
