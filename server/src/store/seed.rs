//! Synthetic versions for benchmarks, written in bulk: one model gets up to
//! millions of versions (realistic rows: five metrics, params, tags,
//! training facts, metadata) with their metric and tag rows and one
//! VERSION_REGISTERED event each, in set-based statements of 20,000 versions
//! per transaction. Registering a million versions through the API takes an
//! hour here; this takes a minute or two. For benchmark databases only: it
//! bypasses the API (no request keys, no notifications).

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection as _, QueryableByName, SqliteConnection};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use super::pools::{establish_postgres, sqlite_pragmas};
use super::{DatabaseUrl, SetupError};

/// Versions written per transaction.
const BATCH: i64 = 20_000;

#[derive(QueryableByName)]
struct ModelState {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    next_version: i64,
}

/// The statements of one batch, for versions `$2..=$3` of model `$1`.
struct Statements {
    versions: &'static str,
    metrics: &'static str,
    tags: &'static str,
    events: &'static str,
    counter: &'static str,
}

const POSTGRES: Statements = Statements {
    versions: r#"
        INSERT INTO model_versions (id, model_id, version, algorithm, status, artifact_uri,
            artifact_metadata_uri, artifact_sha256, artifact_size_bytes, metrics, params, tags,
            metadata, description, training_started_at, training_finished_at,
            training_duration_seconds, train_samples, test_samples, feature_count, feature_names,
            dataset_uri, code_version, created_by, created_at, updated_at)
        SELECT gen_random_uuid()::text, $1, g, 'XGBoost', 'ACTIVE',
            's3://bench/' || g || '/model.joblib', 's3://bench/' || g || '/metadata.json',
            md5(g::text) || md5((g + 1)::text), 48213776 + g,
            format('{"auc":%s,"f1":%s,"log_loss":%s,"precision":%s,"recall":%s}',
                0.5 + ((g * 7919) % 10000) / 20000.0, 0.4 + ((g * 104729) % 10000) / 30000.0,
                0.6 - ((g * 7919) % 10000) / 40000.0, 0.6 + ((g * 1299709) % 10000) / 40000.0,
                0.55 + ((g * 15485863) % 10000) / 50000.0),
            '{"eta":"0.1","max_depth":"6","n_estimators":"400","seed":"42","subsample":"0.8"}',
            '{"dataset":"customers-2026-11","team":"growth","trigger":"weekly-retrain"}',
            '{"classes":"stay,churn","threshold":0.5}', 'Synthetic benchmark version',
            (now() AT TIME ZONE 'utc') - interval '312 seconds', now() AT TIME ZONE 'utc', 312, 80000, 20000, 20,
            '["f00","f01","f02","f03","f04","f05","f06","f07","f08","f09","f10","f11","f12","f13","f14","f15","f16","f17","f18","f19"]',
            's3://datasets/customers/2026-11-01.parquet', '9f3c2a1e7b5d', 'seed', now() AT TIME ZONE 'utc',
            now() AT TIME ZONE 'utc'
        FROM generate_series($2::bigint, $3::bigint) AS g"#,
    metrics: "
        INSERT INTO version_metrics (version_id, model_id, name, value)
        SELECT v.id, v.model_id, m.key, m.value::double precision
        FROM model_versions v CROSS JOIN LATERAL json_each_text(v.metrics::json) AS m
        WHERE v.model_id = $1 AND v.version BETWEEN $2 AND $3",
    tags: "
        INSERT INTO version_tags (version_id, key, value)
        SELECT v.id, t.key, t.value
        FROM model_versions v CROSS JOIN LATERAL json_each_text(v.tags::json) AS t
        WHERE v.model_id = $1 AND v.version BETWEEN $2 AND $3",
    events: "
        INSERT INTO events (occurred_at, event_type, model_id, version, new_status, actor,
            reason, request_id)
        SELECT v.created_at, 'VERSION_REGISTERED', v.model_id, v.version, 'ACTIVE', 'seed',
            'benchmark data', 'seed'
        FROM model_versions v
        WHERE v.model_id = $1 AND v.version BETWEEN $2 AND $3
        ORDER BY v.version",
    counter: "UPDATE models SET next_version = $3 + 1, updated_at = now() AT TIME ZONE 'utc'
        WHERE id = $1 AND $2 <= $3",
};

