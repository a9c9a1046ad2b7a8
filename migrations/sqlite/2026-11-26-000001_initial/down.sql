DROP VIEW audit_trail;
DROP VIEW model_registry;
DROP TABLE events;
DROP TABLE version_tags;
DROP TABLE version_metrics;
DROP TABLE model_versions;
DROP TABLE models;
