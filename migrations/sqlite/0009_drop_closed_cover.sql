-- Nothing reads this index any more: the dashboard reads daily_figures and the export scans
-- the closed tickets in id order. Every ticket insert no longer pays for it.
DROP INDEX tickets_closed_cover;
