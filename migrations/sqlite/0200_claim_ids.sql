-- Issue 17: PostgreSQL's soporte_claim_ids (an intake batch in one round trip). SQLite's
-- writer holds the database's one write lock and numbers rows itself: nothing to add.
SELECT 1;
