-- Idempotency of every change: one row per (principal, request_id), written
-- in the change's own transaction, holding a fingerprint of the request
-- (field -> SHA-256) and a reference to its outcome.
CREATE TABLE request_keys (
    principal   TEXT      NOT NULL,
    request_id  TEXT      NOT NULL,
    method      TEXT      NOT NULL,
    fingerprint TEXT      NOT NULL, -- JSON object: request field -> SHA-256 of its value
    outcome     TEXT      NOT NULL, -- JSON: what the first call returned (by reference)
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, request_id)
);

-- The caller's own x-request-id, kept as a correlation id (never trusted).
ALTER TABLE events ADD COLUMN correlation_id TEXT NULL;

CREATE OR REPLACE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id, e.correlation_id
FROM events e
JOIN models m ON m.id = e.model_id;

COMMENT ON COLUMN model_versions.request_id IS
    'idempotency key of registrations made before request_keys existed; new ones are in request_keys';
