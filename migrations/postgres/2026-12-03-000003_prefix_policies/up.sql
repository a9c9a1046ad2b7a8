-- Alias policies inherited by model-name prefix: a policy set on a prefix
-- governs the alias of every model whose name starts with it (existing or
-- created later) that has no policy of its own for that alias; the longest
-- matching prefix wins.
CREATE TABLE prefix_alias_policies (
    prefix     TEXT      NOT NULL,
    alias      TEXT      NOT NULL,
    revision   BIGINT    NOT NULL CHECK (revision >= 1),
    rules      TEXT      NOT NULL,
    updated_by TEXT      NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (alias, prefix)
);

-- A prefix policy's changes are events of no single model: they name the
-- prefix instead.
ALTER TABLE events ALTER COLUMN model_id DROP NOT NULL;
ALTER TABLE events ADD COLUMN model_prefix TEXT NULL;
ALTER TABLE events ADD CONSTRAINT events_name_a_model_or_a_prefix CHECK (
    (model_id IS NULL) = (model_prefix IS NOT NULL)
    AND (model_prefix IS NULL OR event_type IN ('ALIAS_POLICY_SET', 'ALIAS_POLICY_DELETED')));

CREATE OR REPLACE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id, e.correlation_id,
       e.emergency, e.change_request_id, e.detail, e.model_prefix
FROM events e
LEFT JOIN models m ON m.id = e.model_id;
