//! Behaviour under concurrent callers: gap-free version numbers, one
//! production version, pagination while rows are inserted, and callers that
//! give up while their change waits.

use std::collections::HashSet;
use std::time::Duration;

use model_registry_api::v1 as pb;
use model_registry_server::store::{DatabaseUrl, MODEL_LOCK_CLASS};

use model_registry_e2e::{
    Backend, TestServer, all_events, events_in_pages, on_both_backends, production_version,
    promote, register, register_many, registration,
};

on_both_backends!(
    concurrent_registrations_of_a_new_model_get_versions_one_to_32_exactly_once,
    concurrent_promotions_leave_one_production_version_and_a_trail_that_replays_to_it,
    pagination_returns_every_row_exactly_once_while_inserts_run,
    paging_the_trail_while_many_models_change_skips_no_event,
);

async fn concurrent_registrations_of_a_new_model_get_versions_one_to_32_exactly_once(
    server: TestServer,
) {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let mut client = server.client.clone();
            tokio::spawn(async move {
                register(
                    &mut client,
                    registration("churn", 0.5 + f64::from(i) / 100.0),
                )
                .await
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap().version);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=32).collect::<Vec<i64>>());

    let mut client = server.client.clone();
    let events = all_events(&mut client, "churn").await;
    let count = |kind: pb::EventType| events.iter().filter(|e| e.r#type == kind as i32).count();
    assert_eq!(count(pb::EventType::ModelCreated), 1);
    assert_eq!(count(pb::EventType::VersionRegistered), 32);
}

