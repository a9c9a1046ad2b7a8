-- Governed promotion (see the PostgreSQL migration): alias policies, change
-- requests, break-glass moves. The trail's event types are a CHECK
-- constraint, which SQLite changes only by rebuilding the table (the
-- documented twelve-step procedure), hence foreign keys off around one
-- explicit transaction.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- The model has (or had) a policy or a freeze: only then does an alias move
-- read them (never unset, which costs a model that drops its last policy
-- two cheap reads per move).
ALTER TABLE models ADD COLUMN governed BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE alias_policies (
    model_id   BIGINT NOT NULL REFERENCES models (id),
    alias      TEXT   NOT NULL,
    revision   BIGINT NOT NULL CHECK (revision >= 1),
    rules      TEXT   NOT NULL, -- JSON object: the fields of AliasPolicy in registry.proto
    updated_by TEXT   NOT NULL,
    updated_at TEXT   NOT NULL,
    PRIMARY KEY (model_id, alias)
);

CREATE TABLE change_requests (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id           BIGINT  NOT NULL REFERENCES models (id),
    alias              TEXT    NOT NULL,
    version            BIGINT  NOT NULL,
    from_version       BIGINT  NULL,
    from_event_id      BIGINT  NULL REFERENCES events (id),
    required_approvals BIGINT  NOT NULL CHECK (required_approvals >= 1),
    reason             TEXT    NOT NULL,
    requester          TEXT    NOT NULL,
    state              TEXT    NOT NULL CHECK (state IN ('PENDING', 'APPLIED', 'REJECTED', 'CANCELLED', 'FAILED')),
    approvals          TEXT    NOT NULL DEFAULT '[]', -- JSON array of {principal, comment, at}
    created_at         TEXT    NOT NULL,
    expires_at         TEXT    NOT NULL,
    decided_at         TEXT    NULL,
    decided_by         TEXT    NULL,
    decision_note      TEXT    NOT NULL DEFAULT '',
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);
CREATE INDEX change_requests_of_alias ON change_requests (model_id, alias, id);
CREATE INDEX change_requests_by_state ON change_requests (state, id);
CREATE INDEX change_requests_by_requester ON change_requests (requester, id);

-- Freezes: an alias that does not move at all (not even break-glass) until
-- unfrozen or `expires_at`, or a version whose status and metadata do not
-- change. One row per frozen thing: an alias (`version` 0) or a version
-- (`alias` '').
CREATE TABLE freezes (
    model_id   BIGINT    NOT NULL REFERENCES models (id),
    alias      TEXT      NOT NULL DEFAULT '',
    version    BIGINT    NOT NULL DEFAULT 0,
    reason     TEXT      NOT NULL,
    frozen_by  TEXT      NOT NULL,
    frozen_at  TEXT      NOT NULL,
    expires_at TEXT      NULL,
    PRIMARY KEY (model_id, alias, version),
    CONSTRAINT a_freeze_names_an_alias_or_a_version CHECK ((alias = '') <> (version = 0))
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
                          'ALIAS_FROZEN', 'ALIAS_UNFROZEN', 'VERSION_FROZEN', 'VERSION_UNFROZEN')),
    model_id          BIGINT  NOT NULL REFERENCES models (id),
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
    -- Every event about an alias names it; only moves name a new version.
    CONSTRAINT alias_events_name_their_alias CHECK (
        (alias IS NOT NULL) = (event_type NOT IN (
            'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
            'STATUS_CHANGED', 'VERSION_FROZEN', 'VERSION_UNFROZEN')))
);
INSERT INTO events_new (id, occurred_at, event_type, model_id, version, alias, previous_version,
                        new_version, previous_status, new_status, actor, reason, request_id,
                        rollback_event_id, correlation_id, tx)
SELECT id, occurred_at, event_type, model_id, version, alias, previous_version, new_version,
       previous_status, new_status, actor, reason, request_id, rollback_event_id,
       correlation_id, tx
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
       e.emergency, e.change_request_id, e.detail
FROM events e
JOIN models m ON m.id = e.model_id;

COMMIT;
PRAGMA foreign_keys = ON;
