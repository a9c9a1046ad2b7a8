-- Named aliases (production, staging, canary ...) replace the production flag,
-- and models gain a description and tags. Existing production history becomes
-- the history of the alias `production`, with the same as_of and rollback
-- answers as before.

ALTER TABLE models
    ADD COLUMN description TEXT NOT NULL DEFAULT '',
    ADD COLUMN tags        TEXT NOT NULL DEFAULT '{}'; -- JSON object of strings

DROP VIEW model_registry;
DROP VIEW audit_trail;

-- One event shape for every alias: production moves are alias events.
ALTER TABLE events RENAME COLUMN previous_production_version TO previous_version;
ALTER TABLE events RENAME COLUMN new_production_version TO new_version;
ALTER TABLE events
    ADD COLUMN alias TEXT NULL,
    -- For an alias event: the alias event whose version a rollback issued
    -- right after this one returns to (NULL: nothing to roll back to). Each
    -- alias's rollback history is a chain through this column, so a rollback
    -- reads two rows however long the history is.
    ADD COLUMN rollback_event_id BIGINT NULL REFERENCES events (id);
ALTER TABLE events DROP CONSTRAINT events_event_type_check;

ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete;
UPDATE events SET event_type = 'ALIAS_SET', alias = 'production' WHERE event_type = 'PRODUCTION_SET';
UPDATE events SET event_type = 'ALIAS_ROLLED_BACK', alias = 'production' WHERE event_type = 'PRODUCTION_ROLLED_BACK';
-- Replays each model's production history as the previous release did (a
-- promotion pushes, a rollback pops and pushes its version unless it is on
-- top already) and records, for each event, the entry below the top of the
-- stack afterwards: where the next rollback goes.
WITH RECURSIVE history AS (
    SELECT id, model_id, event_type, new_version,
           row_number() OVER (PARTITION BY model_id ORDER BY id) AS n
    FROM events
    WHERE alias = 'production'
), replay (model_id, n, id, stack) AS (
    SELECT model_id, n, id, ARRAY[id]
    FROM history WHERE n = 1
    UNION ALL
    SELECT h.model_id, h.n, h.id,
           CASE
               WHEN h.event_type = 'ALIAS_SET' THEN r.stack || h.id
               WHEN (SELECT e.new_version FROM events e
                     WHERE e.id = r.stack[cardinality(r.stack) - 1]) = h.new_version
                   THEN r.stack[1:cardinality(r.stack) - 1]
               ELSE r.stack[1:cardinality(r.stack) - 1] || h.id
           END
    FROM replay r
    JOIN history h ON h.model_id = r.model_id AND h.n = r.n + 1
)
UPDATE events e
SET rollback_event_id = r.stack[cardinality(r.stack) - 1]
FROM replay r
WHERE e.id = r.id;
ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete;

ALTER TABLE events
    ADD CONSTRAINT events_event_type_check CHECK (event_type IN (
        'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
        'STATUS_CHANGED', 'ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK')),
    ADD CONSTRAINT alias_events_name_their_alias CHECK (
        (alias IS NOT NULL) = (event_type IN ('ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK')));
-- The latest event of one alias (rollback, compare-and-set) and its state at
-- a time (as_of): one index range each, however long the trail.
CREATE INDEX events_by_alias ON events (model_id, alias, id) WHERE alias IS NOT NULL;
CREATE INDEX events_by_alias_and_time ON events (model_id, alias, occurred_at, id) WHERE alias IS NOT NULL;

-- The aliases of each model: one row per (model, alias), pointing at a
-- version of the same model (composite foreign key).
CREATE TABLE aliases (
    model_id BIGINT NOT NULL REFERENCES models (id),
    alias    TEXT   NOT NULL CHECK (alias ~ '^[a-z][a-z0-9_-]{0,62}$' AND alias <> 'latest'),
    version  BIGINT NOT NULL,
    -- The event that last moved the alias (who, when, why).
    event_id BIGINT NOT NULL REFERENCES events (id),
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);
CREATE INDEX aliases_by_version ON aliases (model_id, version);

