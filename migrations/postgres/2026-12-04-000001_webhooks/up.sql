-- Webhooks: subscriptions that POST the trail's events to receivers, and
-- the log of their delivery attempts. The trail itself is the outbox: a
-- subscription's cursor (its feed position, `cursor_tx`, `cursor_id`)
-- moves past an event only after the receiver took it (or the filters
-- passed it over), in the same statement that checks the lease.
CREATE TABLE webhooks (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url               TEXT      NOT NULL,
    description       TEXT      NOT NULL DEFAULT '',
    model_prefix      TEXT      NOT NULL DEFAULT '',
    aliases           TEXT      NOT NULL, -- JSON array of alias names
    event_types       TEXT      NOT NULL, -- JSON array of EventType names
    -- The signing secret: needed in clear to sign; never returned after creation.
    secret            TEXT      NOT NULL,
    -- A rotated-out secret keeps signing until then.
    previous_secret       TEXT      NULL,
    previous_secret_until TIMESTAMP NULL,
    -- Bumped by every change of what the worker delivers (update, replay,
    -- resume): a worker of an older generation stops.
    generation        BIGINT    NOT NULL DEFAULT 0,
    state             TEXT      NOT NULL CHECK (state IN ('ACTIVE', 'FAILING')),
    failure           TEXT      NOT NULL DEFAULT '',
    -- The event being retried (or failed on), since when, and how often.
    retrying_event_id BIGINT    NULL,
    retrying_since    TIMESTAMP NULL,
    attempts          BIGINT    NOT NULL DEFAULT 0,
    cursor_tx         BIGINT    NOT NULL,
    cursor_id         BIGINT    NOT NULL,
    last_delivered_at TIMESTAMP NULL,
    -- One replica delivers a subscription at a time: the one whose lease
    -- has not run out (a replica that dies loses it when it runs out).
    lease_holder      TEXT      NULL,
    lease_until       TIMESTAMP NULL,
    created_at        TIMESTAMP NOT NULL,
    created_by        TEXT      NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       BIGINT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         BIGINT    NOT NULL,
    attempt          BIGINT    NOT NULL,
    attempted_at     TIMESTAMP NOT NULL,
    http_status      BIGINT    NULL,
    latency_ms       BIGINT    NOT NULL,
    response_excerpt TEXT      NOT NULL,
    error            TEXT      NOT NULL,
    delivered        BOOLEAN   NOT NULL
);
CREATE INDEX webhook_deliveries_latest ON webhook_deliveries (webhook_id, id);

-- A subscription's changes are events of no model: they name the
-- subscription (no foreign key: the trail outlives a deleted subscription).
ALTER TABLE events ADD COLUMN webhook_id BIGINT NULL;
ALTER TABLE events DROP CONSTRAINT events_event_type_check;
ALTER TABLE events DROP CONSTRAINT alias_events_name_their_alias;
ALTER TABLE events DROP CONSTRAINT events_name_a_model_or_a_prefix;
ALTER TABLE events
    ADD CONSTRAINT events_event_type_check CHECK (event_type IN (
        'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
        'STATUS_CHANGED', 'ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK',
        'ALIAS_POLICY_SET', 'ALIAS_POLICY_DELETED', 'CHANGE_REQUESTED', 'CHANGE_APPROVED',
        'CHANGE_REJECTED', 'CHANGE_CANCELLED', 'CHANGE_FAILED', 'ALIAS_FROZEN', 'ALIAS_UNFROZEN',
        'VERSION_FROZEN', 'VERSION_UNFROZEN', 'WEBHOOK_CREATED', 'WEBHOOK_DELETED',
        'WEBHOOK_RESUMED', 'WEBHOOK_UPDATED', 'WEBHOOK_SECRET_ROTATED', 'WEBHOOK_REPLAYED')),
    -- Every event about an alias names it; only moves name a new version.
    ADD CONSTRAINT alias_events_name_their_alias CHECK (
        (alias IS NOT NULL) = (event_type NOT IN (
            'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
            'STATUS_CHANGED', 'VERSION_FROZEN', 'VERSION_UNFROZEN', 'WEBHOOK_CREATED',
            'WEBHOOK_DELETED', 'WEBHOOK_RESUMED', 'WEBHOOK_UPDATED', 'WEBHOOK_SECRET_ROTATED',
            'WEBHOOK_REPLAYED'))),
    -- Exactly one subject: a model, a prefix (its policies) or a webhook.
    ADD CONSTRAINT events_name_one_subject CHECK (
        num_nonnulls(model_id, model_prefix, webhook_id) = 1
        AND (model_prefix IS NULL OR event_type IN ('ALIAS_POLICY_SET', 'ALIAS_POLICY_DELETED'))
        AND ((webhook_id IS NOT NULL)
             = (event_type IN ('WEBHOOK_CREATED', 'WEBHOOK_DELETED', 'WEBHOOK_RESUMED', 'WEBHOOK_UPDATED',
             'WEBHOOK_SECRET_ROTATED', 'WEBHOOK_REPLAYED'))));

CREATE OR REPLACE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id, e.correlation_id,
       e.emergency, e.change_request_id, e.detail, e.model_prefix, e.webhook_id
FROM events e
LEFT JOIN models m ON m.id = e.model_id;
