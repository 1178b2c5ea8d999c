-- A recompute of the service-level clocks (`soporte sla recompute`, possibly in another
-- process) rewrites tickets without a timeline event. It bumps this count so the dashboard's
-- cache, keyed on the newest event and the settings revision, sees that the figures moved.
ALTER TABLE sla_revision ADD COLUMN recomputed BIGINT NOT NULL DEFAULT 0;
