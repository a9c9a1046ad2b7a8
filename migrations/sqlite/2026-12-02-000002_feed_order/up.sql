-- The change feed's order (see the PostgreSQL migration). One writer at a
-- time commits SQLite's events in id order: every event has tx 0, so the
-- feed's order is the id order.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
CREATE INDEX events_in_feed_order ON events (tx, id);
-- One model's events in its order (a watch of one model reads these).
CREATE INDEX events_of_model ON events (model_id, id);