INSERT INTO aliases (model_id, alias, version, event_id)
SELECT v.model_id, 'production', v.version,
       (SELECT max(e.id) FROM events e WHERE e.model_id = v.model_id AND e.alias = 'production')
FROM model_versions v
WHERE v.is_production;

ALTER TABLE model_versions DROP CONSTRAINT only_active_versions_are_production;
DROP INDEX model_versions_one_production_per_model;
ALTER TABLE model_versions DROP COLUMN is_production;
-- The highest ACTIVE version (the alias `latest`) is one index lookup.
CREATE INDEX model_versions_by_status ON model_versions (model_id, status, version);

-- Only ACTIVE versions hold aliases, and a version holding one stays ACTIVE:
-- held by the database, whatever the code does.
CREATE FUNCTION aliases_point_at_active_versions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held_status TEXT;
BEGIN
    SELECT status INTO held_status FROM model_versions
    WHERE model_id = NEW.model_id AND version = NEW.version;
    IF held_status IS NULL THEN
        RAISE EXCEPTION 'alias % cannot point at version %: the model does not have that version',
            NEW.alias, NEW.version USING ERRCODE = 'foreign_key_violation';
    ELSIF held_status <> 'ACTIVE' THEN
        RAISE EXCEPTION 'alias % cannot point at version %: only ACTIVE versions hold aliases',
            NEW.alias, NEW.version USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER aliases_point_at_active_versions BEFORE INSERT OR UPDATE ON aliases
    FOR EACH ROW EXECUTE FUNCTION aliases_point_at_active_versions();

CREATE FUNCTION versions_holding_aliases_stay_active() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM aliases WHERE model_id = NEW.model_id AND version = NEW.version) THEN
        RAISE EXCEPTION 'version % holds an alias and must stay ACTIVE', NEW.version
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER versions_holding_aliases_stay_active BEFORE UPDATE OF status ON model_versions
    FOR EACH ROW WHEN (NEW.status <> 'ACTIVE')
    EXECUTE FUNCTION versions_holding_aliases_stay_active();

-- The old MODEL_REGISTRY table's shape, one row per version (unchanged
-- columns; is_production now comes from the alias `production`).
CREATE VIEW model_registry AS
SELECT v.id                         AS model_id,
       m.name                       AS model_name,
       v.version                    AS model_version,
       v.algorithm                  AS algorithm,
       v.artifact_uri               AS model_file_path,
       v.artifact_metadata_uri      AS metadata_file_path,
       (SELECT value FROM version_metrics x WHERE x.version_id = v.id AND x.name = 'auc')       AS auc_score,
       (SELECT value FROM version_metrics x WHERE x.version_id = v.id AND x.name = 'accuracy')  AS accuracy_score,
       (SELECT value FROM version_metrics x WHERE x.version_id = v.id AND x.name = 'precision') AS precision_score,
       (SELECT value FROM version_metrics x WHERE x.version_id = v.id AND x.name = 'recall')    AS recall_score,
       (SELECT value FROM version_metrics x WHERE x.version_id = v.id AND x.name = 'f1')        AS f1_score,
       v.training_finished_at       AS training_date,
       v.training_duration_seconds  AS training_duration_seconds,
       v.train_samples              AS training_samples,
       v.test_samples               AS test_samples,
       v.feature_count              AS feature_count,
       v.status                     AS status,
       EXISTS (SELECT 1 FROM aliases a
               WHERE a.model_id = v.model_id AND a.version = v.version AND a.alias = 'production')
                                    AS is_production,
       v.created_by                 AS created_by,
       v.created_at                 AS created_at
FROM model_versions v
JOIN models m ON m.id = v.model_id;

-- Every alias with its version and the move that put it there.
CREATE VIEW model_aliases AS
SELECT m.name AS model_name, a.alias, a.version,
       e.occurred_at AS moved_at, e.actor AS moved_by, e.reason
FROM aliases a
JOIN models m ON m.id = a.model_id
JOIN events e ON e.id = a.event_id;

-- The event trail with model names, for auditors.
CREATE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version, e.alias,
       e.previous_version, e.new_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id
FROM events e
JOIN models m ON m.id = e.model_id;
