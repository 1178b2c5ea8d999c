-- The dashboard reads one row per Lima day and figure instead of a month of tickets (see
-- src/domain/figures.rs for the figure codes and whom each one counts for, and
-- src/storage/figures.rs for the packing: per person, big-endian u32 `person, n` followed,
-- for durations, by the n durations in seconds). A month is about 240 rows, and medians and
-- percentiles stay exact.
CREATE TABLE daily_figures (
    day BIGINT NOT NULL,
    figure BIGINT NOT NULL,
    n BIGINT NOT NULL,
    people BLOB NOT NULL,
    PRIMARY KEY (day, figure)
);

-- Backfill from what is already stored. Day = (instant - 5 h) / 86 400 (Lima, UTC-5).
-- 0 arrivals: counted only.
INSERT INTO daily_figures (day, figure, n, people)
SELECT (created_at - 18000) / 86400, 0, COUNT(*), x'' FROM tickets GROUP BY (created_at - 18000) / 86400;

-- 1 first assignments, for whoever got the ticket first
INSERT INTO daily_figures (day, figure, n, people)
SELECT day, 1, SUM(k), unhex(group_concat(seg, ''))
FROM (
    SELECT day, COUNT(*) AS k, printf('%08X', person) || printf('%08X', COUNT(*)) || group_concat(printf('%08X', secs), '') AS seg
    FROM (
        SELECT (t.first_assigned_at - 18000) / 86400 AS day,
               COALESCE((SELECT json_extract(e.data, '$.to_assignee') FROM ticket_events e
                         WHERE e.ticket_id = t.id AND e.kind IN ('assigned', 'reassigned')
                         ORDER BY e.id LIMIT 1), 0) AS person,
               max(0, min(t.first_assigned_at - t.created_at, 4294967295)) AS secs
        FROM tickets t WHERE t.first_assigned_at IS NOT NULL
    ) GROUP BY day, person
) GROUP BY day;

-- 2 first technician answers, for who answered
INSERT INTO daily_figures (day, figure, n, people)
SELECT day, 2, SUM(k), unhex(group_concat(seg, ''))
FROM (
    SELECT day, COUNT(*) AS k, printf('%08X', person) || printf('%08X', COUNT(*)) || group_concat(printf('%08X', secs), '') AS seg
    FROM (
        SELECT (t.first_response_at - 18000) / 86400 AS day,
               COALESCE((SELECT e.actor_id FROM ticket_events e
                         WHERE e.ticket_id = t.id AND e.kind = 'commented' AND e.at = t.first_response_at
                         ORDER BY e.id LIMIT 1), 0) AS person,
               max(0, min(t.first_response_at - t.created_at, 4294967295)) AS secs
        FROM tickets t WHERE t.first_response_at IS NOT NULL
    ) GROUP BY day, person
) GROUP BY day;

-- 3 standing closes, for who had the ticket when it closed
INSERT INTO daily_figures (day, figure, n, people)
SELECT day, 3, SUM(k), unhex(group_concat(seg, ''))
FROM (
    SELECT day, COUNT(*) AS k, printf('%08X', person) || printf('%08X', COUNT(*)) || group_concat(printf('%08X', secs), '') AS seg
    FROM (
        SELECT (closed_at - 18000) / 86400 AS day, COALESCE(assignee_id, 0) AS person,
               max(0, min(closed_at - created_at, 4294967295)) AS secs
        FROM tickets WHERE status = 'cerrado' AND closed_at IS NOT NULL
    ) GROUP BY day, person
) GROUP BY day;

-- 4 queue stays that ended, for who got the ticket
INSERT INTO daily_figures (day, figure, n, people)
SELECT day, 4, SUM(k), unhex(group_concat(seg, ''))
FROM (
    SELECT day, COUNT(*) AS k, printf('%08X', person) || printf('%08X', COUNT(*)) || group_concat(printf('%08X', secs), '') AS seg
    FROM (
        SELECT (w.ended_at - 18000) / 86400 AS day,
               COALESCE((SELECT json_extract(e.data, '$.to_assignee') FROM ticket_events e
                         WHERE e.ticket_id = w.ticket_id AND e.at = w.ended_at
                           AND e.kind IN ('assigned', 'reassigned')
                         ORDER BY e.id LIMIT 1), 0) AS person,
               max(0, min(w.secs, 4294967295)) AS secs
        FROM queue_waits w
    ) GROUP BY day, person
) GROUP BY day;

-- 5 returns, for who returned the ticket
INSERT INTO daily_figures (day, figure, n, people)
SELECT day, 5, SUM(k), unhex(group_concat(seg, ''))
FROM (
    SELECT day, COUNT(*) AS k, printf('%08X', person) || printf('%08X', COUNT(*)) AS seg
    FROM (
        SELECT (at - 18000) / 86400 AS day, COALESCE(actor_id, 0) AS person
        FROM ticket_events WHERE kind = 'returned'
    ) GROUP BY day, person
) GROUP BY day;

-- 6 passes, for who passed the ticket on
INSERT INTO daily_figures (day, figure, n, people)
SELECT day, 6, SUM(k), unhex(group_concat(seg, ''))
FROM (
    SELECT day, COUNT(*) AS k, printf('%08X', person) || printf('%08X', COUNT(*)) AS seg
    FROM (
        SELECT (at - 18000) / 86400 AS day, COALESCE(actor_id, 0) AS person
        FROM ticket_events WHERE kind = 'reassigned'
    ) GROUP BY day, person
) GROUP BY day;

-- 7 tickets handed to a technician, for who got them
INSERT INTO daily_figures (day, figure, n, people)
SELECT day, 7, SUM(k), unhex(group_concat(seg, ''))
FROM (
    SELECT day, COUNT(*) AS k, printf('%08X', person) || printf('%08X', COUNT(*)) AS seg
    FROM (
        SELECT (at - 18000) / 86400 AS day, COALESCE(json_extract(data, '$.to_assignee'), 0) AS person
        FROM ticket_events WHERE kind IN ('assigned', 'reassigned')
    ) GROUP BY day, person
) GROUP BY day;

-- What the table replaces.
DROP TABLE queue_waits;
DROP INDEX tickets_assigned_cover;
DROP INDEX tickets_response_cover;

-- The open backlog (its ages and the dashboard's oldest-first table) and the dispatch queue
-- read small partial indexes instead of filtering the whole table by status; the open ones
-- hold every column the backlog table shows, so it needs no table lookups.
CREATE INDEX tickets_open ON tickets(created_at, id, status, assignee_id, last_event_at, last_event_kind, subject)
    WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'devuelto');
CREATE INDEX tickets_open_assignee ON tickets(assignee_id, created_at, id, status, last_event_at, last_event_kind, subject)
    WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'devuelto');
CREATE INDEX tickets_queued ON tickets(queued_since)
    WHERE status IN ('nuevo', 'devuelto');
