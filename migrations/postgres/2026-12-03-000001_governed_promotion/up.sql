-- Governed promotion: per-alias policies (protection, approvals, evidence),
-- change requests that move a protected alias once approved, and
-- break-glass moves by an admin, flagged in the trail.

-- The model has (or had) a policy or a freeze: only then does an alias move
-- read them (never unset, which costs a model that drops its last policy
-- two cheap reads per move).
ALTER TABLE models ADD COLUMN governed BOOLEAN NOT NULL DEFAULT FALSE;

-- One policy per (model, alias). `rules` is a JSON object (the fields of
-- AliasPolicy in registry.proto); `revision` counts the policy's versions,
-- each recorded in the trail as an ALIAS_POLICY_SET event.
CREATE TABLE alias_policies (
    model_id   BIGINT    NOT NULL REFERENCES models (id),
    alias      TEXT      NOT NULL,
    revision   BIGINT    NOT NULL CHECK (revision >= 1),
    rules      TEXT      NOT NULL,
    updated_by TEXT      NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (model_id, alias)
);

-- A request to point an alias at a version, made against the alias's state
-- then (`from_event_id`: the event that had put it there, NULL when the
-- alias did not exist): the move applies only if that is still the state.
-- A PENDING request past `expires_at` reads as EXPIRED.
CREATE TABLE change_requests (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id           BIGINT    NOT NULL REFERENCES models (id),
    alias              TEXT      NOT NULL,
    version            BIGINT    NOT NULL,
    from_version       BIGINT    NULL,
    from_event_id      BIGINT    NULL REFERENCES events (id),
    required_approvals BIGINT    NOT NULL CHECK (required_approvals >= 1),
    reason             TEXT      NOT NULL,
    requester          TEXT      NOT NULL,
    state              TEXT      NOT NULL CHECK (state IN ('PENDING', 'APPLIED', 'REJECTED', 'CANCELLED', 'FAILED')),
    -- JSON array of {principal, comment, at}, in the order given.
    approvals          TEXT      NOT NULL DEFAULT '[]',
    created_at         TIMESTAMP NOT NULL,
    expires_at         TIMESTAMP NOT NULL,
    decided_at         TIMESTAMP NULL,
    decided_by         TEXT      NULL,
    -- The rejection's or cancellation's comment, or why the request failed.
    decision_note      TEXT      NOT NULL DEFAULT '',
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
    frozen_at  TIMESTAMP      NOT NULL,
    expires_at TIMESTAMP      NULL,
    PRIMARY KEY (model_id, alias, version),
    CONSTRAINT a_freeze_names_an_alias_or_a_version CHECK ((alias = '') <> (version = 0))
);

ALTER TABLE events DROP CONSTRAINT events_event_type_check;
ALTER TABLE events DROP CONSTRAINT alias_events_name_their_alias;
ALTER TABLE events
    ADD CONSTRAINT events_event_type_check CHECK (event_type IN (
        'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
        'STATUS_CHANGED', 'ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK',
        'ALIAS_POLICY_SET', 'ALIAS_POLICY_DELETED', 'CHANGE_REQUESTED', 'CHANGE_APPROVED',
        'CHANGE_REJECTED', 'CHANGE_CANCELLED', 'CHANGE_FAILED', 'ALIAS_FROZEN', 'ALIAS_UNFROZEN',
        'VERSION_FROZEN', 'VERSION_UNFROZEN')),
    -- Every event about an alias names it; only moves name a new version.
    ADD CONSTRAINT alias_events_name_their_alias CHECK (
        (alias IS NOT NULL) = (event_type NOT IN (
            'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
            'STATUS_CHANGED', 'VERSION_FROZEN', 'VERSION_UNFROZEN')));
-- A move an admin made past a protected alias's policy (break-glass).
ALTER TABLE events ADD COLUMN emergency BOOLEAN NOT NULL DEFAULT FALSE;
-- The change request an event is about (its steps, and the move it applied).
ALTER TABLE events ADD COLUMN change_request_id BIGINT NULL REFERENCES change_requests (id);
-- For ALIAS_POLICY_SET: the policy set, as JSON ({"revision": N, "rules": {...}}).
ALTER TABLE events ADD COLUMN detail TEXT NULL;
CREATE INDEX events_of_change_request ON events (change_request_id) WHERE change_request_id IS NOT NULL;

CREATE OR REPLACE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id, e.correlation_id,
       e.emergency, e.change_request_id, e.detail
FROM events e
JOIN models m ON m.id = e.model_id;