const SQLITE: Statements = Statements {
    versions: r#"
        WITH RECURSIVE g(n) AS (SELECT ?2 UNION ALL SELECT n + 1 FROM g WHERE n < ?3)
        INSERT INTO model_versions (id, model_id, version, algorithm, status, artifact_uri,
            artifact_metadata_uri, artifact_sha256, artifact_size_bytes, metrics, params, tags,
            metadata, description, training_started_at, training_finished_at,
            training_duration_seconds, train_samples, test_samples, feature_count, feature_names,
            dataset_uri, code_version, created_by, created_at, updated_at)
        SELECT lower(hex(randomblob(16))), ?1, n, 'XGBoost', 'ACTIVE',
            's3://bench/' || n || '/model.joblib', 's3://bench/' || n || '/metadata.json',
            lower(hex(randomblob(32))), 48213776 + n,
            printf('{"auc":%.6f,"f1":%.6f,"log_loss":%.6f,"precision":%.6f,"recall":%.6f}',
                0.5 + ((n * 7919) % 10000) / 20000.0, 0.4 + ((n * 104729) % 10000) / 30000.0,
                0.6 - ((n * 7919) % 10000) / 40000.0, 0.6 + ((n * 1299709) % 10000) / 40000.0,
                0.55 + ((n * 15485863) % 10000) / 50000.0),
            '{"eta":"0.1","max_depth":"6","n_estimators":"400","seed":"42","subsample":"0.8"}',
            '{"dataset":"customers-2026-11","team":"growth","trigger":"weekly-retrain"}',
            '{"classes":"stay,churn","threshold":0.5}', 'Synthetic benchmark version',
            strftime('%Y-%m-%d %H:%M:%f', 'now', '-312 seconds'), strftime('%Y-%m-%d %H:%M:%f', 'now'),
            312, 80000, 20000, 20,
            '["f00","f01","f02","f03","f04","f05","f06","f07","f08","f09","f10","f11","f12","f13","f14","f15","f16","f17","f18","f19"]',
            's3://datasets/customers/2026-11-01.parquet', '9f3c2a1e7b5d', 'seed',
            strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')
        FROM g"#,
    metrics: "
        INSERT INTO version_metrics (version_id, model_id, name, value)
        SELECT v.id, v.model_id, m.key, m.value
        FROM model_versions v, json_each(v.metrics) AS m
        WHERE v.model_id = ?1 AND v.version BETWEEN ?2 AND ?3",
    tags: "
        INSERT INTO version_tags (version_id, key, value)
        SELECT v.id, t.key, t.value
        FROM model_versions v, json_each(v.tags) AS t
        WHERE v.model_id = ?1 AND v.version BETWEEN ?2 AND ?3",
    events: "
        INSERT INTO events (occurred_at, event_type, model_id, version, new_status, actor,
            reason, request_id)
        SELECT v.created_at, 'VERSION_REGISTERED', v.model_id, v.version, 'ACTIVE', 'seed',
            'benchmark data', 'seed'
        FROM model_versions v
        WHERE v.model_id = ?1 AND v.version BETWEEN ?2 AND ?3
        ORDER BY v.version",
    counter: "UPDATE models SET next_version = ?3 + 1,
            updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
        WHERE id = ?1 AND ?2 <= ?3",
};

