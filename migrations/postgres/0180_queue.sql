-- The queue (issue 15): the list's orders and the "Vencidas" count read index ranges.

-- "Vencidas" for a technician: their tickets with a running clock past its due, counted
-- from a range of this index (staff count from tickets_sla_due).
CREATE INDEX tickets_sla_due_assignee ON tickets(assignee_id, sla_due_at) WHERE sla_due_at IS NOT NULL;

-- ?sort=actividad: the latest timeline event first, keyset on (last_event_at, id).
CREATE INDEX tickets_last_event ON tickets(last_event_at, id);

-- ?sort=prioridad: Crítica first, keyset on (rank, id); the expression is the one the list
-- query uses (storage::tickets::PRIORITY_RANK).
CREATE INDEX tickets_priority_rank ON tickets((CASE priority WHEN 'critica' THEN 4 WHEN 'alta' THEN 3 WHEN 'media' THEN 2 ELSE 1 END), id);
