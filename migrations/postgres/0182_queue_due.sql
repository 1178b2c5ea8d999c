-- The dispatcher's home sorted by due (`/?sort=due` on Sin asignar): the unassigned tickets
-- with a running clock, in due order, read a page at a time from this index. Without it the
-- planner read every unassigned ticket and sorted them (28 ms at 19,000 unassigned on
-- PostgreSQL, against 0.08 ms with it; PERFORMANCE.md).
CREATE INDEX tickets_queue_due ON tickets(sla_due_at, id)
    WHERE status IN ('nuevo', 'devuelto') AND sla_due_at IS NOT NULL;
