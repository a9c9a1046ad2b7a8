//! Every `RegistryClient` method, its errors, and its retries.

use std::time::{Duration, SystemTime};

use model_registry_client::proto as pb;
use model_registry_client::{
    BestVersion, ClientOptions, EventType, ModelStatus, RegisterModel, RegistryClient, RetryPolicy,
    code_name,
};
use model_registry_e2e::{TestServer, on_both_backends};
use tokio::net::TcpListener;

on_both_backends!(
    every_wrapper_method_works_against_a_live_server,
    alias_builders_move_delete_roll_back_and_update_the_model,
);
on_both_backends!(backend: a_change_the_server_gave_up_on_is_retried_with_its_request_id);

/// The server's own deadline (`request_timeout` 1 s) passes while another
/// writer holds the database: it answers DEADLINE_EXCEEDED with time left on
/// the caller's; the client retries with the same request id, and the move
/// is made once.
async fn a_change_the_server_gave_up_on_is_retried_with_its_request_id(
    backend: model_registry_e2e::Backend,
) {
    let options = model_registry_server::server::ServeOptions {
        request_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let Some(server) = TestServer::builder(backend).options(options).start().await else {
        return;
    };
    let client = RegistryClient::connect_with(
        server.url.clone(),
        ClientOptions {
            timeout: Some(Duration::from_secs(30)),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    client
        .register_model(
            RegisterModel::new("churn")
                .algorithm("X")
                .artifact_uri("s3://x"),
        )
        .await
        .unwrap();
    let hold = Duration::from_millis(2500);
    let started = std::time::Instant::now();
    let other_writer = model_registry_e2e::hold_writes(&server.database_url, hold).await;
    let moved = client
        .set_production_model("churn", 1)
        .reason("first")
        .await
        .unwrap();
    assert!(
        started.elapsed() >= hold,
        "the move waited for the other writer"
    );
    other_writer.await.unwrap().unwrap();
    assert_eq!(moved.version.version(), 1);
    let events = client
        .list_events()
        .model("churn")
        .alias("production")
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "made once");
}

async fn alias_builders_move_delete_roll_back_and_update_the_model(server: TestServer) {
    let client = RegistryClient::connect(server.url.clone()).await.unwrap();
    for auc in [0.80, 0.85, 0.90] {
        let preview = client
            .register_model(
                RegisterModel::new("churn")
                    .algorithm("XGBoost")
                    .artifact_uri("s3://m")
                    .metric("auc", auc)
                    .validate_only(),
            )
            .await
            .unwrap();
        assert_eq!(preview.version(), 0, "validate_only writes nothing");
        client
            .register_model(
                RegisterModel::new("churn")
                    .algorithm("XGBoost")
                    .artifact_uri("s3://m")
                    .metric("auc", auc),
            )
            .await
            .unwrap();
    }
    let moved = client
        .set_alias("churn", "canary", 2)
        .expect_current(0)
        .reason("5% of traffic")
        .send()
        .await
        .unwrap();
    assert_eq!(moved.previous_version, None);
    let gated = client
        .set_alias("churn", "canary", 1)
        .gate("auc", 0.0)
        .reason("worse")
        .send()
        .await
        .unwrap_err();
    assert!(gated.is_failed_precondition(), "{gated}");
    let lossy = client
        .set_alias("churn", "canary", 3)
        .gate("auc", 0.0)
        .lower_is_better()
        .reason("higher auc is not a lower loss")
        .send()
        .await
        .unwrap_err();
    assert!(lossy.is_failed_precondition(), "{lossy}");
    client
        .set_alias("churn", "canary", 3)
        .expect_current(2)
        .gate("auc", 0.01)
        .reason("retrain")
        .send()
        .await
        .unwrap();
    let moved_at = SystemTime::now();
    assert_eq!(
        client
            .get_version_by_alias("churn", "canary")
            .await
            .unwrap()
            .version(),
        3
    );
    let back = client
        .rollback_alias("churn", "canary")
        .expect_current(3)
        .reason("errors up")
        .send()
        .await
        .unwrap();
    assert_eq!(back.rolled_back_version, 3);
    assert_eq!(
        client
            .get_version_by_alias("churn", "canary")
            .as_of(moved_at)
            .await
            .unwrap()
            .version(),
        3
    );
    assert_eq!(
        client
            .delete_alias("churn", "canary")
            .reason("done")
            .send()
            .await
            .unwrap(),
        2
    );
    assert!(
        client
            .get_version_by_alias("churn", "canary")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        client
            .get_version_by_alias("churn", "latest")
            .await
            .unwrap()
            .version(),
        3
    );
    let model = client
        .update_model("churn")
        .description("Customer churn")
        .tag("team", "growth")
        .tag("tier", "1")
        .reason("ownership")
        .send()
        .await
        .unwrap();
    assert_eq!(model.description(), "Customer churn");
    assert_eq!(model.tags().len(), 2);
    // Awaiting a builder sends it, as .send() does.
    let model = client
        .update_model("churn")
        .remove_tag("tier")
        .await
        .unwrap();
    assert_eq!(
        model.description(),
        "Customer churn",
        "unchanged when not given"
    );
    assert_eq!(model.tags().len(), 1);
}

async fn every_wrapper_method_works_against_a_live_server(server: TestServer) {
    let client = RegistryClient::connect(server.url.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("model.pkl");
    std::fs::write(&artifact, b"trained weights").unwrap();
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_768_761_600);
    let registration = RegisterModel::new("churn")
        .algorithm("XGBoost")
        .artifact_file(&artifact)
        .unwrap()
        .metadata_uri("s3://models/churn/meta.json")
        .metric("auc", 0.90)
        .param("max_depth", "6")
        .tag("team", "growth")
        .description("first")
        .trained_between(started, started + Duration::from_secs(90))
        .train_samples(800)
        .test_samples(200)
        .feature_names(["tenure", "monthly_charges"])
        .dataset_uri("s3://data/churn.parquet")
        .code_version("abc123")
        .metadata(serde_json::json!({"threshold": 0.5}))
        .unwrap();
    let v1 = client.register_model(registration.clone()).await.unwrap();
    assert_eq!(v1.version(), 1);
    assert_eq!(v1.status(), ModelStatus::Active);
    assert_eq!(v1.artifact().size_bytes, 15);
    assert_eq!(v1.artifact().sha256.len(), 64);
    let training = v1.training();
    assert_eq!(training.duration(), Some(Duration::from_secs(90)));
    assert_eq!(training.started_at(), Some(started));
    assert_eq!(
        (training.train_samples(), training.feature_count()),
        (Some(800), Some(2))
    );
    assert_eq!(training.code_version(), Some("abc123"));
    assert_eq!(
        v1.metadata().unwrap(),
        *serde_json::json!({"threshold": 0.5}).as_object().unwrap()
    );
    assert_eq!(
        v1.raw().model_name,
        "churn",
        "the wire message is reachable"
    );
    let retried = client.register_model(registration).await.unwrap();
    assert_eq!(
        retried.id(),
        v1.id(),
        "the builder's request id makes a retry harmless"
    );

    let v2 = client
        .register_model(
            RegisterModel::new("churn")
                .algorithm("CatBoost")
                .artifact_uri("s3://m/2")
                .metric("auc", 0.95),
        )
        .await
        .unwrap();
    assert_eq!(v2.version(), 2);
    assert_eq!(v2.training().train_samples(), None, "unknown, not zero");
    assert_eq!(
        client.get_model_version("churn", 1).await.unwrap().id(),
        v1.id()
    );
    assert_eq!(
        client
            .get_model_version_by_id(v2.id())
            .await
            .unwrap()
            .version(),
        2
    );

    let promoted = client
        .set_production_model("churn", 1)
        .reason("first")
        .await
        .unwrap();
    assert_eq!(promoted.previous_version, None);
    assert!(promoted.version.is_production());
    assert_eq!(
        client
            .get_production_model("churn")
            .await
            .unwrap()
            .version(),
        1
    );
    client
        .set_production_model("churn", 2)
        .reason("better")
        .expect_current(1)
        .gate("auc", 0.01)
        .await
        .unwrap();
    let now = client
        .get_production_model("churn")
        .as_of(SystemTime::now() + Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(now.version(), 2);

    let page = client
        .list_model_versions("churn")
        .page_size(1)
        .page()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let token = page.next_page_token.unwrap();
    let rest = client
        .list_model_versions("churn")
        .page_size(1)
        .page_token(token)
        .page()
        .await
        .unwrap();
    assert_eq!(
        (rest.items[0].version(), rest.next_page_token),
        (2, None),
        "the last page says so"
    );
    let all = client
        .list_model_versions("churn")
        .page_size(1)
        .limit(10)
        .await
        .unwrap();
    assert_eq!(all.iter().map(|v| v.version()).collect::<Vec<_>>(), [1, 2]);
    let by_auc = client
        .list_model_versions("churn")
        .order_by_metric("auc")
        .min_metric("auc", 0.5)
        .await
        .unwrap();
    assert_eq!(
        by_auc.iter().map(|v| v.version()).collect::<Vec<_>>(),
        [2, 1]
    );
    let BestVersion { version, value } =
        client.get_best_model_version("churn", "auc").await.unwrap();
    assert_eq!((version.version(), value), (2, 0.95));
    let worst = client
        .get_best_model_version("churn", "auc")
        .lowest()
        .await
        .unwrap();
    assert_eq!(worst.version.version(), 1);
    let models = client.list_models().await.unwrap();
    assert_eq!(models.len(), 1);
    assert!(
        client
            .list_models()
            .name_prefix("fr")
            .await
            .unwrap()
            .is_empty()
    );
    let model = client.get_model("churn").await.unwrap();
    assert_eq!(model.production_version(), Some(2));
    assert_eq!(model.alias("production"), Some(2));

    let back = client
        .rollback_production_model("churn")
        .reason("regression")
        .await
        .unwrap();
    assert_eq!((back.version.version(), back.rolled_back_version), (1, 2));
    let deprecated = client
        .update_model_version_status("churn", 2, ModelStatus::Deprecated)
        .reason("superseded")
        .await
        .unwrap();
    assert_eq!(deprecated.status(), ModelStatus::Deprecated);
    let updated = client
        .update_model_version("churn", 1)
        .tag("stage", "approved")
        .description("approved by review")
        .await
        .unwrap();
    assert_eq!(
        updated.tags().get("stage").map(String::as_str),
        Some("approved")
    );
    assert_eq!(updated.description(), "approved by review");
    let events = client.list_events().model("churn").await.unwrap();
    assert_eq!(events.len(), 8);
    assert_eq!(events[0].event_type(), EventType::ModelCreated);
    let first_three = client
        .list_events()
        .model("churn")
        .page_size(2)
        .limit(3)
        .await
        .unwrap();
    assert_eq!(
        first_three.iter().map(|e| e.id()).collect::<Vec<_>>(),
        events[..3].iter().map(|e| e.id()).collect::<Vec<_>>()
    );
    let status_changes = client
        .list_events()
        .model("churn")
        .event_type(EventType::StatusChanged)
        .await
        .unwrap();
    assert_eq!(status_changes.len(), 1);
    assert_eq!(
        (
            status_changes[0].previous_status(),
            status_changes[0].new_status()
        ),
        (Some(ModelStatus::Active), Some(ModelStatus::Deprecated))
    );
    let production_moves = client
        .list_events()
        .model("churn")
        .alias("production")
        .await
        .unwrap();
    assert_eq!(
        production_moves
            .iter()
            .map(|e| e.new_version())
            .collect::<Vec<_>>(),
        [Some(1), Some(2), Some(1)]
    );

    // Errors keep the server's code and message.
    let missing = client.get_model_version("churn", 9).await.unwrap_err();
    assert!(missing.is_not_found());
    assert!(missing.to_string().ends_with("(NOT_FOUND)"), "{missing}");
    assert_eq!(code_name(missing.code().unwrap()), "NOT_FOUND");
    let deprecated_promotion = client
        .set_production_model("churn", 2)
        .reason("no")
        .await
        .unwrap_err();
    assert!(deprecated_promotion.is_failed_precondition());
    let stale = client
        .set_production_model("churn", 1)
        .reason("cas")
        .expect_current(2)
        .await
        .unwrap_err();
    assert!(stale.is_aborted());
    assert!(stale.request_id().is_some(), "errors keep the request id");
    let invalid = client
        .register_model(
            RegisterModel::new("Bad Name")
                .algorithm("x")
                .artifact_uri("y"),
        )
        .await
        .unwrap_err();
    assert!(invalid.is_invalid_argument());
    let reused = client
        .register_model(
            RegisterModel::new("fraud")
                .algorithm("x")
                .artifact_uri("y")
                .request_id(v2_request_id(&client).await),
        )
        .await
        .unwrap_err();
    assert!(reused.is_already_exists());
}

/// A request id already used for `churn`, registered here for the purpose.
async fn v2_request_id(client: &RegistryClient) -> String {
    let id = "fixed-run-id";
    client
        .register_model(
            RegisterModel::new("churn")
                .algorithm("x")
                .artifact_uri("y")
                .request_id(id),
        )
        .await
        .unwrap();
    id.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_changes_are_retried_until_a_late_server_answers() {
    // An address with nothing listening yet.
    let reserved = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let patient = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 40,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        },
        ..ClientOptions::default()
    };
    let client = RegistryClient::connect_with(format!("http://{addr}"), patient)
        .await
        .unwrap();

    let impatient = RegistryClient::connect_with(
        format!("http://{addr}"),
        ClientOptions {
            retry: RetryPolicy::none(),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let refused = impatient
        .set_production_model("churn", 1)
        .reason("x")
        .await
        .unwrap_err();
    assert!(refused.is_unavailable(), "{refused}");

    let reader = client.clone();
    let read = tokio::spawn(async move { reader.list_models().await });
    // A change is retried too: its request id makes the retries harmless.
    let change = tokio::spawn(async move {
        client
            .register_model(
                RegisterModel::new("churn")
                    .algorithm("XGBoost")
                    .artifact_uri("s3://m"),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let listener = TcpListener::bind(addr).await.unwrap();
    let server = TestServer::builder(model_registry_e2e::Backend::Sqlite)
        .listener(listener)
        .start()
        .await
        .expect("SQLite needs no server");
    let models = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        models.len() <= 1,
        "the read succeeded once the server was up"
    );
    let registered = tokio::time::timeout(Duration::from_secs(20), change)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(registered.version(), 1);
    let mut raw = server.client.clone();
    let count = raw
        .get_model(pb::GetModelRequest {
            model_name: "churn".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap()
        .version_count;
    assert_eq!(count, 1, "registered once, however often it was tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_on_another_replica_without_missing_a_change() {
    use model_registry_e2e::Backend;
    use model_registry_server::server::ServeOptions;

    let Some(origin) = TestServer::builder(Backend::Postgres).start().await else {
        return;
    };
    let mut writer = origin.client.clone();
    for auc in [0.7, 0.8, 0.9] {
        model_registry_e2e::register(&mut writer, model_registry_e2e::registration("churn", auc))
            .await;
    }
    model_registry_e2e::promote(&mut writer, "churn", 1)
        .await
        .unwrap();

    // The watcher talks to one address, served by a replica that goes away.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let first = origin.replica_on(listener, ServeOptions::default()).await;
    let client = RegistryClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let mut updates = client.watch_alias("churn", "production");
    let state = next_update(&mut updates).await;
    assert_eq!(state.version(), Some(1));
    assert!(state.is_initial());
    first.stop().await.unwrap();

    // Changes while nobody serves that address.
    model_registry_e2e::promote(&mut writer, "churn", 2)
        .await
        .unwrap();
    model_registry_e2e::promote(&mut writer, "churn", 3)
        .await
        .unwrap();
    let listener = TcpListener::bind(address).await.unwrap();
    let _second = origin.replica_on(listener, ServeOptions::default()).await;
    let versions = [
        next_update(&mut updates).await,
        next_update(&mut updates).await,
    ]
    .map(|u| u.version());
    assert_eq!(
        versions,
        [Some(2), Some(3)],
        "exactly the missed changes, in order"
    );
}

async fn next_update(
    updates: &mut model_registry_client::AliasWatch,
) -> model_registry_client::AliasUpdate {
    use tokio_stream::StreamExt;
    tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .expect("an update")
        .expect("the watch goes on")
        .expect("not an error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_client_registers_and_reads_large_versions() {
    use model_registry_e2e::Backend;

    let server = TestServer::builder(Backend::Sqlite).start().await.unwrap();
    let options = ClientOptions {
        gzip: true,
        ..ClientOptions::default()
    };
    let client = RegistryClient::connect_with(server.url.clone(), options)
        .await
        .unwrap();
    let features: Vec<String> = (0..2000).map(|i| format!("feature_{i:05}")).collect();
    let registered = client
        .register_model(
            RegisterModel::new("churn")
                .algorithm("XGBoost")
                .artifact_uri("s3://m")
                .metric("auc", 0.9)
                .feature_names(features.clone()),
        )
        .await
        .unwrap();
    let read = client
        .get_model_version("churn", registered.version())
        .await
        .unwrap();
    assert_eq!(read.training().feature_names(), features);
}
