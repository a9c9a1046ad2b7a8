DROP TRIGGER events_announced ON events;
DROP FUNCTION model_registry_announce_events();
