//! Upgrading a database made by the previous release (production flag,
//! PRODUCTION_SET / PRODUCTION_ROLLED_BACK events): after the migration it
//! answers `as_of` and rollback exactly as that release did, through the
//! `production` alias.

use model_registry_api::v1 as pb;
use model_registry_server::store::DatabaseUrl;
use tonic::Code;

use model_registry_e2e::{
    Backend, TestDatabase, TestServer, alias_version, all_events, code_of, execute_sql,
    get_version, production_version, rollback_alias,
};

/// The previous release's schema, as it created databases.
fn previous_schema(url: &DatabaseUrl) -> &'static str {
    match url {
        DatabaseUrl::Postgres(_) => {
            include_str!("../../migrations/postgres/2026-11-26-000001_initial/up.sql")
        }
        DatabaseUrl::Sqlite(_) => {
            include_str!("../../migrations/sqlite/2026-11-26-000001_initial/up.sql")
        }
    }
}

/// What diesel recorded after applying the previous release's migration.
const MIGRATION_RECORD: &str = "
CREATE TABLE __diesel_schema_migrations (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO __diesel_schema_migrations (version) VALUES ('20261126000001');";

/// Model `churn` with four versions and this production history, one event
/// a day: promote 1, promote 2, promote 3, roll back (to 2), promote 4,
/// promote 2 again. Version 2 is production. Model `fraud` never had one.
const PREVIOUS_RELEASE_DATA: &str = "
INSERT INTO models (name, next_version, created_at, updated_at)
VALUES ('churn', 5, '2026-01-01 09:00:00', '2026-01-06 12:00:00'),
       ('fraud', 2, '2026-01-01 09:00:00', '2026-01-01 09:00:00');
INSERT INTO model_versions (id, model_id, version, algorithm, status, is_production, artifact_uri, created_by, created_at, updated_at)
VALUES ('v1', (SELECT id FROM models WHERE name = 'churn'), 1, 'XGBoost', 'ACTIVE', FALSE, 's3://churn/1', 'ci', '2026-01-01 09:00:00', '2026-01-01 09:00:00'),
       ('v2', (SELECT id FROM models WHERE name = 'churn'), 2, 'CatBoost', 'ACTIVE', TRUE, 's3://churn/2', 'ci', '2026-01-01 09:00:00', '2026-01-06 12:00:00'),
       ('v3', (SELECT id FROM models WHERE name = 'churn'), 3, 'XGBoost', 'ACTIVE', FALSE, 's3://churn/3', 'ci', '2026-01-01 09:00:00', '2026-01-01 09:00:00'),
       ('v4', (SELECT id FROM models WHERE name = 'churn'), 4, 'XGBoost', 'ACTIVE', FALSE, 's3://churn/4', 'ci', '2026-01-01 09:00:00', '2026-01-01 09:00:00'),
       ('f1', (SELECT id FROM models WHERE name = 'fraud'), 1, 'XGBoost', 'ACTIVE', FALSE, 's3://fraud/1', 'ci', '2026-01-01 09:00:00', '2026-01-01 09:00:00');
INSERT INTO events (occurred_at, event_type, model_id, version, previous_production_version, new_production_version, actor, reason)
VALUES ('2026-01-01 12:00:00', 'PRODUCTION_SET', (SELECT id FROM models WHERE name = 'churn'), 1, NULL, 1, 'alice', 'first'),
       ('2026-01-02 12:00:00', 'PRODUCTION_SET', (SELECT id FROM models WHERE name = 'churn'), 2, 1, 2, 'alice', 'better'),
       ('2026-01-03 12:00:00', 'PRODUCTION_SET', (SELECT id FROM models WHERE name = 'churn'), 3, 2, 3, 'bob', 'retrain'),
       ('2026-01-04 12:00:00', 'PRODUCTION_ROLLED_BACK', (SELECT id FROM models WHERE name = 'churn'), 2, 3, 2, 'bob', 'regression'),
       ('2026-01-05 12:00:00', 'PRODUCTION_SET', (SELECT id FROM models WHERE name = 'churn'), 4, 2, 4, 'carol', 'new features'),
       ('2026-01-06 12:00:00', 'PRODUCTION_SET', (SELECT id FROM models WHERE name = 'churn'), 2, 4, 2, 'carol', 'back to the known good');";

fn day(day: u32, hour: i64) -> prost_types::Timestamp {
    // 2026-01-01T00:00:00Z is 1767225600.
    prost_types::Timestamp {
        seconds: 1_767_225_600 + i64::from(day - 1) * 86_400 + hour * 3_600,
        nanos: 0,
    }
}

async fn a_database_of_the_previous_release_keeps_its_production_history(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let url = database.url().clone();
    let previous = format!(
        "{}\n{MIGRATION_RECORD}\n{PREVIOUS_RELEASE_DATA}",
        previous_schema(&url)
    );
    execute_sql(&url, &previous)
        .await
        .expect("the previous release's database");
    let server = TestServer::on(database)
        .start()
        .await
        .expect("a prepared database needs no skip");
    let mut client = server.client.clone();

    assert_eq!(production_version(&mut client, "churn").await, Some(2));
    assert!(
        get_version(&mut client, "churn", 2)
            .await
            .unwrap()
            .is_production
    );
    assert_eq!(production_version(&mut client, "fraud").await, None);
    // as_of at every moment answers what the previous release answered.
    let answers = [
        (day(1, 11), None),
        (day(1, 12), Some(1)),
        (day(2, 13), Some(2)),
        (day(3, 12), Some(3)),
        (day(4, 12), Some(2)),
        (day(5, 18), Some(4)),
        (day(6, 12), Some(2)),
    ];
    for (at, expected) in answers {
        assert_eq!(
            alias_version(&mut client, "churn", "production", Some(at)).await,
            expected,
            "as_of {at:?}"
        );
    }
    // The events are alias events now, with their actors and reasons.
    let events = all_events(&mut client, "churn").await;
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|e| e.alias == "production"));
    assert_eq!(events[3].r#type, pb::EventType::AliasRolledBack as i32);
    assert_eq!(
        (
            events[3].previous_version,
            events[3].new_version,
            events[3].actor.as_str()
        ),
        (Some(3), Some(2), "bob")
    );

    // Rollbacks walk the same stack the previous release replayed:
    // [1, 2, 3] -> rollback -> [1, 2] -> promote 4, promote 2 -> [1, 2, 4, 2].
    for expected in [4, 2, 1] {
        let back = rollback_alias(&mut client, "churn", "production")
            .await
            .unwrap();
        assert_eq!(back.model_version.unwrap().version, expected);
    }
    assert_eq!(
        code_of(rollback_alias(&mut client, "churn", "production").await),
        Code::FailedPrecondition
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_of_the_previous_release_keeps_its_production_history() {
    a_database_of_the_previous_release_keeps_its_production_history(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_of_the_previous_release_keeps_its_production_history() {
    a_database_of_the_previous_release_keeps_its_production_history(Backend::Postgres).await;
}
