//! What replicas sharing one database rely on: queued writers never starve
//! reads or health, a change past its deadline is DEADLINE_EXCEEDED and not
//! made, writes to different models do not wait for each other, event times
//! never go backwards for a model, and a binary older than the schema
//! refuses to run.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use model_registry_api::v1 as pb;
use model_registry_server::server::ServeOptions;
use model_registry_server::store::{DatabaseUrl, MODEL_LOCK_CLASS, Store};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use model_registry_e2e::{
    Backend, TestServer, all_events, code_of, execute_sql, get_model, on_both_backends, promote,
    register, register_many, registration,
};

on_both_backends!(
    event_times_never_go_backwards_for_a_model,
    a_binary_older_than_the_schema_refuses_it,
);

async fn postgres() -> Option<(TestServer, AsyncPgConnection)> {
    postgres_with(ServeOptions::default()).await
}

async fn postgres_with(options: ServeOptions) -> Option<(TestServer, AsyncPgConnection)> {
    let server = TestServer::builder(Backend::Postgres)
        .options(options)
        .start()
        .await?;
    let DatabaseUrl::Postgres(url) = &server.database_url else {
        unreachable!("a PostgreSQL server");
    };
    let outsider = AsyncPgConnection::establish(url).await.unwrap();
    Some((server, outsider))
}

/// SQL that takes the queue of changes to `model` for this session.
fn hold_queue(model: &str) -> String {
    format!("SELECT pg_advisory_lock({MODEL_LOCK_CLASS}, hashtext('{model}'))")
}

fn release_queue(model: &str) -> String {
    format!("SELECT pg_advisory_unlock({MODEL_LOCK_CLASS}, hashtext('{model}'))")
}

fn with_timeout<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_queued_for_the_write_slot_do_not_starve_reads_or_health() {
    let Some((server, mut outsider)) = postgres().await else {
        return;
    };
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 1).await;
    promote(&mut client, "churn", 1).await.unwrap();
    // Another session holds churn's queue: every change to churn waits.
    outsider.batch_execute(&hold_queue("churn")).await.unwrap();
    let mut writers = Vec::new();
    for i in 0..12 {
        let mut client = server.client.clone();
        writers.push(tokio::spawn(async move {
            let mut request = registration("churn", 0.6);
            request.request_id = format!("queued-{i}");
            client
                .register_model(with_timeout(request, Duration::from_secs(20)))
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for _ in 0..20 {
        client
            .get_production_model(pb::GetProductionModelRequest {
                model_name: "churn".into(),
                as_of: None,
                consistency_token: String::new(),
            })
            .await
            .expect("reads are served while writers queue");
    }
    let health = HealthClient::new(server.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    outsider
        .batch_execute(&release_queue("churn"))
        .await
        .unwrap();
    for writer in writers {
        writer
            .await
            .unwrap()
            .expect("queued writes complete once the lock is free");
    }
    assert_eq!(
        get_model(&mut client, "churn").await.unwrap().version_count,
        13
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_past_its_deadline_is_deadline_exceeded_and_not_made() {
    // The server's deadline is the shorter one, so its answer is observed
    // (a client's own timer reports CANCELLED).
    let options = ServeOptions {
        request_timeout: Duration::from_millis(800),
        ..ServeOptions::default()
    };
    let Some((server, mut outsider)) = postgres_with(options).await else {
        return;
    };
    let mut client = server.client.clone();
    register_many(&mut client, "other", 1).await;
    outsider.batch_execute(&hold_queue("churn")).await.unwrap();
    let mut request = registration("churn", 0.7);
    request.request_id = "late".into();
    let started = Instant::now();
    let refused = client
        .register_model(with_timeout(request.clone(), Duration::from_secs(10)))
        .await;
    assert_eq!(code_of(refused), Code::DeadlineExceeded);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    outsider
        .batch_execute(&release_queue("churn"))
        .await
        .unwrap();
    // Nothing was written, then or later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        code_of(get_model(&mut client, "churn").await),
        Code::NotFound
    );
    // The retry with the same request id makes the change once.
    let version = register(&mut client, request.clone()).await;
    assert_eq!(version.version, 1);
    assert_eq!(register(&mut client, request).await.id, version.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_different_models_do_not_wait_for_each_other() {
    let Some((server, mut outsider)) = postgres().await else {
        return;
    };
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 1).await;
    register_many(&mut client, "fraud", 1).await;
    // Another session holds churn's queue for as long as it likes.
    outsider
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({MODEL_LOCK_CLASS}, hashtext('churn'))"
        ))
        .await
        .unwrap();
    let mut blocked = server.client.clone();
    let churn = tokio::spawn(async move {
        blocked
            .register_model(with_timeout(
                registration("churn", 0.8),
                Duration::from_secs(20),
            ))
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let fraud = register(&mut client, registration("fraud", 0.8)).await;
    assert_eq!(fraud.version, 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!churn.is_finished(), "churn waits for its own queue only");
    outsider.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        churn
            .await
            .unwrap()
            .unwrap()
            .into_inner()
            .model_version
            .unwrap()
            .version,
        2
    );
}

async fn event_times_never_go_backwards_for_a_model(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    // A replica whose clock runs years ahead wrote an event.
    execute_sql(
        &server.database_url,
        "INSERT INTO events (occurred_at, event_type, model_id, actor, reason, request_id)
         SELECT '2099-01-01 00:00:00', 'MODEL_UPDATED', id, 'skewed', '', '' FROM models
         WHERE name = 'churn'",
    )
    .await
    .unwrap();
    promote(&mut client, "churn", 1).await.unwrap();
    let events = all_events(&mut client, "churn").await;
    let times: Vec<i64> = events
        .iter()
        .map(|e| e.occurred_at.unwrap().seconds)
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // So as_of at the promotion's time answers the promotion.
    let promoted_at = events.last().unwrap().occurred_at;
    let then = client
        .get_production_model(pb::GetProductionModelRequest {
            model_name: "churn".into(),
            as_of: promoted_at,
            consistency_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(then.version, 1);
}

async fn a_binary_older_than_the_schema_refuses_it(server: TestServer) {
    execute_sql(
        &server.database_url,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')",
    )
    .await
    .unwrap();
    let refused = Store::migrate(&server.database_url).await.unwrap_err();
    assert!(
        refused.to_string().contains("newer than this binary"),
        "{refused}"
    );
    let refused = Store::check_schema(&server.database_url).await.unwrap_err();
    assert!(refused.to_string().contains("29991231000000"), "{refused}");
}
