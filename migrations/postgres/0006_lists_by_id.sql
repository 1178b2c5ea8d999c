-- Lists are newest first by id (ids are handed out in arrival order), so search can walk the
-- full-text index backwards and stop after one page, and filtered lists read an index in
-- order instead of sorting every match.
DROP INDEX tickets_status_created;
DROP INDEX tickets_assignee_created;
CREATE INDEX tickets_status_id ON tickets(status, id);
CREATE INDEX tickets_assignee_id ON tickets(assignee_id, id);
