-- The search index merges its segments in bigger steps (16 at a level instead of 4): every
-- intake commit writes a small segment, and merging them four at a time was a large part of
-- what a commit cost under load (a 25-40 ms merge every ~50 commits at a million tickets).
-- Searches read a few more segments; docs/PERFORMANCE.md has both sides' figures.
INSERT INTO ticket_search (ticket_search, rank) VALUES ('automerge', 16);
