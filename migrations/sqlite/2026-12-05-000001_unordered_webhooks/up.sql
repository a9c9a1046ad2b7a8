-- Unordered webhooks (see the PostgreSQL migration). A subscription
-- delivered in order (the default) waits on a failing
-- event; one that is not sets the event aside here, retries it on its own
-- backoff and goes on with the events after it.
ALTER TABLE webhooks ADD COLUMN ordered BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE webhook_retries (
    webhook_id BIGINT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id   BIGINT    NOT NULL,
    -- Failed attempts so far, since when, and the latest failure.
    attempts   BIGINT    NOT NULL,
    since      TEXT      NOT NULL,
    failure    TEXT      NOT NULL,
    -- When the next attempt is due.
    next_at    TEXT      NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
);
