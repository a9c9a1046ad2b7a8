DROP INDEX events_of_model;
DROP INDEX events_in_feed_order;
ALTER TABLE events DROP COLUMN tx;
