//! The change feed's order with commits that overlap (PostgreSQL): every
//! committed event reaches a reader exactly once and in the trail's order,
//! whichever replica it resumes on, however transactions interleave. The
//! rule it holds (`server/src/store/sql/events.rs`): order by the writing
//! transaction, then the id, and read only below the oldest change still
//! running.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use model_registry_api::v1 as pb;
use model_registry_server::server::ServeOptions;
use model_registry_server::store::{DatabaseUrl, MODEL_LOCK_CLASS};

use model_registry_e2e::{Backend, Client, TestServer, events_in_pages, register, registration};

/// A change to model `model` made by hand, as the server makes one: its
/// model's queue first (before the transaction has an id), then its event.
fn queue(model: &str) -> String {
    format!(
        "BEGIN; SELECT pg_advisory_xact_lock({MODEL_LOCK_CLASS}, hashtext('{model}')); \
         SELECT pg_current_xact_id();"
    )
}

fn held_event(model: &str) -> String {
    format!(
        "INSERT INTO events (occurred_at, event_type, model_id, actor, reason, request_id)
         SELECT now(), 'MODEL_UPDATED', id, '{model}', '', '' FROM models WHERE name = '{model}'"
    )
}

/// Reads the trail through `replicas` in turn, reopening the watch after a
/// few messages each time with the last event id it received (starting
/// after `start_after`), until `enough(received)` holds, or once the total
/// is known (`enough(usize::MAX)`), after ten quiet seconds.
async fn resuming_reader(
    replicas: Vec<Client>,
    start_after: i64,
    enough: Arc<dyn Fn(usize) -> bool + Send + Sync>,
) -> Vec<i64> {
    let mut received: Vec<i64> = Vec::new();
    let mut quiet_rounds = 0;
    for round in 0usize.. {
        let mut client = replicas[round % replicas.len()].clone();
        let after_event_id = received.last().copied().unwrap_or(start_after);
        let mut stream = client
            .watch_events(pb::WatchEventsRequest {
                after_event_id,
                ..Default::default()
            })
            .await
            .expect("the watch resumes")
            .into_inner();
        // 1 to 5 messages, then resume elsewhere.
        for _ in 0..(round * 7 + 3) % 5 + 1 {
            match tokio::time::timeout(Duration::from_millis(500), stream.message()).await {
                Ok(message) => {
                    let event = message
                        .expect("no stream error")
                        .expect("open")
                        .event
                        .unwrap();
                    received.push(event.id);
                    quiet_rounds = 0;
                }
                Err(_) => {
                    if enough(received.len()) || (enough(usize::MAX) && quiet_rounds > 20) {
                        return received;
                    }
                    quiet_rounds += 1;
                    break;
                }
            }
        }
        assert!(round < 20_000, "the reader made no progress");
    }
    unreachable!()
}

/// The whole trail, oldest first, once it holds `events`: it shows an event
/// once every change that took its transaction id before it has ended.
async fn whole_trail(server: &TestServer, events: usize) -> Vec<pb::Event> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let trail = events_in_pages(&mut server.client.clone(), "", 50).await;
        if trail.len() >= events || tokio::time::Instant::now() > deadline {
            return trail;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_event_reaches_a_resuming_reader_once_in_order() {
    let Some(a) = TestServer::builder(Backend::Postgres).start().await else {
        return;
    };
    let b = a.replica(ServeOptions::default()).await;
    let DatabaseUrl::Postgres(url) = &a.database_url else {
        unreachable!("a PostgreSQL server");
    };
    register(&mut a.client.clone(), registration("older", 0.5)).await;
    register(&mut a.client.clone(), registration("younger", 0.5)).await;
    let before = whole_trail(&a, 4).await;
    let start_after = before.last().unwrap().id;

    // Known only at the end: how many events the trail holds.
    let total = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
    let reader = {
        let total = Arc::clone(&total);
        tokio::spawn(resuming_reader(
            vec![a.client.clone(), b.client.clone()],
            start_after,
            Arc::new(move |n| n >= total.load(Ordering::SeqCst)),
        ))
    };

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (r, server) in [&a, &b].into_iter().enumerate() {
        for m in 0..8 {
            let mut client = server.client.clone();
            let stop = Arc::clone(&stop);
            writers.push(tokio::spawn(async move {
                let mut made = 0;
                while made < 3 || !stop.load(Ordering::SeqCst) {
                    register(&mut client, registration(&format!("m{r}-{m}"), 0.5)).await;
                    made += 1;
                }
                made
            }));
        }
    }

    // Two transactions held open while the writers commit around them: the
    // older takes its transaction id first and writes its event last; the
    // younger writes its event early (a smaller id) and commits last.
    let mut older = AsyncPgConnection::establish(url).await.unwrap();
    let mut younger = AsyncPgConnection::establish(url).await.unwrap();
    older.batch_execute(&queue("older")).await.unwrap();
    younger.batch_execute(&queue("younger")).await.unwrap();
    younger.batch_execute(&held_event("younger")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    older.batch_execute(&held_event("older")).await.unwrap();
    older.batch_execute("COMMIT").await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    younger.batch_execute("COMMIT").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    // Each model's creation, each registration, the two held events.
    let mut written = 16 + 2;
    for writer in writers {
        written += writer.await.unwrap();
    }
    let mut trail_events = whole_trail(&a, before.len() + written).await;
    let held: Vec<&str> = trail_events
        .iter()
        .filter(|e| e.r#type == pb::EventType::ModelUpdated as i32)
        .map(|e| e.actor.as_str())
        .collect();
    assert_eq!(
        held,
        ["older", "younger"],
        "the trail's order is the transactions'"
    );
    let trail_events = trail_events.split_off(before.len());
    let trail: Vec<i64> = trail_events.iter().map(|e| e.id).collect();
    total.store(trail.len(), Ordering::SeqCst);
    let received = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader catches up")
        .unwrap();
    let missing: Vec<&pb::Event> = trail_events
        .iter()
        .filter(|e| !received.contains(&e.id))
        .collect();
    assert!(missing.is_empty(), "never delivered: {missing:#?}");
    assert_eq!(
        received, trail,
        "every committed event exactly once, in the trail's order"
    );
}
