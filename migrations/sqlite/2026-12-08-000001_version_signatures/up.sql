-- A version's verified model signature (see the PostgreSQL migration),
-- and the event that records attaching one. SQLite changes a CHECK only by
-- rebuilding the table, hence foreign keys off around one explicit
-- transaction, as in the webhooks migration.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

ALTER TABLE model_versions ADD COLUMN signature TEXT NULL;
CREATE TABLE version_signatures (
    version_id TEXT PRIMARY KEY REFERENCES model_versions (id),
    -- JSON: [{"name": ..., "sha256": ...}], sorted by name.
    files      TEXT NOT NULL,
    -- The model-signing bundle as attached (Sigstore bundle JSON).
    bundle     TEXT NOT NULL
);

DROP VIEW model_aliases;
DROP VIEW audit_trail;

CREATE TABLE events_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at       TEXT    NOT NULL,
    event_type        TEXT    NOT NULL CHECK (event_type IN (
                          'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
                          'STATUS_CHANGED', 'ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK',
                          'ALIAS_POLICY_SET', 'ALIAS_POLICY_DELETED', 'CHANGE_REQUESTED',
                          'CHANGE_APPROVED', 'CHANGE_REJECTED', 'CHANGE_CANCELLED', 'CHANGE_FAILED',
                          'ALIAS_FROZEN', 'ALIAS_UNFROZEN', 'VERSION_FROZEN', 'VERSION_UNFROZEN',
                          'WEBHOOK_CREATED', 'WEBHOOK_DELETED', 'WEBHOOK_RESUMED', 'WEBHOOK_UPDATED',
                          'WEBHOOK_SECRET_ROTATED', 'WEBHOOK_REPLAYED', 'SIGNATURE_ATTACHED')),
    model_id          BIGINT  NULL REFERENCES models (id),
    -- A prefix policy's events name the prefix instead of a model.
    model_prefix      TEXT    NULL,
    version           BIGINT  NULL,
    alias             TEXT    NULL,
    previous_version  BIGINT  NULL,
    new_version       BIGINT  NULL,
    previous_status   TEXT    NULL CHECK (previous_status IN ('ACTIVE', 'DEPRECATED', 'ARCHIVED')),
    new_status        TEXT    NULL CHECK (new_status IN ('ACTIVE', 'DEPRECATED', 'ARCHIVED')),
    actor             TEXT    NOT NULL,
    reason            TEXT    NOT NULL DEFAULT '',
    request_id        TEXT    NOT NULL DEFAULT '',
    rollback_event_id BIGINT  NULL REFERENCES events (id),
    correlation_id    TEXT    NULL,
    tx                BIGINT  NOT NULL DEFAULT 0,
    -- A move an admin made past a protected alias's policy (break-glass).
    emergency         BOOLEAN NOT NULL DEFAULT FALSE,
    -- The change request an event is about (its steps, and the move it applied).
    change_request_id BIGINT  NULL REFERENCES change_requests (id),
    -- For ALIAS_POLICY_SET: the policy set, as JSON ({"revision": N, "rules": {...}}).
    detail            TEXT    NULL,
    -- A webhook subscription's events name it instead of a model.
    webhook_id        BIGINT  NULL,
    -- Where the actor came from when an identity provider named it.
    actor_source      TEXT    NULL,
    -- Every event about an alias names it; only moves name a new version.
    CONSTRAINT alias_events_name_their_alias CHECK (
        (alias IS NOT NULL) = (event_type NOT IN (
            'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
            'STATUS_CHANGED', 'VERSION_FROZEN', 'VERSION_UNFROZEN', 'WEBHOOK_CREATED',
            'WEBHOOK_DELETED', 'WEBHOOK_RESUMED', 'WEBHOOK_UPDATED', 'WEBHOOK_SECRET_ROTATED',
            'WEBHOOK_REPLAYED', 'SIGNATURE_ATTACHED'))),
    -- Exactly one subject: a model, a prefix (its policies) or a webhook.
    CONSTRAINT events_name_one_subject CHECK (
        (model_id IS NOT NULL) + (model_prefix IS NOT NULL) + (webhook_id IS NOT NULL) = 1
        AND (model_prefix IS NULL OR event_type IN ('ALIAS_POLICY_SET', 'ALIAS_POLICY_DELETED'))
        AND ((webhook_id IS NOT NULL)
             = (event_type IN ('WEBHOOK_CREATED', 'WEBHOOK_DELETED', 'WEBHOOK_RESUMED', 'WEBHOOK_UPDATED',
             'WEBHOOK_SECRET_ROTATED', 'WEBHOOK_REPLAYED'))))
);
INSERT INTO events_new (id, occurred_at, event_type, model_id, version, alias, previous_version,
                        new_version, previous_status, new_status, actor, reason, request_id,
                        rollback_event_id, correlation_id, tx, emergency, change_request_id,
                        detail, model_prefix, webhook_id, actor_source)
SELECT id, occurred_at, event_type, model_id, version, alias, previous_version, new_version,
       previous_status, new_status, actor, reason, request_id, rollback_event_id,
       correlation_id, tx, emergency, change_request_id, detail, model_prefix, webhook_id,
       actor_source
FROM events
ORDER BY id;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_by_model_and_time ON events (model_id, occurred_at, id);
CREATE INDEX events_by_time ON events (occurred_at, id);
CREATE INDEX events_by_alias ON events (model_id, alias, id) WHERE alias IS NOT NULL;
CREATE INDEX events_by_alias_and_time ON events (model_id, alias, occurred_at, id) WHERE alias IS NOT NULL;
CREATE INDEX events_in_feed_order ON events (tx, id);
CREATE INDEX events_of_model ON events (model_id, id);
CREATE INDEX events_of_change_request ON events (change_request_id) WHERE change_request_id IS NOT NULL;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed');
END;

CREATE VIEW model_aliases AS
SELECT m.name AS model_name, a.alias, a.version,
       e.occurred_at AS moved_at, e.actor AS moved_by, e.reason
FROM aliases a
JOIN models m ON m.id = a.model_id
JOIN events e ON e.id = a.event_id;

CREATE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id, e.correlation_id,
       e.emergency, e.change_request_id, e.detail, e.model_prefix, e.webhook_id
FROM events e
LEFT JOIN models m ON m.id = e.model_id;

COMMIT;
PRAGMA foreign_keys = ON;
