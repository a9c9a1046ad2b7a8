CREATE OR REPLACE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id
FROM events e
JOIN models m ON m.id = e.model_id;
ALTER TABLE events DROP COLUMN correlation_id;
DROP TABLE request_keys;
