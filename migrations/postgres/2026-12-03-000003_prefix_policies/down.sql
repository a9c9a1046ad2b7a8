-- Reverts prefix policies. A trail that holds a prefix policy's events
-- cannot go back (SET NOT NULL refuses them), which is the safe side.
DROP VIEW audit_trail;
CREATE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id, e.correlation_id,
       e.emergency, e.change_request_id, e.detail
FROM events e
JOIN models m ON m.id = e.model_id;
ALTER TABLE events DROP CONSTRAINT events_name_a_model_or_a_prefix;
ALTER TABLE events DROP COLUMN model_prefix;
ALTER TABLE events ALTER COLUMN model_id SET NOT NULL;
DROP TABLE prefix_alias_policies;
