DROP TABLE webhook_retries;
ALTER TABLE webhooks DROP COLUMN ordered;
