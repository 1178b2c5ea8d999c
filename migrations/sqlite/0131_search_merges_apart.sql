-- The search index no longer merges inside the commits that add documents: a merge of the
-- segments the last commits wrote held an intake commit back for tens of milliseconds, now
-- and then for a second. Automatic merging is off; the writer's background thread (beside
-- its WAL checkpoints) merges the small segments a little at a time between commits. Should
-- that thread fall behind, a level still merges itself once it holds 64 segments.
INSERT INTO ticket_search (ticket_search, rank) VALUES ('automerge', 0);
INSERT INTO ticket_search (ticket_search, rank) VALUES ('usermerge', 4);
INSERT INTO ticket_search (ticket_search, rank) VALUES ('crisismerge', 64);
