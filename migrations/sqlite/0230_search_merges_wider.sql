-- The search index's background merges combine 16 segments of a level (FTS5's largest
-- setting) instead of 4: each merge rewrites what it combines, so four at a time rewrote
-- every document about twice as often (log4 against log16 of the levels), and the merge
-- steps hold SQLite's one write lock between the writer's commits. Searches read at most 15
-- segments per level instead of 3 (a common word's search at a million tickets after 30 s
-- of intake: about as fast; docs/PERFORMANCE.md). Automatic merging stays off and the crisis
-- limit at 64 (0131).
INSERT INTO ticket_search (ticket_search, rank) VALUES ('usermerge', 16);
