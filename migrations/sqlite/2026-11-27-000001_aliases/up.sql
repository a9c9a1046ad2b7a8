-- Named aliases (production, staging, canary ...) replace the production flag,
-- and models gain a description and tags. Existing production history becomes
-- the history of the alias `production`, with the same as_of and rollback
-- answers as before. SQLite changes constraints by rebuilding tables (the
-- documented twelve-step procedure), hence foreign keys off around one
-- explicit transaction.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

ALTER TABLE models ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE models ADD COLUMN tags TEXT NOT NULL DEFAULT '{}'; -- JSON object of strings

DROP VIEW model_registry;
DROP VIEW audit_trail;

-- Replays each model's production history as the previous release did (a
-- promotion pushes, a rollback pops and pushes its version unless it is on
-- top already) and keeps, for each event, the entry below the top of the
-- stack afterwards: where the next rollback goes. The stack is a string of
-- 20-digit event ids.
CREATE TEMP TABLE production_replay AS
WITH RECURSIVE history AS (
    SELECT id, model_id, event_type, new_production_version AS new_version,
           row_number() OVER (PARTITION BY model_id ORDER BY id) AS n
    FROM events
    WHERE event_type IN ('PRODUCTION_SET', 'PRODUCTION_ROLLED_BACK')
), replay (model_id, n, id, stack) AS (
    SELECT model_id, n, id, printf('%020d', id)
    FROM history WHERE n = 1
    UNION ALL
    SELECT h.model_id, h.n, h.id,
           CASE
               WHEN h.event_type = 'PRODUCTION_SET' THEN r.stack || printf('%020d', h.id)
               WHEN length(r.stack) >= 40
                    AND (SELECT e.new_production_version FROM events e
                         WHERE e.id = CAST(substr(r.stack, length(r.stack) - 39, 20) AS INTEGER))
                        = h.new_version
                   THEN substr(r.stack, 1, length(r.stack) - 20)
               ELSE substr(r.stack, 1, length(r.stack) - 20) || printf('%020d', h.id)
           END
    FROM replay r
    JOIN history h ON h.model_id = r.model_id AND h.n = r.n + 1
)
SELECT id,
       CASE WHEN length(stack) >= 40
            THEN CAST(substr(stack, length(stack) - 39, 20) AS INTEGER) END AS rollback_event_id
FROM replay;

-- One event shape for every alias: production moves are alias events.
CREATE TABLE events_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at       TEXT    NOT NULL,
    event_type        TEXT    NOT NULL CHECK (event_type IN (
                          'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
                          'STATUS_CHANGED', 'ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK')),
    model_id          BIGINT  NOT NULL REFERENCES models (id),
    version           BIGINT  NULL,
    alias             TEXT    NULL,
    previous_version  BIGINT  NULL,
    new_version       BIGINT  NULL,
    previous_status   TEXT    NULL CHECK (previous_status IN ('ACTIVE', 'DEPRECATED', 'ARCHIVED')),
    new_status        TEXT    NULL CHECK (new_status IN ('ACTIVE', 'DEPRECATED', 'ARCHIVED')),
    actor             TEXT    NOT NULL,
    reason            TEXT    NOT NULL DEFAULT '',
    request_id        TEXT    NOT NULL DEFAULT '',
    -- For an alias event: the alias event whose version a rollback issued
    -- right after this one returns to (NULL: nothing to roll back to). Each
    -- alias's rollback history is a chain through this column, so a rollback
    -- reads two rows however long the history is.
    rollback_event_id BIGINT  NULL REFERENCES events (id),
    CONSTRAINT alias_events_name_their_alias CHECK (
        (alias IS NOT NULL) = (event_type IN ('ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK')))
);
INSERT INTO events_new (id, occurred_at, event_type, model_id, version, alias, previous_version,
                        new_version, previous_status, new_status, actor, reason, request_id,
                        rollback_event_id)
SELECT e.id, e.occurred_at,
       CASE e.event_type
           WHEN 'PRODUCTION_SET' THEN 'ALIAS_SET'
           WHEN 'PRODUCTION_ROLLED_BACK' THEN 'ALIAS_ROLLED_BACK'
           ELSE e.event_type
       END,
       e.model_id, e.version,
       CASE WHEN e.event_type IN ('PRODUCTION_SET', 'PRODUCTION_ROLLED_BACK') THEN 'production' END,
       e.previous_production_version, e.new_production_version, e.previous_status, e.new_status,
       e.actor, e.reason, e.request_id, r.rollback_event_id
FROM events e
LEFT JOIN production_replay r ON r.id = e.id
ORDER BY e.id;
DROP TABLE production_replay;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_by_model_and_time ON events (model_id, occurred_at, id);
CREATE INDEX events_by_time ON events (occurred_at, id);
-- The latest event of one alias (rollback, compare-and-set) and its state at
-- a time (as_of): one index range each, however long the trail.
CREATE INDEX events_by_alias ON events (model_id, alias, id) WHERE alias IS NOT NULL;
CREATE INDEX events_by_alias_and_time ON events (model_id, alias, occurred_at, id) WHERE alias IS NOT NULL;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed');
END;

