//! WatchModelAlias, WatchProductionModel and WatchEvents: the current state
//! first, then every change as it happens, resumable after a disconnect,
//! delivered across replicas sharing one PostgreSQL database (also after the
//! listener's connection is killed), and to many watchers at once.

use std::time::{Duration, Instant};

use model_registry_api::v1 as pb;
use model_registry_server::server::ServeOptions;
use tonic::Code;
use tonic::codec::Streaming;

use model_registry_e2e::{
    Backend, Client, TestServer, execute_sql, on_both_backends, promote, register_many,
    rollback_alias, set_alias, set_status, status_of,
};

on_both_backends!(
    an_alias_watch_sends_the_state_then_every_change,
    a_resumed_watch_sends_exactly_the_missed_changes_in_order,
    a_watch_resumed_after_too_many_changes_gets_the_state_marked_as_skipping,
    latest_is_watched_through_registrations_and_status_changes,
    two_hundred_watchers_all_receive_a_change,
    watching_events_sends_every_event_once_in_order,
    an_events_watcher_that_falls_behind_the_feed_still_gets_every_event_once,
    bad_watch_requests_are_refused_up_front,
);

/// The next message, with a bound that only guards against a hang (these
/// tests are about what arrives and in which order; speed is the
/// benchmarks' business, and a loaded CI machine once took over a second).
async fn next<T>(stream: &mut Streaming<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a message within ten seconds")
        .expect("a message, not an error")
        .expect("the stream is open")
}

async fn watch(
    client: &mut Client,
    model: &str,
    alias: &str,
    after_event_id: i64,
) -> Streaming<pb::AliasUpdate> {
    client
        .watch_model_alias(pb::WatchModelAliasRequest {
            model_name: model.into(),
            alias: alias.into(),
            after_event_id,
        })
        .await
        .expect("the watch starts")
        .into_inner()
}

fn version_of(update: &pb::AliasUpdate) -> Option<i64> {
    update.model_version.as_ref().map(|v| v.version)
}

async fn an_alias_watch_sends_the_state_then_every_change(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 3).await;
    let mut canary = watch(&mut client, "churn", "canary", 0).await;
    let first = next(&mut canary).await;
    assert!(first.initial && first.event.is_none());
    assert_eq!(version_of(&first), None, "the alias points nowhere yet");

    set_alias(&mut client, "churn", "canary", 2).await.unwrap();
    let moved = next(&mut canary).await;
    assert_eq!((version_of(&moved), moved.initial), (Some(2), false));
    let event = moved.event.as_ref().unwrap();
    assert_eq!(
        (event.r#type, event.alias.as_str()),
        (pb::EventType::AliasSet as i32, "canary")
    );
    assert_eq!(moved.event_id, event.id);

    // Other aliases and models do not disturb this watch.
    promote(&mut client, "churn", 1).await.unwrap();
    register_many(&mut client, "fraud", 1).await;
    set_alias(&mut client, "churn", "canary", 3).await.unwrap();
    assert_eq!(version_of(&next(&mut canary).await), Some(3));
    rollback_alias(&mut client, "churn", "canary")
        .await
        .unwrap();
    let back = next(&mut canary).await;
    assert_eq!(version_of(&back), Some(2));
    assert_eq!(
        back.event.unwrap().r#type,
        pb::EventType::AliasRolledBack as i32
    );
    client
        .delete_model_alias(pb::DeleteModelAliasRequest {
            model_name: "churn".into(),
            alias: "canary".into(),
            reason: "done".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let deleted = next(&mut canary).await;
    assert_eq!(version_of(&deleted), None);
    assert!(deleted.event_id > back.event_id);

    // WatchProductionModel is the production alias's watch.
    let mut production = client
        .watch_production_model(pb::WatchProductionModelRequest {
            model_name: "churn".into(),
            after_event_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let state = next(&mut production).await;
    assert_eq!(
        (state.alias.as_str(), version_of(&state)),
        ("production", Some(1))
    );
    assert!(state.model_version.unwrap().is_production);
    promote(&mut client, "churn", 3).await.unwrap();
    assert_eq!(version_of(&next(&mut production).await), Some(3));
}

async fn a_resumed_watch_sends_exactly_the_missed_changes_in_order(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 5).await;
    set_alias(&mut client, "churn", "staging", 1).await.unwrap();
    let mut staging = watch(&mut client, "churn", "staging", 0).await;
    let state = next(&mut staging).await;
    let resume_from = state.event_id;
    drop(staging);
    // Changes while the watcher is away, mixed with others.
    for version in [2, 3] {
        set_alias(&mut client, "churn", "staging", version)
            .await
            .unwrap();
        set_alias(&mut client, "churn", "canary", version)
            .await
            .unwrap();
    }
    rollback_alias(&mut client, "churn", "staging")
        .await
        .unwrap();
    let mut resumed = watch(&mut client, "churn", "staging", resume_from).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let update = next(&mut resumed).await;
        assert!(!update.initial && !update.skipped_changes);
        seen.push((version_of(&update), update.event_id));
    }
    assert_eq!(
        seen.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        [Some(2), Some(3), Some(2)]
    );
    assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "in event order");
    // And then it follows live changes.
    set_alias(&mut client, "churn", "staging", 5).await.unwrap();
    assert_eq!(version_of(&next(&mut resumed).await), Some(5));
}

async fn a_watch_resumed_after_too_many_changes_gets_the_state_marked_as_skipping(
    server: TestServer,
) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    register_many(&mut client, "upsell", 2).await;
    set_alias(&mut client, "churn", "staging", 1).await.unwrap();
    let mut staging = watch(&mut client, "churn", "staging", 0).await;
    let resume_from = next(&mut staging).await.event_id;
    drop(staging);
    // More moves of this alias than a resume replays (256), among moves of
    // the same alias of another model, which the replay must not count.
    for round in 0..257 {
        let version = 1 + (round + 1) % 2;
        set_alias(&mut client, "churn", "staging", version)
            .await
            .unwrap();
        if round % 16 == 0 {
            set_alias(&mut client, "upsell", "staging", version)
                .await
                .unwrap();
        }
    }
    let mut resumed = watch(&mut client, "churn", "staging", resume_from).await;
    let update = next(&mut resumed).await;
    assert!(update.skipped_changes, "told that changes were skipped");
    assert_eq!(version_of(&update), Some(2), "the state now");
    // 256 moves are replayed one by one.
    let mut fewer = watch(&mut client, "churn", "staging", resume_from + 2).await;
    let first = next(&mut fewer).await;
    assert!(!first.skipped_changes && !first.initial);
}

