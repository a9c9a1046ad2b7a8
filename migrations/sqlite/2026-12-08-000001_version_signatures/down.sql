-- The events table keeps its wider CHECK (a superset: every older event
-- type is still allowed); only the signature's storage goes.
DROP TABLE version_signatures;
ALTER TABLE model_versions DROP COLUMN signature;