const CREATE_MODEL_POSTGRES: &str = "
    INSERT INTO models (name, next_version, created_at, updated_at)
    VALUES ($1, 1, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc')
    ON CONFLICT (name) DO NOTHING";
const CREATE_MODEL_SQLITE: &str = "
    INSERT INTO models (name, next_version, created_at, updated_at)
    VALUES (?1, 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'))
    ON CONFLICT (name) DO NOTHING";
const MODEL_STATE: &str = "SELECT id, next_version FROM models WHERE name = $1";
const MODEL_STATE_SQLITE: &str = "SELECT id, next_version FROM models WHERE name = ?1";

/// Adds versions to `model` until it has `versions`; prints progress to
/// stderr; returns how many it added.
pub async fn seed(url: &DatabaseUrl, model: &str, versions: i64) -> Result<i64, SetupError> {
    let failed = |detail: String| SetupError::Seed {
        model: model.to_owned(),
        detail,
    };
    match url {
        DatabaseUrl::Postgres(raw) => {
            let mut conn = establish_postgres(raw)
                .await
                .map_err(|e| failed(e.to_string()))?;
            seed_postgres(&mut conn, model, versions)
                .await
                .map_err(|e| failed(e.to_string()))
        }
        DatabaseUrl::Sqlite(path) => {
            let (path, model_name) = (path.clone(), model.to_owned());
            tokio::task::spawn_blocking(move || seed_sqlite(&path, &model_name, versions))
                .await
                .map_err(|e| failed(e.to_string()))?
                .map_err(failed)
        }
    }
}

async fn seed_postgres(
    conn: &mut AsyncPgConnection,
    model: &str,
    target: i64,
) -> Result<i64, diesel::result::Error> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query(CREATE_MODEL_POSTGRES)
        .bind::<Text, _>(model)
        .execute(conn)
        .await?;
    let state: ModelState = diesel::sql_query(MODEL_STATE)
        .bind::<Text, _>(model)
        .get_result(conn)
        .await?;
    let mut next = state.next_version;
    while next <= target {
        let last = (next + BATCH - 1).min(target);
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            for statement in [
                POSTGRES.versions,
                POSTGRES.metrics,
                POSTGRES.tags,
                POSTGRES.events,
                POSTGRES.counter,
            ] {
                diesel::sql_query(statement)
                    .bind::<BigInt, _>(state.id)
                    .bind::<BigInt, _>(next)
                    .bind::<BigInt, _>(last)
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
        .await?;
        eprintln!("seeded {model} up to version {last}");
        next = last + 1;
    }
    // Fresh statistics, or the planner keeps costing the tables as empty.
    diesel::sql_query("ANALYZE model_versions, version_metrics, version_tags, events")
        .execute(conn)
        .await?;
    Ok(next - state.next_version)
}

fn seed_sqlite(path: &str, model: &str, target: i64) -> Result<i64, String> {
    let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    seed_sqlite_on(&mut conn, model, target).map_err(|e| e.to_string())
}

fn seed_sqlite_on(
    conn: &mut SqliteConnection,
    model: &str,
    target: i64,
) -> Result<i64, diesel::result::Error> {
    use diesel::RunQueryDsl;
    diesel::connection::SimpleConnection::batch_execute(conn, &sqlite_pragmas())?;
    diesel::sql_query(CREATE_MODEL_SQLITE)
        .bind::<Text, _>(model)
        .execute(conn)?;
    let state: ModelState = diesel::sql_query(MODEL_STATE_SQLITE)
        .bind::<Text, _>(model)
        .get_result(conn)?;
    let mut next = state.next_version;
    while next <= target {
        let last = (next + BATCH - 1).min(target);
        conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
            for statement in [
                SQLITE.versions,
                SQLITE.metrics,
                SQLITE.tags,
                SQLITE.events,
                SQLITE.counter,
            ] {
                diesel::sql_query(statement)
                    .bind::<BigInt, _>(state.id)
                    .bind::<BigInt, _>(next)
                    .bind::<BigInt, _>(last)
                    .execute(conn)?;
            }
            Ok(())
        })?;
        eprintln!("seeded {model} up to version {last}");
        next = last + 1;
    }
    diesel::sql_query("ANALYZE").execute(conn)?;
    Ok(next - state.next_version)
}