async fn latest_is_watched_through_registrations_and_status_changes(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    let mut latest = watch(&mut client, "churn", "latest", 0).await;
    assert_eq!(version_of(&next(&mut latest).await), Some(2));
    register_many(&mut client, "churn", 1).await;
    assert_eq!(version_of(&next(&mut latest).await), Some(3));
    set_status(&mut client, "churn", 3, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    assert_eq!(version_of(&next(&mut latest).await), Some(2));
}

async fn two_hundred_watchers_all_receive_a_change(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    promote(&mut client, "churn", 1).await.unwrap();
    // Over four connections: one holds at most 100 streams
    // (MAX_STREAMS_PER_CONNECTION), further calls on it wait for a slot.
    let mut watchers = Vec::new();
    for _ in 0..4 {
        let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut own = Client::new(channel);
        for _ in 0..50 {
            let mut stream = watch(&mut own, "churn", "production", 0).await;
            assert_eq!(version_of(&next(&mut stream).await), Some(1));
            watchers.push(stream);
        }
    }
    let moved = Instant::now();
    promote(&mut client, "churn", 2).await.unwrap();
    for stream in &mut watchers {
        assert_eq!(version_of(&next(stream).await), Some(2));
    }
    assert!(
        moved.elapsed() < Duration::from_secs(5),
        "{:?}",
        moved.elapsed()
    );
}

async fn watching_events_sends_every_event_once_in_order(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 1).await;
    let mut all = client
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut aliases_only = client
        .watch_events(pb::WatchEventsRequest {
            model_name: "churn".into(),
            types: vec![pb::EventType::AliasSet as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    register_many(&mut client, "churn", 2).await;
    promote(&mut client, "churn", 2).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(next(&mut all).await.event.unwrap().id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let promotion = next(&mut aliases_only).await.event.unwrap();
    assert_eq!(promotion.alias, "production");
    // Resuming from an old id replays the trail from there.
    let mut replay = client
        .watch_events(pb::WatchEventsRequest {
            after_event_id: ids[0],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut replay).await.event.unwrap().id, ids[1]);
    assert_eq!(next(&mut replay).await.event.unwrap().id, ids[2]);
    // One model's watch resumes through that model's events only, among
    // another model's; from now on means after its newest event.
    register_many(&mut client, "fraud", 2).await;
    let mut churn_only = client
        .watch_events(pb::WatchEventsRequest {
            after_event_id: ids[0],
            model_name: "churn".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut churn_only).await.event.unwrap().id, ids[1]);
    assert_eq!(next(&mut churn_only).await.event.unwrap().id, ids[2]);
    let mut fraud_from_now = client
        .watch_events(pb::WatchEventsRequest {
            model_name: "fraud".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    register_many(&mut client, "churn", 1).await;
    register_many(&mut client, "fraud", 1).await;
    let churn_next = next(&mut churn_only).await.event.unwrap();
    assert_eq!(
        (churn_next.model_name.as_str(), churn_next.version),
        ("churn", Some(4))
    );
    let fraud_next = next(&mut fraud_from_now).await.event.unwrap();
    assert_eq!(
        (fraud_next.model_name.as_str(), fraud_next.version),
        ("fraud", Some(3))
    );
}

/// A watcher that stops reading while more events than the feed buffers
/// go by (its stream's window fills, then the server's queue, then the
/// feed's buffer) catches up from the trail and then follows the feed
/// again: every event once, in order.
async fn an_events_watcher_that_falls_behind_the_feed_still_gets_every_event_once(
    server: TestServer,
) {
    const BURST: usize = 2 * model_registry_server::changes::FEED_CAPACITY;
    let mut client = server.client.clone();
    register_many(&mut client, "burst", 1).await;
    // A small window, so the stalled stream stops the server's producer
    // after a few dozen events rather than 2 MiB of them.
    let small_window = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .initial_stream_window_size(Some(16 * 1024))
        .connect()
        .await
        .unwrap();
    let mut stalled = Client::new(small_window)
        .watch_events(pb::WatchEventsRequest {
            model_name: "burst".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut all = client
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // A burst the feed reads and broadcasts at once (one transaction, as
    // from another replica), woken by the registration after it.
    execute_sql(
        &server.database_url,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BURST})
             INSERT INTO events (occurred_at, event_type, model_id, actor, reason, request_id)
             SELECT CURRENT_TIMESTAMP, 'MODEL_UPDATED', models.id, 'burst', '', ''
             FROM models, n WHERE models.name = 'burst'"
        ),
    )
    .await
    .unwrap();
    register_many(&mut client, "burst", 1).await;
    // The reading watcher first: once it has the registration, the feed has
    // broadcast the whole burst past the stalled one.
    for stream in [&mut all, &mut stalled] {
        let mut ids = Vec::new();
        for _ in 0..BURST {
            let event = next(stream).await.event.unwrap();
            assert_eq!(event.r#type, pb::EventType::ModelUpdated as i32);
            ids.push(event.id);
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, once each");
        assert_eq!(next(stream).await.event.unwrap().version, Some(2));
    }
    // And they follow the feed again afterwards.
    register_many(&mut client, "burst", 1).await;
    for stream in [&mut stalled, &mut all] {
        assert_eq!(next(stream).await.event.unwrap().version, Some(3));
    }
}

async fn bad_watch_requests_are_refused_up_front(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 1).await;
    let missing = client
        .watch_model_alias(pb::WatchModelAliasRequest {
            model_name: "fraud".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(status_of(missing).code(), Code::NotFound);
    let bad = client
        .watch_model_alias(pb::WatchModelAliasRequest {
            model_name: "Churn".into(),
            alias: "No".into(),
            after_event_id: -1,
        })
        .await;
    let bad = status_of(bad);
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("model_name") && bad.message().contains("after_event_id"));
    // The trail resumes after an event it holds, nothing else: an id it
    // never gave out has no place in its order.
    let unknown = client
        .watch_events(pb::WatchEventsRequest {
            after_event_id: 1_000_000,
            ..Default::default()
        })
        .await;
    let unknown = status_of(unknown);
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().contains("after_event_id") && unknown.message().contains("1000000"),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_reaches_the_watchers_of_another_within_a_second() {
    let Some(a) = TestServer::builder(Backend::Postgres).start().await else {
        return;
    };
    let b = a.replica(ServeOptions::default()).await;
    let c = a.replica(ServeOptions::default()).await;
    let mut through_a = a.client.clone();
    register_many(&mut through_a, "churn", 3).await;
    promote(&mut through_a, "churn", 1).await.unwrap();
    let mut on_b = watch(&mut b.client.clone(), "churn", "production", 0).await;
    let mut on_c = watch(&mut c.client.clone(), "churn", "production", 0).await;
    assert_eq!(version_of(&next(&mut on_b).await), Some(1));
    assert_eq!(version_of(&next(&mut on_c).await), Some(1));

    promote(&mut through_a, "churn", 2).await.unwrap();
    // Read through B as soon as A answered: the new version.
    let production = b
        .client
        .clone()
        .get_production_model(pb::GetProductionModelRequest {
            model_name: "churn".into(),
            as_of: None,
            consistency_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(production.version, 2);
    assert_eq!(version_of(&next(&mut on_b).await), Some(2));
    assert_eq!(version_of(&next(&mut on_c).await), Some(2));

    // Kill every listener's connection; a change made meanwhile still
    // arrives once they reconnect (well within the second).
    execute_sql(
        &a.database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'model-registry listener' AND datname = current_database()",
    )
    .await
    .unwrap();
    promote(&mut through_a, "churn", 3).await.unwrap();
    assert_eq!(version_of(&next(&mut on_b).await), Some(3));
    assert_eq!(version_of(&next(&mut on_c).await), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_sixteen_models_through_two_replicas_arrive_once_in_order() {
    let Some(a) = TestServer::builder(Backend::Postgres).start().await else {
        return;
    };
    let b = a.replica(ServeOptions::default()).await;
    let mut watcher = b
        .client
        .clone()
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut writers = Vec::new();
    for model in 0..16 {
        for (replica, server) in [&a, &b].into_iter().enumerate() {
            let mut client = server.client.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..5 {
                    let mut request = model_registry_e2e::registration(&format!("m{model}"), 0.5);
                    request.request_id = format!("{model}-{i}-{replica}");
                    client.register_model(request).await.unwrap();
                }
            }));
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    // 16 MODEL_CREATED + 160 VERSION_REGISTERED, once every older
    // transaction on the cluster ended (other tests hold theirs open).
    let deadline = Instant::now() + Duration::from_secs(30);
    let paged = loop {
        let paged = model_registry_e2e::events_in_pages(&mut a.client.clone(), "", 7).await;
        if paged.len() >= 176 || Instant::now() > deadline {
            break paged;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(paged.len(), 176);
    let paged_ids: Vec<i64> = paged.iter().map(|e| e.id).collect();
    let distinct: std::collections::HashSet<i64> = paged_ids.iter().copied().collect();
    assert_eq!(distinct.len(), paged_ids.len(), "no event twice");
    // Each model's events in id order (across models, the feed's order is
    // the order transactions took their ids, not the ids').
    for model in 0..16 {
        let name = format!("m{model}");
        let ids: Vec<i64> = paged
            .iter()
            .filter(|e| e.model_name == name)
            .map(|e| e.id)
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{name}: {ids:?}");
    }
    let mut watched_ids = Vec::new();
    while watched_ids.len() < paged_ids.len() {
        watched_ids.push(
            tokio::time::timeout(Duration::from_secs(5), watcher.message())
                .await
                .expect("every event arrives")
                .unwrap()
                .unwrap()
                .event
                .unwrap()
                .id,
        );
    }
    assert_eq!(
        watched_ids, paged_ids,
        "every event exactly once, in the trail's order"
    );
}

on_both_backends!(backend: from_now_right_after_start_up_is_from_now);

/// `after_event_id = 0` on a server that has just started (its feed still
/// finding its place) sends the changes made after the call, never the
/// trail from its start.
async fn from_now_right_after_start_up_is_from_now(backend: Backend) {
    let Some(first) = TestServer::builder(backend).start().await else {
        return;
    };
    let mut client = first.client.clone();
    register_many(&mut client, "churn", 3).await;
    let fresh = first.replica(ServeOptions::default()).await;
    let mut from_now = fresh
        .client
        .clone()
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Through the fresh server: a second SQLite process hears of another's
    // commits only at its safety poll.
    register_many(&mut fresh.client.clone(), "fraud", 1).await;
    // What this asserts is which event comes first, not how soon: a fresh
    // replica's first reads can take over a second while the whole suite
    // loads the two cores (speed is the benchmarks' business).
    let event = tokio::time::timeout(Duration::from_secs(10), from_now.message())
        .await
        .expect("a message within ten seconds")
        .expect("a message, not an error")
        .expect("the stream is open")
        .event
        .unwrap();
    assert_eq!(event.model_name, "fraud", "{event:?}");
}

on_both_backends!(backend: a_stream_at_its_lifetime_ends_unavailable_and_resumes_where_it_was);

/// A watch open for --max-stream-lifetime ends with UNAVAILABLE saying how
/// to resume; resumed with the last event id, it misses nothing.
async fn a_stream_at_its_lifetime_ends_unavailable_and_resumes_where_it_was(backend: Backend) {
    let options = ServeOptions {
        stream_lifetime: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let Some(server) = TestServer::builder(backend).options(options).start().await else {
        return;
    };
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    promote(&mut client, "churn", 1).await.unwrap();
    let opened = Instant::now();
    let mut stream = watch(&mut client, "churn", "production", 0).await;
    let first = next(&mut stream).await;
    assert_eq!(version_of(&first), Some(1));
    let ended = tokio::time::timeout(Duration::from_secs(3), stream.message())
        .await
        .expect("the stream ends at its lifetime");
    let status = ended.map(|_| ()).unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("after_event_id"), "{status:?}");
    assert!(opened.elapsed() >= Duration::from_millis(500));
    promote(&mut client, "churn", 2).await.unwrap();
    let last_seen = first.event.map_or(0, |event| event.id);
    let mut resumed = watch(&mut client, "churn", "production", last_seen).await;
    assert_eq!(version_of(&next(&mut resumed).await), Some(2));
}
