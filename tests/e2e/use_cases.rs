//! The use cases (`server/src/registry/`) called directly, without a
//! server: each rule is tested where it lives, through the store's `Tx`
//! contract on a real SQLite file and a real PostgreSQL database, in
//! milliseconds.

use std::collections::BTreeMap;

use model_registry_e2e::{Backend, TestDatabase, execute_sql, on_both_backends};
use model_registry_server::domain::access::{Caller, Grant};
use model_registry_server::domain::commands::{ChangeStatus, EventQuery, RollbackAlias, SetAlias};
use model_registry_server::domain::{
    AliasName, DomainError, EventKind, ModelName, NewVersion, VersionRef, VersionStatus,
};
use model_registry_server::registry::Registry;
use model_registry_server::signing::SignatureTrust;
use model_registry_server::store::{PoolOptions, Store};

/// A registry over a fresh, migrated database (kept alive by the second
/// half of the pair).
async fn registry_on(backend: Backend) -> Option<(Registry, TestDatabase)> {
    let database = TestDatabase::create(backend).await?;
    Store::migrate(database.url()).await.expect("migrate");
    let store = Store::open(database.url(), &PoolOptions::default()).expect("open the store");
    let trust = std::sync::Arc::new(SignatureTrust::none());
    Some((Registry::new(store, trust), database))
}

fn caller(identity: &str, key: Option<&str>) -> Caller {
    Caller {
        identity: identity.to_owned(),
        source: None,
        request_id: uuid::Uuid::new_v4().to_string(),
        correlation_id: None,
        grant: Grant::unrestricted(),
        idempotency_key: key.map(str::to_owned),
        deadline: None,
    }
}

fn model(name: &str) -> ModelName {
    ModelName::parse("model_name", name).expect("a valid model name")
}

fn production() -> AliasName {
    AliasName::production()
}

fn version_of(name: &str, auc: f64) -> NewVersion {
    NewVersion {
        model_name: model(name),
        algorithm: "xgboost".to_owned(),
        artifact: Default::default(),
        metrics: BTreeMap::from([("auc".to_owned(), auc)]),
        params: BTreeMap::new(),
        tags: BTreeMap::new(),
        training: Default::default(),
        metadata: Default::default(),
        description: String::new(),
        signature: None,
        unsigned_refusal: None,
    }
}

fn point(name: &str, version: i64, expected_current: Option<Option<i64>>) -> SetAlias {
    SetAlias {
        emergency: false,
        model_name: model(name),
        alias: production(),
        version,
        reason: "test".to_owned(),
        expected_current,
        gate: None,
    }
}

/// Every event of model `name`, oldest first.
async fn trail(registry: &Registry, name: &str) -> Vec<EventKind> {
    let query = EventQuery {
        model_name: Some(model(name)),
        version: None,
        kinds: Vec::new(),
        alias: None,
        actor: None,
        newest_first: false,
        since: None,
        until: None,
        page_size: 1000,
        after: None,
    };
    let page = registry.list_events(query).await.expect("list events");
    page.items
        .into_iter()
        .map(|(event, _)| event.kind)
        .collect()
}

async fn production_of(registry: &Registry, name: &str) -> Option<i64> {
    registry
        .alias_state(model(name), production())
        .await
        .expect("alias state")
        .0
        .map(|version| version.version)
}

on_both_backends!(backend:
    a_rollback_refuses_a_version_deprecated_since_and_writes_nothing,
    a_retried_alias_move_replays_its_first_answer_after_later_moves,
    a_refused_change_leaves_no_event_and_no_claimed_key,
    access_is_checked_before_anything_is_written,
    concurrent_registrations_number_versions_without_gaps,
    an_alias_limited_principal_cannot_retire_what_other_aliases_rest_on,
    a_precondition_added_on_a_retry_makes_it_a_different_request,
    a_key_from_before_request_keys_replays_only_its_principals_same_registration,
);

async fn a_rollback_refuses_a_version_deprecated_since_and_writes_nothing(backend: Backend) {
    let Some((registry, _database)) = registry_on(backend).await else {
        return;
    };
    for auc in [0.8, 0.9] {
        registry
            .register(version_of("churn", auc), caller("trainer", None))
            .await
            .expect("register");
    }
    for version in [1, 2] {
        registry
            .set_alias(point("churn", version, None), caller("deployer", None))
            .await
            .expect("move production");
    }
    registry
        .change_status(
            ChangeStatus {
                target: VersionRef::Number(model("churn"), 1),
                status: VersionStatus::Deprecated,
                reason: "superseded".to_owned(),
            },
            caller("admin", None),
        )
        .await
        .expect("deprecate version 1");
    let before = trail(&registry, "churn").await;

    let refused = registry
        .rollback_alias(
            RollbackAlias {
                emergency: false,
                model_name: model("churn"),
                alias: production(),
                reason: "bad deploy".to_owned(),
                expected_current: None,
            },
            caller("deployer", None),
        )
        .await;

    assert!(
        matches!(&refused, Err(DomainError::FailedPrecondition(message)) if message.contains("DEPRECATED")),
        "{refused:?}"
    );
    assert_eq!(production_of(&registry, "churn").await, Some(2));
    assert_eq!(trail(&registry, "churn").await, before);
}

