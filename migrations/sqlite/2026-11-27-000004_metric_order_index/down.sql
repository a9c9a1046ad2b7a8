CREATE INDEX version_metrics_by_model ON version_metrics (model_id, name, value);
DROP INDEX version_metrics_ordered;
