-- Issue 17: an intake batch in one round trip. The serving writer knows which ticket and
-- event ids come next (where its last batch ended) and claims them with the batch's first
-- statement instead of asking the sequences and waiting for the answer. The claim takes a
-- transaction-scoped lock that every serving writer takes before it hands out ids (so
-- claims and ids handed out by `nextval` never cross), checks that each sequence is where
-- the writer expects it and moves it past the claimed ids; if another writer took ids
-- since, or one of the batch's intake keys (a JSON array of texts) is stored already (a
-- delivery seen before), it fails the transaction before any sequence moved, and the writer
-- asks for keys and ids instead. Every statement in the function reads what committed
-- before its lock was granted.
CREATE FUNCTION soporte_claim_ids(first_ticket BIGINT, tickets BIGINT, first_event BIGINT, events BIGINT, keys JSONB)
RETURNS BIGINT
LANGUAGE plpgsql
AS $$
DECLARE
    following BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(7565171, 1);
    IF EXISTS (SELECT 1 FROM intake_keys WHERE key IN (SELECT jsonb_array_elements_text(keys))) THEN
        RAISE EXCEPTION 'soporte: an intake key of the batch is stored already';
    END IF;
    IF tickets > 0 THEN
        SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
            INTO following FROM tickets_id_seq;
        IF following IS DISTINCT FROM first_ticket THEN
            RAISE EXCEPTION 'soporte: ticket id % was claimed, % comes next', first_ticket, following;
        END IF;
        PERFORM setval('tickets_id_seq', first_ticket + tickets - 1);
    END IF;
    IF events > 0 THEN
        SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
            INTO following FROM ticket_events_id_seq;
        IF following IS DISTINCT FROM first_event THEN
            RAISE EXCEPTION 'soporte: event id % was claimed, % comes next', first_event, following;
        END IF;
        PERFORM setval('ticket_events_id_seq', first_event + events - 1);
    END IF;
    RETURN tickets + events;
END
$$;
