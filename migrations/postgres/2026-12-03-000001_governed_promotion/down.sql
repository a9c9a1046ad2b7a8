-- Reverts governed promotion. The trail is append-only: a database whose
-- trail holds governance events cannot go back (the old constraint refuses
-- them), which is the safe side.
DROP VIEW audit_trail;
CREATE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id, e.correlation_id
FROM events e
JOIN models m ON m.id = e.model_id;
DROP INDEX events_of_change_request;
ALTER TABLE events DROP COLUMN detail;
ALTER TABLE events DROP COLUMN change_request_id;
ALTER TABLE events DROP COLUMN emergency;
ALTER TABLE events DROP CONSTRAINT events_event_type_check;
ALTER TABLE events DROP CONSTRAINT alias_events_name_their_alias;
ALTER TABLE events
    ADD CONSTRAINT events_event_type_check CHECK (event_type IN (
        'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
        'STATUS_CHANGED', 'ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK')),
    ADD CONSTRAINT alias_events_name_their_alias CHECK (
        (alias IS NOT NULL) = (event_type IN ('ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK')));
DROP TABLE freezes;
ALTER TABLE models DROP COLUMN governed;
DROP TABLE change_requests;
DROP TABLE alias_policies;
