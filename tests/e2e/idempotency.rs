//! Idempotent changes: a retry with the same request id returns the first
//! result and changes nothing (a retried rollback never rolls back twice);
//! the same id with a different request is ALREADY_EXISTS naming what
//! differs; concurrent retries change once; ids are scoped to principals.

use std::sync::Arc;

use model_registry_api::v1 as pb;
use model_registry_server::auth::{Authenticator, hash_token_entry};
use model_registry_server::domain::access::Role;
use model_registry_server::server::ServeOptions;
use tonic::Code;

use model_registry_e2e::{
    Backend, TestServer, alias_version, all_events, client_with_token, on_both_backends,
    register_many, registration, status_of,
};

on_both_backends!(
    a_retried_change_returns_the_first_result_and_changes_nothing,
    the_same_id_with_another_request_names_what_differs,
    concurrent_retries_of_one_rollback_roll_back_once,
);

fn rollback(request_id: &str) -> pb::RollbackModelAliasRequest {
    pb::RollbackModelAliasRequest {
        emergency: false,
        model_name: "churn".into(),
        alias: "canary".into(),
        reason: "error rate up".into(),
        expected_current_version: None,
        request_id: request_id.into(),
    }
}

fn set_canary(version: i64, request_id: &str) -> pb::SetModelAliasRequest {
    pb::SetModelAliasRequest {
        model_name: "churn".into(),
        alias: "canary".into(),
        version,
        reason: "canary".into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

async fn a_retried_change_returns_the_first_result_and_changes_nothing(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 4).await;
    for (version, id) in [(1, "move-1"), (2, "move-2"), (3, "move-3")] {
        client
            .set_model_alias(set_canary(version, id))
            .await
            .unwrap();
    }
    let first = client
        .rollback_model_alias(rollback("rollback-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.model_version.as_ref().unwrap().version, 2);
    let events = all_events(&mut client, "churn").await.len();
    // The retry answers what the first call answered and does not roll back
    // again (which would reach version 1).
    let retry = client
        .rollback_model_alias(rollback("rollback-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.model_version.unwrap().version, 2);
    assert_eq!(retry.rolled_back_version, first.rolled_back_version);
    assert_eq!(
        alias_version(&mut client, "churn", "canary", None).await,
        Some(2)
    );
    assert_eq!(all_events(&mut client, "churn").await.len(), events);

    // A retry of an old move answers as then, even after later moves.
    let replayed = client
        .set_model_alias(set_canary(1, "move-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (replayed.previous_version, replayed.unchanged),
        (None, false)
    );
    assert_eq!(
        alias_version(&mut client, "churn", "canary", None).await,
        Some(2)
    );

    // Every kind of change replays.
    let status = |id: &str| pb::UpdateModelVersionStatusRequest {
        model_name: "churn".into(),
        version: 4,
        status: pb::ModelStatus::Deprecated as i32,
        reason: "old".into(),
        request_id: id.into(),
        ..Default::default()
    };
    client
        .update_model_version_status(status("deprecate-4"))
        .await
        .unwrap();
    let again = client
        .update_model_version_status(status("deprecate-4"))
        .await
        .unwrap();
    assert_eq!(
        again.into_inner().model_version.unwrap().status,
        pb::ModelStatus::Deprecated as i32
    );
    let delete = || pb::DeleteModelAliasRequest {
        emergency: false,
        model_name: "churn".into(),
        alias: "canary".into(),
        reason: "done".into(),
        expected_current_version: None,
        request_id: "delete-canary".into(),
    };
    assert_eq!(
        client
            .delete_model_alias(delete())
            .await
            .unwrap()
            .into_inner()
            .previous_version,
        2
    );
    assert_eq!(
        client
            .delete_model_alias(delete())
            .await
            .unwrap()
            .into_inner()
            .previous_version,
        2
    );
    let update = || pb::UpdateModelRequest {
        model_name: "churn".into(),
        description: Some("churn".into()),
        request_id: "describe".into(),
        ..Default::default()
    };
    client.update_model(update()).await.unwrap();
    client.update_model(update()).await.unwrap();
    let kinds: Vec<i32> = all_events(&mut client, "churn")
        .await
        .iter()
        .map(|e| e.r#type)
        .collect();
    let count = |kind: pb::EventType| kinds.iter().filter(|k| **k == kind as i32).count();
    assert_eq!(count(pb::EventType::StatusChanged), 1);
    assert_eq!(count(pb::EventType::AliasDeleted), 1);
    assert_eq!(count(pb::EventType::ModelUpdated), 1);
}

async fn the_same_id_with_another_request_names_what_differs(server: TestServer) {
    let mut client = server.client.clone();
    let mut first = registration("churn", 0.8);
    first.request_id = "train-run-7".into();
    client.register_model(first.clone()).await.unwrap();
    // The reproduction: same id, algorithm B and auc 0.99.
    let mut other = first.clone();
    other.algorithm = "CatBoost".into();
    other.metrics.insert("auc".into(), 0.99);
    let refused = status_of(client.register_model(other).await);
    assert_eq!(refused.code(), Code::AlreadyExists);
    assert!(
        refused.message().contains("differs in algorithm, metrics"),
        "{}",
        refused.message()
    );
    let model = client
        .get_model(pb::GetModelRequest {
            model_name: "churn".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(model.version_count, 1, "nothing was registered");

    // An id cannot be reused for another kind of change either.
    client
        .set_model_alias(set_canary(1, "change-9"))
        .await
        .unwrap();
    let refused = status_of(client.set_model_alias(set_canary(1, "train-run-7")).await);
    assert!(
        refused.message().contains("method"),
        "{}",
        refused.message()
    );
    let refused = status_of(client.rollback_model_alias(rollback("change-9")).await);
    assert_eq!(refused.code(), Code::AlreadyExists);
    let refused = status_of(
        client
            .set_model_alias(set_canary(1, &"x".repeat(129)))
            .await,
    );
    assert!(
        refused.message().starts_with("invalid request_id"),
        "{}",
        refused.message()
    );
}

async fn concurrent_retries_of_one_rollback_roll_back_once(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 4).await;
    for version in 1..=4 {
        client
            .set_model_alias(set_canary(version, &format!("m{version}")))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut client = server.client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .rollback_model_alias(rollback("one-rollback"))
                .await
                .map(|r| r.into_inner())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap().unwrap();
        answers.push((
            answer.model_version.unwrap().version,
            answer.rolled_back_version,
        ));
    }
    assert!(answers.iter().all(|a| *a == (3, 4)), "{answers:?}");
    assert_eq!(
        alias_version(&mut client, "churn", "canary", None).await,
        Some(3)
    );
    let rollbacks = all_events(&mut client, "churn")
        .await
        .iter()
        .filter(|e| e.r#type == pb::EventType::AliasRolledBack as i32)
        .count();
    assert_eq!(rollbacks, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_of_two_principals_do_not_meet() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    model_registry_e2e::write_tokens_file(
        &tokens,
        &format!(
            "{}{}",
            hash_token_entry("token-a", "team-a", Role::Trainer),
            hash_token_entry("token-b", "team-b", Role::Trainer)
        ),
    );
    let options = ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens).unwrap()),
        ..ServeOptions::default()
    };
    let server = TestServer::builder(Backend::Sqlite)
        .options(options)
        .start()
        .await
        .unwrap();
    let mut request = registration("churn", 0.8);
    request.request_id = "nightly".into();
    let mut a = client_with_token(&server, Some("token-a"));
    let mut b = client_with_token(&server, Some("token-b"));
    let first = a
        .register_model(request.clone())
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    let second = b
        .register_model(request.clone())
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(
        (first.version, second.version),
        (1, 2),
        "each principal has its own ids"
    );
    let retry = a
        .register_model(request)
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(retry.id, first.id);
}
