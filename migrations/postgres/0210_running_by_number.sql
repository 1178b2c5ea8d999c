-- SQLite's «Vencidas» view walks an index of the running clocks by number
-- (tickets_running_id, see the SQLite migration of this name). PostgreSQL's planner reads
-- the overdue tickets through tickets_sla_due and sorts them quickly enough (p99 9.7 ms at
-- ten million demo tickets, 60,000 open; PERFORMANCE.md), and with that index beside it
-- chose it for the overdue count too, a scan of every running clock instead of a range. Kept
-- so both backends number their migrations alike.
SELECT 1;
