//! Alias reads served from each replica's change-fed cache (PostgreSQL):
//! a caller reads its own change at once on the replica that made it, and
//! through any other replica with the change's consistency token; without
//! one, another replica trails by the feed's delay (measured here); a
//! replica whose listener is lost reads the database until its feed has
//! caught up again, then serves from the cache once more.

use std::time::{Duration, Instant};

use model_registry_api::v1 as pb;
use model_registry_server::server::ServeOptions;
use model_registry_server::store::DatabaseUrl;
use tonic::Code;

use model_registry_e2e::{
    Backend, Client, HeldFeed, TestServer, execute_sql, on_both_backends, promote, register_many,
};

on_both_backends!(
    a_replica_reads_its_own_changes_at_once,
    consistency_tokens_come_with_changes_and_are_checked,
);

async fn production(client: &mut Client, token: &str) -> i64 {
    client
        .get_production_model(pb::GetProductionModelRequest {
            model_name: "churn".into(),
            as_of: None,
            consistency_token: token.into(),
        })
        .await
        .expect("production is set")
        .into_inner()
        .model_version
        .unwrap()
        .version
}

async fn a_replica_reads_its_own_changes_at_once(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    for round in 0..200 {
        let version = round % 2 + 1;
        promote(&mut client, "churn", version).await.unwrap();
        assert_eq!(production(&mut client, "").await, version, "round {round}");
    }
}