async fn a_retried_alias_move_replays_its_first_answer_after_later_moves(backend: Backend) {
    let Some((registry, _database)) = registry_on(backend).await else {
        return;
    };
    for auc in [0.8, 0.9] {
        registry
            .register(version_of("churn", auc), caller("trainer", None))
            .await
            .expect("register");
    }
    let first = registry
        .set_alias(point("churn", 1, None), caller("deployer", Some("move-1")))
        .await
        .expect("first move");
    registry
        .set_alias(point("churn", 2, None), caller("deployer", None))
        .await
        .expect("a later move");
    let events = trail(&registry, "churn").await;

    let retried = registry
        .set_alias(point("churn", 1, None), caller("deployer", Some("move-1")))
        .await
        .expect("the retry");

    assert_eq!(retried.version.id, first.version.id);
    assert_eq!((retried.previous, retried.unchanged), (None, false));
    assert_eq!(production_of(&registry, "churn").await, Some(2));
    assert_eq!(trail(&registry, "churn").await, events);
    let reused = registry
        .set_alias(point("churn", 2, None), caller("deployer", Some("move-1")))
        .await;
    assert!(
        matches!(reused, Err(DomainError::AlreadyExists(_))),
        "{reused:?}"
    );
    // Keys are per principal: another principal's "move-1" is a new key.
    let other = registry
        .set_alias(
            point("churn", 1, None),
            caller("release-bot", Some("move-1")),
        )
        .await
        .expect("another principal's key");
    assert_eq!((other.previous, other.unchanged), (Some(2), false));
}

async fn a_refused_change_leaves_no_event_and_no_claimed_key(backend: Backend) {
    let Some((registry, _database)) = registry_on(backend).await else {
        return;
    };
    for auc in [0.8, 0.9] {
        registry
            .register(version_of("churn", auc), caller("trainer", None))
            .await
            .expect("register");
    }
    registry
        .set_alias(point("churn", 1, None), caller("deployer", None))
        .await
        .expect("move production");
    let events = trail(&registry, "churn").await;
    // Expects production to point nowhere: stale, refused.
    let command = point("churn", 2, Some(None));

    let refused = registry
        .set_alias(command.clone(), caller("deployer", Some("first-deploy")))
        .await;

    assert!(
        matches!(refused, Err(DomainError::Aborted(_))),
        "{refused:?}"
    );
    assert_eq!(trail(&registry, "churn").await, events);
    // The refusal rolled its key back with it: once the precondition holds,
    // the same request under the same key is made, not replayed as a
    // failure.
    registry
        .delete_alias(
            model_registry_server::domain::commands::DeleteAlias {
                emergency: false,
                model_name: model("churn"),
                alias: production(),
                reason: "reset".to_owned(),
                expected_current: None,
            },
            caller("deployer", None),
        )
        .await
        .expect("delete production");
    let moved = registry
        .set_alias(command, caller("deployer", Some("first-deploy")))
        .await
        .expect("the same request, now valid");
    assert_eq!((moved.version.version, moved.previous), (2, None));
}

async fn access_is_checked_before_anything_is_written(backend: Backend) {
    let Some((registry, _database)) = registry_on(backend).await else {
        return;
    };
    let mut limited = caller("team-a-trainer", Some("k1"));
    limited.grant = Grant {
        model_prefixes: Some(vec!["team-a-".to_owned()]),
        ..Grant::unrestricted()
    };

    let refused = registry
        .register(version_of("team-b-churn", 0.9), limited.clone())
        .await;

    assert!(
        matches!(&refused, Err(DomainError::PermissionDenied(message)) if message.contains("team-a-")),
        "{refused:?}"
    );
    let missing = registry.get_model(model("team-b-churn")).await;
    assert!(
        matches!(missing, Err(DomainError::NotFound(_))),
        "{missing:?}"
    );
    // Its own prefix is allowed, under the same key: nothing was claimed.
    let version = registry
        .register(version_of("team-a-churn", 0.9), limited)
        .await
        .expect("register within the grant");
    assert_eq!(version.version, 1);
}

async fn concurrent_registrations_number_versions_without_gaps(backend: Backend) {
    let Some((registry, _database)) = registry_on(backend).await else {
        return;
    };
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .register(
                        version_of("churn", 0.5 + f64::from(i) / 100.0),
                        caller("ci", None),
                    )
                    .await
                    .expect("register")
                    .version
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.expect("task"));
    }
    numbers.sort_unstable();

    assert_eq!(numbers, (1..=12).collect::<Vec<i64>>());
    let events = trail(&registry, "churn").await;
    assert_eq!(events.first(), Some(&EventKind::ModelCreated));
    assert_eq!(
        events
            .iter()
            .filter(|kind| **kind == EventKind::ModelCreated)
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|kind| **kind == EventKind::VersionRegistered)
            .count(),
        12
    );
}

