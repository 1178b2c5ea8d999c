-- The «Vencidas» view (`?sla=vencidas`), newest first as every list is by default: the
-- tickets with a running clock by number, their due and warning instants beside it, so the
-- list walks them from the newest, checks the due in the index and reads only the page's
-- rows. Without it the planner read every overdue ticket through tickets_sla_due and sorted
-- them by number (p99 60 ms on SQLite at ten million demo tickets, 60,000 of them open;
-- PERFORMANCE.md). The walk reads at most the open tickets newer than the page's last one.
CREATE INDEX tickets_running_id ON tickets(id, sla_due_at, sla_warn_at) WHERE sla_due_at IS NOT NULL;