async fn consistency_tokens_come_with_changes_and_are_checked(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    let moved = promote(&mut client, "churn", 1).await.unwrap();
    let again = promote(&mut client, "churn", 1).await.unwrap();
    assert!(again.unchanged);
    assert_eq!(again.consistency_token, "", "nothing written, no token");
    match server.database_url {
        DatabaseUrl::Postgres(_) => assert!(moved.consistency_token.starts_with("v1.")),
        // Every read of SQLite sees every commit.
        DatabaseUrl::Sqlite(_) => assert_eq!(moved.consistency_token, ""),
    }
    // A token from the same database reads fine on either.
    assert_eq!(production(&mut client, "v1.17").await, 1);
    for bad in ["17", "v1.", "v1.-3", "token"] {
        let status = client
            .get_production_model(pb::GetProductionModelRequest {
                model_name: "churn".into(),
                as_of: None,
                consistency_token: bad.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}");
        assert!(status.message().contains("consistency_token"), "{status:?}");
    }
}

/// Moves production straight in the table, writing no event: no feed
/// hears of it, so only a read of the database shows it.
async fn move_behind_the_feeds_back(url: &DatabaseUrl, version: i64) {
    execute_sql(
        url,
        &format!(
            "UPDATE aliases SET version = {version} WHERE alias = 'production' \
             AND model_id = (SELECT id FROM models WHERE name = 'churn')"
        ),
    )
    .await
    .unwrap();
}

/// Whether `client`'s replica answers production from its cache: it reads
/// production (filling the cache), the table is changed behind every
/// feed's back, and a second read still shows the first. The table is
/// put back as it was.
async fn answered_from_cache(client: &mut Client, url: &DatabaseUrl) -> bool {
    let truth = production(client, "").await;
    let other = 3 - truth;
    move_behind_the_feeds_back(url, other).await;
    let second = production(client, "").await;
    move_behind_the_feeds_back(url, truth).await;
    second == truth
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Three replicas, 1,000 rounds of "promote through one, read through the
/// two others with the token": never a stale read, neither while the feeds
/// keep up nor while they are held back. Then the same without the
/// token, which may trail by the feed's delay: every stale read turns
/// fresh, and how long that takes is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_is_read_through_any_replica_with_its_token() {
    let Some(a) = TestServer::builder(Backend::Postgres).start().await else {
        return;
    };
    let b = a.replica(ServeOptions::default()).await;
    let c = a.replica(ServeOptions::default()).await;
    let replicas = [a.client.clone(), b.client.clone(), c.client.clone()];
    register_many(&mut a.client.clone(), "churn", 2).await;
    const ROUNDS: usize = 1000;
    let DatabaseUrl::Postgres(url) = &a.database_url else {
        unreachable!("a PostgreSQL server");
    };
    let mut holder = None;
    let mut stale_with_token = 0;
    for round in 0..ROUNDS {
        if round == ROUNDS / 2 {
            // From here on every replica's feed is held back: a change to
            // another model has begun and does not end (its transaction
            // holds the horizon), so no cache hears of these moves.
            holder = Some(HeldFeed::hold(url).await);
        }
        let version = (round % 2 + 1) as i64;
        let moved = promote(&mut replicas[round % 3].clone(), "churn", version)
            .await
            .unwrap();
        let token = moved.consistency_token;
        assert!(!token.is_empty(), "a move writes, so it has a token");
        // Through both others: each then holds in its cache what the next
        // round's move (through another replica) makes stale.
        for other in [1, 2] {
            let mut reader = replicas[(round + other) % 3].clone();
            if production(&mut reader, &token).await != version {
                stale_with_token += 1;
            }
        }
    }
    assert_eq!(stale_with_token, 0, "stale reads with the token");
    // What the token is for: with the feeds held, a replica that answered
    // from its cache before a move still answers the old version without it.
    let mut reader = replicas[1].clone();
    let before = production(&mut reader, "").await;
    let moved = promote(&mut replicas[0].clone(), "churn", 3 - before)
        .await
        .unwrap();
    assert_eq!(
        production(&mut reader, "").await,
        before,
        "without the token"
    );
    assert_eq!(
        production(&mut reader, &moved.consistency_token).await,
        3 - before,
        "with it"
    );
    if let Some(holder) = holder {
        holder.release().await;
    }

    let mut staleness = Vec::new();
    for round in 0..ROUNDS {
        let version = (round % 2 + 1) as i64;
        promote(&mut replicas[round % 3].clone(), "churn", version)
            .await
            .unwrap();
        let answered = Instant::now();
        for other in [1, 2] {
            let mut reader = replicas[(round + other) % 3].clone();
            if production(&mut reader, "").await != version {
                while production(&mut reader, "").await != version {
                    assert!(
                        answered.elapsed() < Duration::from_secs(5),
                        "a stale read turns fresh within 5 s"
                    );
                }
                staleness.push(answered.elapsed());
            }
        }
    }
    staleness.sort();
    let at = |q: f64| {
        staleness
            .get(((staleness.len() as f64 * q) as usize).min(staleness.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "without a token: {} of {} reads through another replica were stale; \
         fresh after p50 {:?}, p99 {:?}, max {:?}",
        staleness.len(),
        2 * ROUNDS,
        at(0.5),
        at(0.99),
        staleness.last().copied().unwrap_or_default(),
    );
}

/// The listener's connection is killed: the replica stops answering from
/// its cache at once (a move made behind every feed's back shows), reads
/// with a token stay fresh meanwhile, and once the feed has read the trail
/// on a new connection the cache answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_listener_is_killed_reads_the_database_until_its_feed_caught_up() {
    let Some(a) = TestServer::builder(Backend::Postgres).start().await else {
        return;
    };
    let b = a.replica(ServeOptions::default()).await;
    let url = a.database_url.clone();
    let (mut writer, mut reader) = (a.client.clone(), b.client.clone());
    register_many(&mut writer, "churn", 2).await;
    // Once the reader's watch has the move, its feed has applied it: no
    // late event empties the cache after this.
    let mut moves = reader
        .watch_production_model(pb::WatchProductionModelRequest {
            model_name: "churn".into(),
            after_event_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let initial = moves.message().await.unwrap().unwrap();
    assert!(initial.initial && initial.model_version.is_none());
    promote(&mut writer, "churn", 1).await.unwrap();
    let moved = tokio::time::timeout(Duration::from_secs(5), moves.message())
        .await
        .expect("the move reaches the reader's feed")
        .unwrap()
        .unwrap();
    assert_eq!(moved.model_version.map(|v| v.version), Some(1));
    eventually("the cache answers", async || {
        answered_from_cache(&mut reader, &url).await
    })
    .await;
    // The cache holds 1; the table says 2, and no feed knows.
    move_behind_the_feeds_back(&url, 2).await;
    assert_eq!(production(&mut reader, "").await, 1, "from the cache");

    execute_sql(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'model-registry listener' AND datname = current_database()",
    )
    .await
    .unwrap();
    // Dropped because the listener was lost: no event was written.
    eventually("reads go to the database", async || {
        production(&mut reader, "").await == 2
    })
    .await;
    for round in 0..50 {
        let version = round % 2 + 1;
        let moved = promote(&mut writer, "churn", version).await.unwrap();
        assert_eq!(
            production(&mut reader, &moved.consistency_token).await,
            version,
            "round {round}"
        );
    }
    eventually("the cache answers again", async || {
        answered_from_cache(&mut reader, &url).await
    })
    .await;
}
