-- The outbox's index by recipient answers one question: how many notices went to an address
-- lately (`storage::mail::sent_to_since`, which limits mail to one address). It holds the
-- sent notices only: a new notice is written with its ticket and is not sent yet, so an
-- intake commit no longer adds an entry on a random page of this index (the address decides
-- the page); the sender adds it when it marks the notice sent, outside the commit the 201
-- waits for.
DROP INDEX mail_outbox_recipient;
CREATE INDEX mail_outbox_recipient_sent ON mail_outbox(recipient, sent_at) WHERE status = 'sent';
