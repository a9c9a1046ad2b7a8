-- Model Registry schema (SQLite). All times are UTC text
-- (YYYY-MM-DD HH:MM:SS[.ffffff]), microsecond precision.
-- Readable with plain SQL: see the views `model_registry` and `audit_trail`.

-- One row per registered model (a task such as `churn`).
CREATE TABLE models (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT      NOT NULL UNIQUE,
    -- The number the next registered version gets; bumped under the row lock
    -- so version numbers are gap-free even under concurrent registrations.
    next_version BIGINT    NOT NULL DEFAULT 1 CHECK (next_version >= 1),
    created_at   TEXT      NOT NULL,
    updated_at   TEXT      NOT NULL
);

-- One row per registered model version.
CREATE TABLE model_versions (
    id                        TEXT      PRIMARY KEY, -- UUIDv7
    model_id                  BIGINT    NOT NULL REFERENCES models (id),
    version                   BIGINT    NOT NULL CHECK (version >= 1),
    algorithm                 TEXT      NOT NULL,
    status                    TEXT      NOT NULL CHECK (status IN ('ACTIVE', 'DEPRECATED', 'ARCHIVED')),
    is_production             BOOLEAN   NOT NULL DEFAULT 0,
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
    training_duration_seconds REAL NOT NULL DEFAULT 0,
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
    UNIQUE (model_id, version),
    CONSTRAINT only_active_versions_are_production CHECK (NOT is_production OR status = 'ACTIVE')
);
-- At most one production version per model, held by the database itself.
CREATE UNIQUE INDEX model_versions_one_production_per_model ON model_versions (model_id) WHERE is_production;
CREATE INDEX model_versions_training_finished ON model_versions (training_finished_at, id);

-- One row per metric of a version, for filtering and ordering by any metric.
-- model_id is repeated here so "the versions of a model by a metric" is one
-- index range (best version, listings ordered by a metric).
CREATE TABLE version_metrics (
    version_id TEXT    NOT NULL REFERENCES model_versions (id),
    model_id   INTEGER NOT NULL REFERENCES models (id),
    name       TEXT    NOT NULL,
    value      REAL    NOT NULL,
    PRIMARY KEY (version_id, name)
);
CREATE INDEX version_metrics_by_model ON version_metrics (model_id, name, value);
CREATE INDEX version_metrics_by_value ON version_metrics (name, value);

-- One row per tag of a version, kept in step with model_versions.tags.
CREATE TABLE version_tags (
    version_id TEXT NOT NULL REFERENCES model_versions (id),
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (version_id, key)
);
CREATE INDEX version_tags_by_value ON version_tags (key, value);

-- The append-only audit trail: written in the same transaction as the change
-- it records, never updated or deleted (the triggers below refuse it).
CREATE TABLE events (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at                 TEXT      NOT NULL,
    event_type                  TEXT      NOT NULL CHECK (event_type IN ('MODEL_CREATED', 'VERSION_REGISTERED',
                                    'PRODUCTION_SET', 'PRODUCTION_ROLLED_BACK', 'STATUS_CHANGED', 'VERSION_UPDATED')),
    model_id                    BIGINT    NOT NULL REFERENCES models (id),
    version                     BIGINT    NULL,
    previous_production_version BIGINT    NULL,
    new_production_version      BIGINT    NULL,
    previous_status             TEXT      NULL CHECK (previous_status IN ('ACTIVE', 'DEPRECATED', 'ARCHIVED')),
    new_status                  TEXT      NULL CHECK (new_status IN ('ACTIVE', 'DEPRECATED', 'ARCHIVED')),
    actor                       TEXT      NOT NULL,
    reason                      TEXT      NOT NULL DEFAULT '',
    request_id                  TEXT      NOT NULL DEFAULT ''
);
CREATE INDEX events_by_model_and_time ON events (model_id, occurred_at, id);
CREATE INDEX events_by_time ON events (occurred_at, id);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed');
END;

-- The old MODEL_REGISTRY table's shape, one row per version, for SQL habits
-- that predate the service. The old MODEL_NAME (XGBoost, CatBoost) is
-- `algorithm`; `model_name` is the registered model (the task).
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
       v.is_production              AS is_production,
       v.created_by                 AS created_by,
       v.created_at                 AS created_at
FROM model_versions v
JOIN models m ON m.id = v.model_id;

-- The event trail with model names, for auditors.
CREATE VIEW audit_trail AS
SELECT e.id, e.occurred_at, e.event_type, m.name AS model_name, e.version,
       e.previous_production_version, e.new_production_version,
       e.previous_status, e.new_status, e.actor, e.reason, e.request_id
FROM events e
JOIN models m ON m.id = e.model_id;
