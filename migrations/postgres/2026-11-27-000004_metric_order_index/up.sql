-- Listings of one model ordered by a metric walk this index in order and
-- stop after a page; the version id breaks ties, so the keyset cursor
-- (value, version id) is an index position too. It covers what
-- version_metrics_by_model did.
CREATE INDEX version_metrics_ordered ON version_metrics (model_id, name, value, version_id);
DROP INDEX version_metrics_by_model;
