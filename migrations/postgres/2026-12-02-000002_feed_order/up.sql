-- The change feed's order: the writing transaction's id, then the event id.
-- Commits overlap, so event ids no longer become visible in order; a
-- reader takes only events of transactions below its snapshot's xmin,
-- which have all finished, in (tx, id) order (server/src/store/sql/events.rs
-- writes the argument down). Events from before have tx 0: they come
-- first, in id order, as they did.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX events_in_feed_order ON events (tx, id);
-- One model's events in its order (a watch of one model reads these).
CREATE INDEX events_of_model ON events (model_id, id);
