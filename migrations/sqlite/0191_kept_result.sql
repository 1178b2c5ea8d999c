-- Issue 15: a form whose answer is a result to read (the mailbox's "Probar conexión") keeps
-- it on the session and redirects; the next page takes it. A refresh then neither re-sends
-- the form nor shows the result twice.
ALTER TABLE sessions ADD COLUMN kept TEXT;
