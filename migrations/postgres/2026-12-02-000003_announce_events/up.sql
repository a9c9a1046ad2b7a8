-- Every statement that appends events announces them to the replicas'
-- listeners (PostgreSQL delivers the notification at commit, and only if
-- the transaction commits). A change no longer spends a round trip, inside
-- its model's queue, on announcing itself; and events written by any other
-- means wake the feeds too.
CREATE FUNCTION model_registry_announce_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('model_registry_events', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER events_announced AFTER INSERT ON events
  FOR EACH STATEMENT EXECUTE FUNCTION model_registry_announce_events();