async fn an_alias_limited_principal_cannot_retire_what_other_aliases_rest_on(backend: Backend) {
    let Some((registry, _database)) = registry_on(backend).await else {
        return;
    };
    for auc in [0.7, 0.8, 0.9, 0.95] {
        registry
            .register(version_of("churn", auc), caller("trainer", None))
            .await
            .expect("register");
    }
    // production: 1 then 2 (1 is its rollback target); staging: 3.
    for version in [1, 2] {
        registry
            .set_alias(point("churn", version, None), caller("release-bot", None))
            .await
            .expect("move production");
    }
    let mut staging = point("churn", 3, None);
    staging.alias = AliasName::parse("alias", "staging").expect("alias");
    registry
        .set_alias(staging, caller("release-bot", None))
        .await
        .expect("move staging");
    let mut staging_bot = caller("staging-bot", None);
    staging_bot.grant = Grant {
        aliases: Some(["staging".to_owned()].into()),
        ..Grant::unrestricted()
    };
    let retire = |version: i64, status: VersionStatus| ChangeStatus {
        target: VersionRef::Number(model("churn"), version),
        status,
        reason: "cleanup".to_owned(),
    };

    // Production's rollback target, and `latest` (version 4).
    for (version, status, alias) in [
        (1, VersionStatus::Archived, "production"),
        (1, VersionStatus::Deprecated, "production"),
        (4, VersionStatus::Deprecated, "latest"),
    ] {
        let refused = registry
            .change_status(retire(version, status), staging_bot.clone())
            .await;
        assert!(
            matches!(&refused, Err(DomainError::PermissionDenied(message)) if message.contains(alias)),
            "version {version} to {status}: {refused:?}"
        );
    }
    let rollback = registry
        .rollback_alias(
            RollbackAlias {
                emergency: false,
                model_name: model("churn"),
                alias: production(),
                reason: "bad deploy".to_owned(),
                expected_current: None,
            },
            caller("release-bot", None),
        )
        .await
        .expect("production's rollback still works");
    assert_eq!(rollback.version.version, 1);
    // What only its own alias rests on, it may retire once staging moved
    // off it.
    let mut staging = point("churn", 4, None);
    staging.alias = AliasName::parse("alias", "staging").expect("alias");
    registry
        .set_alias(staging, caller("release-bot", None))
        .await
        .expect("move staging");
    let changed = registry
        .change_status(retire(3, VersionStatus::Deprecated), staging_bot)
        .await
        .expect("a version only staging held");
    assert_eq!(changed.status, VersionStatus::Deprecated);
}

async fn a_precondition_added_on_a_retry_makes_it_a_different_request(backend: Backend) {
    let Some((registry, _database)) = registry_on(backend).await else {
        return;
    };
    registry
        .register(version_of("churn", 0.8), caller("trainer", None))
        .await
        .expect("register");
    registry
        .set_alias(point("churn", 1, None), caller("deployer", Some("k")))
        .await
        .expect("the first call, without a precondition");

    // "Only if the alias does not exist yet" is a different request, not a
    // retry of the one without a precondition.
    let refused = registry
        .set_alias(point("churn", 1, Some(None)), caller("deployer", Some("k")))
        .await;

    assert!(
        matches!(&refused, Err(DomainError::AlreadyExists(message)) if message.contains("expected_current")),
        "{refused:?}"
    );
    let replayed = registry
        .set_alias(point("churn", 1, None), caller("deployer", Some("k")))
        .await
        .expect("the same request again");
    assert_eq!(replayed.version.version, 1);
}

async fn a_key_from_before_request_keys_replays_only_its_principals_same_registration(
    backend: Backend,
) {
    let Some((registry, database)) = registry_on(backend).await else {
        return;
    };
    let first = registry
        .register(version_of("churn", 0.8), caller("trainer", None))
        .await
        .expect("register");
    // As a release from before request keys stored it.
    execute_sql(
        database.url(),
        &format!(
            "UPDATE model_versions SET request_id = 'legacy-1' WHERE id = '{}'",
            first.id
        ),
    )
    .await
    .expect("store the key the old way");

    let other = registry
        .register(version_of("churn", 0.8), caller("ci-bot", Some("legacy-1")))
        .await
        .expect("another principal's key is its own");
    assert_eq!(other.version, 2);
    let different = registry
        .register(
            version_of("churn", 0.9),
            caller("trainer", Some("legacy-1")),
        )
        .await;
    assert!(
        matches!(&different, Err(DomainError::AlreadyExists(message)) if message.contains("metrics")),
        "{different:?}"
    );
    let replayed = registry
        .register(
            version_of("churn", 0.8),
            caller("trainer", Some("legacy-1")),
        )
        .await
        .expect("the same registration again");
    assert_eq!((replayed.version, &replayed.id), (1, &first.id));
}
