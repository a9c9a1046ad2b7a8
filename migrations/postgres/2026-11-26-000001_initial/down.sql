DROP VIEW audit_trail;
DROP VIEW model_registry;
DROP TABLE events;
DROP FUNCTION events_are_append_only();
DROP TABLE version_tags;
DROP TABLE version_metrics;
DROP TABLE model_versions;
DROP TABLE models;