async fn concurrent_promotions_leave_one_production_version_and_a_trail_that_replays_to_it(
    server: TestServer,
) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 16).await;
    let tasks: Vec<_> = (1..=16)
        .map(|version| {
            let mut client = server.client.clone();
            tokio::spawn(async move { promote(&mut client, "churn", version).await })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("every promotion succeeds in turn");
    }
    let production = client
        .list_model_versions(pb::ListModelVersionsRequest {
            model_name: "churn".into(),
            production_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_versions;
    assert_eq!(production.len(), 1, "exactly one production version");
    let current = production_version(&mut client, "churn").await;
    assert_eq!(Some(production[0].version), current);

    // Replaying the trail reproduces the production version, and each change
    // starts where the one before it ended.
    let changes: Vec<pb::Event> = all_events(&mut client, "churn")
        .await
        .into_iter()
        .filter(|e| e.r#type == pb::EventType::AliasSet as i32)
        .collect();
    assert_eq!(changes.len(), 16);
    let mut replayed: Option<i64> = None;
    for change in &changes {
        assert_eq!(
            change.previous_version, replayed,
            "event {} is chained",
            change.id
        );
        replayed = change.new_version;
    }
    assert_eq!(replayed, current);
}

async fn pagination_returns_every_row_exactly_once_while_inserts_run(server: TestServer) {
    let mut client = server.client.clone();
    let initial: HashSet<String> = register_many(&mut client, "churn", 30)
        .await
        .into_iter()
        .map(|v| v.id)
        .collect();
    for (order_by, metric, descending) in [
        (pb::VersionOrder::Version, "", false),
        (pb::VersionOrder::CreatedAt, "", true),
        (pb::VersionOrder::Metric, "auc", true),
    ] {
        let mut writer_client = server.client.clone();
        let writer = tokio::spawn(async move {
            for i in 0..10 {
                register(
                    &mut writer_client,
                    registration("churn", 0.4 + f64::from(i) / 100.0),
                )
                .await;
            }
        });
        let mut seen = Vec::new();
        let mut page_token = String::new();
        for _ in 0..100 {
            let page = client
                .list_model_versions(pb::ListModelVersionsRequest {
                    model_name: "churn".into(),
                    order_by: order_by as i32,
                    order_metric: metric.into(),
                    descending,
                    page_size: 7,
                    page_token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            seen.extend(page.model_versions.into_iter().map(|v| v.id));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        writer.await.unwrap();
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{order_by:?}: no row twice");
        assert!(
            initial.is_subset(&unique),
            "{order_by:?}: every row present from the start is returned"
        );
    }
}

async fn paging_the_trail_while_many_models_change_skips_no_event(server: TestServer) {
    let writers: Vec<_> = (0..8)
        .map(|m| {
            let mut client = server.client.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    register(&mut client, registration(&format!("model-{m}"), 0.5)).await;
                }
            })
        })
        .collect();

    // Walk the whole trail again and again while the writers run. The trail
    // only ever grows at its end: each walk is the start of the next, so an
    // event that commits late never lands before what a reader has paged
    // past (a reader paging by id alone would skip it).
    let mut client = server.client.clone();
    let mut walks: Vec<Vec<i64>> = Vec::new();
    for _ in 0..400 {
        let done = writers.iter().all(|w| w.is_finished());
        let seen: Vec<i64> = events_in_pages(&mut client, "", 7)
            .await
            .iter()
            .map(|e| e.id)
            .collect();
        // Done when a walk after the writers shows every event (one waits
        // while another test holds a transaction open on the cluster).
        let complete = done && seen.len() == 8 * 11;
        walks.push(seen);
        if complete {
            break;
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let all = walks.last().unwrap();
    assert_eq!(
        all.iter().copied().collect::<HashSet<i64>>().len(),
        8 * 11,
        "8 models created and 80 versions registered, each once"
    );
    for (n, walk) in walks.iter().enumerate() {
        assert_eq!(
            walk[..],
            all[..walk.len()],
            "walk {n} is not the start of the trail: an event landed before its end"
        );
    }
}

/// Another session's hold on the database, released when asked.
enum Hold {
    Postgres(Box<diesel_async::AsyncPgConnection>),
    Sqlite(diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>),
}

impl Hold {
    /// Holds the queue of changes to model `model` (PostgreSQL: taking no
    /// transaction id, so the change feed of other tests on the cluster
    /// does not wait for it) or the write lock of the whole file (SQLite)
    /// until [`Hold::release`].
    async fn take(url: &DatabaseUrl, model: &str) -> Self {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        match url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = diesel_async::AsyncPgConnection::establish(url)
                    .await
                    .expect("connect");
                conn.batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({MODEL_LOCK_CLASS}, hashtext('{model}'));"
                ))
                .await
                .expect("hold the model's queue");
                Self::Postgres(Box::new(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel_async::sync_connection_wrapper::SyncConnectionWrapper::<
                    diesel::SqliteConnection,
                >::establish(path)
                .await
                .expect("open");
                conn.batch_execute("BEGIN IMMEDIATE")
                    .await
                    .expect("take the write lock");
                Self::Sqlite(conn)
            }
        }
    }

    async fn release(self) {
        use diesel_async::SimpleAsyncConnection;
        match self {
            Self::Postgres(mut conn) => conn.batch_execute("ROLLBACK").await,
            Self::Sqlite(mut conn) => conn.batch_execute("ROLLBACK").await,
        }
        .expect("release");
    }
}

on_both_backends!(backend: a_change_whose_caller_hung_up_while_it_waited_is_never_made);

/// A caller that gives up (its own timer: the server is not told a
/// deadline) while its change waits for a lock gets no answer; the change
/// must not commit once the lock frees, seconds later.
async fn a_change_whose_caller_hung_up_while_it_waited_is_never_made(backend: Backend) {
    let Some(server) = TestServer::builder(backend).start().await else {
        return;
    };
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    promote(&mut client, "churn", 1).await.expect("promote");
    let events = all_events(&mut client, "churn").await.len();
    let hold = Hold::take(&server.database_url, "churn").await;

    let mut mover = server.client.clone();
    let gave_up = tokio::time::timeout(Duration::from_millis(700), async move {
        mover
            .set_production_model(pb::SetProductionModelRequest {
                model_name: "churn".to_owned(),
                version: 2,
                reason: "the caller hangs up".to_owned(),
                ..Default::default()
            })
            .await
    })
    .await;
    assert!(
        gave_up.is_err(),
        "the change waited for the lock: {gave_up:?}"
    );
    // The lock frees well after the caller left.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    hold.release().await;

    // A later change commits (so the writer is free again), and the
    // abandoned one did not.
    register(&mut client, registration("churn", 0.9)).await;
    assert_eq!(production_version(&mut client, "churn").await, Some(1));
    let kinds: Vec<String> = all_events(&mut client, "churn")
        .await
        .into_iter()
        .skip(events)
        .map(|event| format!("{:?}", event.r#type()))
        .collect();
    assert_eq!(kinds.len(), 1, "only the registration after it: {kinds:?}");
}

on_both_backends!(backend: changes_waiting_for_one_model_commit_together_and_a_failing_one_rolls_back_alone);

/// Changes to one model that queue while another holds it commit in one
/// group (PostgreSQL: one transaction, so one consistency token): each
/// answered as if alone, version numbers gap-free, and the changes that
/// fail, or whose caller's deadline passes while they wait, leave no trace.
async fn changes_waiting_for_one_model_commit_together_and_a_failing_one_rolls_back_alone(
    backend: Backend,
) {
    let Some(server) = TestServer::builder(backend).start().await else {
        return;
    };
    let mut client = server.client.clone();
    register_many(&mut client, "batched", 2).await;
    promote(&mut client, "batched", 1).await.expect("promote");
    let events_before = all_events(&mut client, "batched").await.len();
    let hold = Hold::take(&server.database_url, "batched").await;

    let keyed = |request_id: &str, auc: f64| pb::RegisterModelRequest {
        request_id: request_id.to_owned(),
        ..registration("batched", auc)
    };
    // The first change takes the model's writer and waits for the hold …
    let first = {
        let mut client = server.client.clone();
        let request = keyed("first", 0.50);
        tokio::spawn(async move { client.register_model(request).await })
    };
    wait_for_pending_changes(&server, 1).await;
    // … so these queue behind it, on this replica.
    let mut registrations = Vec::new();
    for (n, request_id) in ["r0", "r1", "r2", "r3", "r4", "r5", "r0"]
        .into_iter()
        .enumerate()
    {
        let mut client = server.client.clone();
        // The second "r0" is a retry of the first: same payload.
        let auc = if n == 6 {
            0.60
        } else {
            0.60 + n as f64 / 100.0
        };
        let request = keyed(request_id, auc);
        registrations.push(tokio::spawn(
            async move { client.register_model(request).await },
        ));
    }
    let reused_key = {
        let mut client = server.client.clone();
        let request = keyed("first", 0.99);
        tokio::spawn(async move { client.register_model(request).await })
    };
    let missing_version = {
        let mut client = server.client.clone();
        tokio::spawn(async move {
            client
                .set_model_alias(pb::SetModelAliasRequest {
                    model_name: "batched".to_owned(),
                    alias: "canary".to_owned(),
                    version: 999,
                    reason: "no such version".to_owned(),
                    ..Default::default()
                })
                .await
        })
    };
    let promotion = {
        let mut client = server.client.clone();
        tokio::spawn(async move { promote(&mut client, "batched", 2).await })
    };
    let too_late = {
        let mut request = tonic::Request::new(pb::SetModelAliasRequest {
            model_name: "batched".to_owned(),
            alias: "shadow".to_owned(),
            version: 1,
            reason: "too late".to_owned(),
            ..Default::default()
        });
        request.set_timeout(Duration::from_millis(300));
        let mut client = server.client.clone();
        tokio::spawn(async move { client.set_model_alias(request).await })
    };
    wait_for_pending_changes(&server, 12).await;
    let too_late = too_late
        .await
        .unwrap()
        .expect_err("its deadline passed while it waited");
    // The client's own timer fires with the server's: either way, it left.
    assert!(
        matches!(
            too_late.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{too_late:?}"
    );
    hold.release().await;

    let first = first.await.unwrap().expect("the first change").into_inner();
    assert_eq!(first.model_version.as_ref().map(|v| v.version), Some(3));
    let mut versions = Vec::new();
    let mut tokens = HashSet::new();
    let mut by_key = std::collections::HashMap::new();
    for (n, task) in registrations.into_iter().enumerate() {
        let answer = task.await.unwrap().expect("registration").into_inner();
        let version = answer.model_version.expect("a version").version;
        if !answer.consistency_token.is_empty() {
            tokens.insert(answer.consistency_token.clone());
        }
        let key = if n == 6 { 0 } else { n };
        if let Some(earlier) = by_key.insert(key, version) {
            assert_eq!(earlier, version, "the retry of r0 answers the same version");
        } else {
            versions.push(version);
        }
    }
    versions.sort_unstable();
    assert_eq!(versions, (4..=9).collect::<Vec<i64>>(), "gap-free");
    let reused_key = reused_key
        .await
        .unwrap()
        .expect_err("another payload under a used key");
    assert_eq!(
        reused_key.code(),
        tonic::Code::AlreadyExists,
        "{reused_key:?}"
    );
    let missing_version = missing_version.await.unwrap().expect_err("no version 999");
    assert_eq!(
        missing_version.code(),
        tonic::Code::NotFound,
        "{missing_version:?}"
    );
    let promotion = promotion.await.unwrap().expect("promotion");
    if !promotion.consistency_token.is_empty() {
        tokens.insert(promotion.consistency_token.clone());
    }

    assert_eq!(production_version(&mut client, "batched").await, Some(2));
    let kinds: Vec<String> = all_events(&mut client, "batched")
        .await
        .into_iter()
        .skip(events_before)
        .map(|event| format!("{:?}", event.r#type()))
        .collect();
    let registered = kinds
        .iter()
        .filter(|kind| *kind == "VersionRegistered")
        .count();
    assert_eq!(registered, 7, "the first and six more: {kinds:?}");
    assert_eq!(kinds.len(), 8, "and the promotion, nothing else: {kinds:?}");
    if backend == Backend::Postgres {
        assert_eq!(
            tokens.len(),
            1,
            "the changes that waited together committed in one transaction: {tokens:?}"
        );
        assert!(!tokens.contains(&first.consistency_token));
    }
}

/// Waits until at least `count` changes are pending in the server's store.
async fn wait_for_pending_changes(server: &TestServer, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.store.pending_changes() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} changes pending",
            server.store.pending_changes()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