-- The aliases of each model: one row per (model, alias), pointing at a
-- version of the same model (composite foreign key).
CREATE TABLE aliases (
    model_id INTEGER NOT NULL REFERENCES models (id),
    alias    TEXT    NOT NULL CHECK (alias <> 'latest' AND length(alias) BETWEEN 1 AND 63
                                     AND alias GLOB '[a-z]*' AND alias NOT GLOB '*[^a-z0-9_-]*'),
    version  BIGINT  NOT NULL,
    -- The event that last moved the alias (who, when, why).
    event_id BIGINT  NOT NULL REFERENCES events (id),
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);
CREATE INDEX aliases_by_version ON aliases (model_id, version);
INSERT INTO aliases (model_id, alias, version, event_id)
SELECT v.model_id, 'production', v.version,
       (SELECT max(e.id) FROM events e WHERE e.model_id = v.model_id AND e.alias = 'production')
FROM model_versions v
WHERE v.is_production;

-- model_versions without the production flag.
CREATE TABLE model_versions_new (
    id                        TEXT      PRIMARY KEY, -- UUIDv7
    model_id                  BIGINT    NOT NULL REFERENCES models (id),
    version                   BIGINT    NOT NULL CHECK (version >= 1),
    algorithm                 TEXT      NOT NULL,
    status                    TEXT      NOT NULL CHECK (status IN ('ACTIVE', 'DEPRECATED', 'ARCHIVED')),
    artifact_uri              TEXT      NOT NULL,
    artifact_metadata_uri     TEXT      NOT NULL DEFAULT '',
    artifact_sha256           TEXT      NOT NULL DEFAULT '',
    artifact_size_bytes       BIGINT    NOT NULL DEFAULT 0 CHECK (artifact_size_bytes >= 0),
    metrics                   TEXT      NOT NULL DEFAULT '{}', -- JSON object, as registered
    params                    TEXT      NOT NULL DEFAULT '{}', -- JSON object of strings
    tags                      TEXT      NOT NULL DEFAULT '{}', -- JSON object of strings
    metadata                  TEXT      NOT NULL DEFAULT '{}', -- JSON object
    description               TEXT      NOT NULL DEFAULT '',
    training_started_at       TEXT      NULL,
    training_finished_at      TEXT      NULL,
    training_duration_seconds REAL      NOT NULL DEFAULT 0,
    train_samples             BIGINT    NOT NULL DEFAULT 0,
    test_samples              BIGINT    NOT NULL DEFAULT 0,
    feature_count             BIGINT    NOT NULL DEFAULT 0,
    feature_names             TEXT      NOT NULL DEFAULT '[]', -- JSON array of strings
    dataset_uri               TEXT      NOT NULL DEFAULT '',
    code_version              TEXT      NOT NULL DEFAULT '',
    request_id                TEXT      NULL UNIQUE, -- RegisterModel idempotency key
    created_by                TEXT      NOT NULL,
    created_at                TEXT      NOT NULL,
    updated_at                TEXT      NOT NULL,
    UNIQUE (model_id, version)
);
INSERT INTO model_versions_new
SELECT id, model_id, version, algorithm, status, artifact_uri, artifact_metadata_uri,
       artifact_sha256, artifact_size_bytes, metrics, params, tags, metadata, description,
       training_started_at, training_finished_at, training_duration_seconds, train_samples,
       test_samples, feature_count, feature_names, dataset_uri, code_version, request_id,
       created_by, created_at, updated_at
FROM model_versions;
DROP TABLE model_versions;
ALTER TABLE model_versions_new RENAME TO model_versions;
CREATE INDEX model_versions_training_finished ON model_versions (training_finished_at, id);
-- The highest ACTIVE version (the alias `latest`) is one index lookup.
CREATE INDEX model_versions_by_status ON model_versions (model_id, status, version);

-- Only ACTIVE versions hold aliases, and a version holding one stays ACTIVE:
-- held by the database, whatever the code does.
CREATE TRIGGER aliases_point_at_existing_versions_on_insert BEFORE INSERT ON aliases
WHEN NOT EXISTS (SELECT 1 FROM model_versions
                 WHERE model_id = NEW.model_id AND version = NEW.version)
BEGIN
    SELECT RAISE(ABORT, 'an alias cannot point at a version its model does not have');
END;
CREATE TRIGGER aliases_point_at_active_versions_on_insert BEFORE INSERT ON aliases
WHEN (SELECT status FROM model_versions
      WHERE model_id = NEW.model_id AND version = NEW.version) <> 'ACTIVE'
BEGIN
    SELECT RAISE(ABORT, 'only ACTIVE versions hold aliases');
END;
CREATE TRIGGER aliases_point_at_existing_versions_on_update BEFORE UPDATE ON aliases
WHEN NOT EXISTS (SELECT 1 FROM model_versions
                 WHERE model_id = NEW.model_id AND version = NEW.version)
BEGIN
    SELECT RAISE(ABORT, 'an alias cannot point at a version its model does not have');
END;
CREATE TRIGGER aliases_point_at_active_versions_on_update BEFORE UPDATE ON aliases
WHEN (SELECT status FROM model_versions
      WHERE model_id = NEW.model_id AND version = NEW.version) <> 'ACTIVE'
BEGIN
    SELECT RAISE(ABORT, 'only ACTIVE versions hold aliases');
END;
CREATE TRIGGER versions_holding_aliases_stay_active BEFORE UPDATE OF status ON model_versions
WHEN NEW.status <> 'ACTIVE'
     AND EXISTS (SELECT 1 FROM aliases WHERE model_id = NEW.model_id AND version = NEW.version)
BEGIN
    SELECT RAISE(ABORT, 'a version holding an alias must stay ACTIVE');
END;

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

COMMIT;
PRAGMA foreign_keys = ON;
