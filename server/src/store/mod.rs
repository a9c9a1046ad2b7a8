//! Persistence: the only module that speaks SQL. The use cases
//! (`server/src/registry/`) are written once over the [`Tx`] contract (one trait
//! per table family, `tx.rs`), which both databases implement from the same
//! SQL (`sql/*.rs`, compiled for PostgreSQL in `postgres.rs` and for SQLite
//! in `sqlite.rs`, each adding only its dialect's hooks). The store runs a
//! use case on a reader, or in one write transaction in which a change and
//! its audit event commit together; events are read in feed order (see
//! `sql/events.rs`). On PostgreSQL, alias reads come from a cache the
//! change feed keeps current (`fed_cache.rs`); on SQLite, from one stamped
//! by the file's data version (`cache.rs`).

mod backup;
mod blocking;
mod cache;
mod dialect;
mod error;
mod event_rows;
mod fed_cache;
pub mod figures;
mod governance_rows;
mod group_commit;
mod migrate;
mod model_queues;
mod pools;
mod postgres;
mod rows;
mod schema;
mod seed;
mod sqlite;
mod token;
pub mod tx;
mod url;
mod webhook_rows;
mod webhook_table;
mod write;

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use tokio::sync::{oneshot, watch};

use crate::domain::event::FeedBatch;
use crate::domain::{
    AliasName, ConsistencyToken, DomainResult, Event, FeedPosition, ModelName, ModelVersion,
};
pub use backup::{BackupSummary, backup};
use error::pool_error;
pub use event_rows::{EventRow, KeyOutcome, NewEventRow};
pub use fed_cache::FedCache;
pub use governance_rows::{
    ChangeRequestRow, FreezeRow, NewChangeRequestRow, PolicyRow, PrefixPolicyRow,
    RequestDecisionRow, freeze_key, longest_prefix,
};
pub use migrate::Mode as MigrationMode;
pub use pools::PoolStats;
pub use pools::establish_postgres;
use pools::{CancelOnDrop, Pools, SqliteConn};
pub use postgres::{EVENTS_CHANNEL, MODEL_LOCK_CLASS};
pub use rows::{
    AliasMoveState, AliasRow, LockedModel, ModelRow, RequestKeyRow, SessionRow, VersionRow,
    from_db_time, to_db_time, to_json,
};
pub use seed::seed;
pub use tx::{
    AliasTable, EventTable, GovernanceTable, KeyTable, ModelTable, Tx, VersionTable, WebhookTable,
    Work,
};
pub use url::{DatabaseUrl, PoolOptions, SetupError};
pub use webhook_rows::{DeliveryRow, NewWebhookRow, Progress, RetryRow, SetAside, WebhookRow};
use write::Gate;

/// The registry's storage: connection pools and the operations on them.
/// Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pools: Arc<Pools>,
    url: DatabaseUrl,
    /// Bumped after every committed write of this process: the change
    /// feed's wake-up on SQLite, and a fast path on PostgreSQL.
    written: Arc<watch::Sender<u64>>,
    /// Changes submitted and not yet committed or refused.
    pending: Arc<std::sync::atomic::AtomicUsize>,
    /// Set when a write failed because the disk is full, cleared by the
    /// next write that succeeds.
    storage_full: Arc<std::sync::atomic::AtomicBool>,
    /// Alias reads kept while the database is unchanged (SQLite only).
    alias_cache: Option<Arc<cache::AliasCache>>,
    /// Alias reads kept current by the change feed (PostgreSQL only).
    fed_cache: Option<Arc<FedCache>>,
}

/// Runs a read on a connection of `$pool` (readers or health).
macro_rules! on_connection {
    ($store:expr, $pool:ident, |$conn:ident| $call:expr) => {{
        match &*$store.pools {
            Pools::Postgres { $pool, .. } => {
                let mut pooled = $pool.get().await.map_err(pool_error)?;
                let cancel = CancelOnDrop::arm(&pooled);
                let $conn: &mut AsyncPgConnection = &mut pooled;
                let result = $call.await;
                cancel.disarm();
                result
            }
            Pools::Sqlite { $pool, .. } => {
                let mut pooled = $pool.get().await.map_err(pool_error)?;
                let $conn: &mut SqliteConn = &mut pooled;
                $call.await
            }
        }
    }};
}

/// Runs a read on a reader connection.
macro_rules! on_reader {
    ($store:expr, |$conn:ident| $call:expr) => {{
        figures::read_made();
        on_connection!($store, readers, |$conn| $call)
    }};
}

/// Runs a change in one write transaction (`BEGIN IMMEDIATE` on SQLite) on
/// its own task, answered only once it committed or rolled back (see
/// `write`). The task itself wakes the change feed after a commit, so a
/// change committed after its caller left is still announced.
macro_rules! in_write_transaction {
    ($store:expr, $deadline:expr, $queue:expr, |$conn:ident| $call:expr) => {{
        let pools = Arc::clone(&$store.pools);
        let written = Arc::clone(&$store.written);
        let storage_full = Arc::clone(&$store.storage_full);
        let pending = write::Pending::count(&$store.pending);
        let gate = Gate::default();
        let task_gate = gate.clone();
        let (statement_sender, statement) = oneshot::channel();
        let task = tokio::spawn(async move {
            let outcome = async move {
                let gate = task_gate;
                gate.check()?;
                match (&*pools, $queue) {
                    (Pools::Postgres { model_queues, .. }, Some(model)) => {
                        let model: ModelName = model;
                        // Committed with the other changes to its model
                        // waiting here (see model_queues).
                        let (change, answered) = group_commit::Change::new(
                            gate,
                            move |$conn: &mut AsyncPgConnection| {
                                Box::pin(async move { $call.await })
                            },
                        );
                        model_queues.submit(model.as_str(), change, statement_sender);
                        answered.value().await
                    }
                    (Pools::Postgres { writers, .. }, _) => {
                        let (change, answered) = group_commit::Change::new(
                            gate.clone(),
                            move |$conn: &mut AsyncPgConnection| {
                                Box::pin(async move { $call.await })
                            },
                        );
                        let mut pooled = writers.get().await.map_err(pool_error)?;
                        gate.check()?;
                        let _ = statement_sender.send(pooled.cancel_token());
                        change.run_alone(&mut *pooled).await;
                        answered.value().await
                    }
                    (
                        Pools::Sqlite {
                            writer,
                            group_commit,
                            ..
                        },
                        _,
                    ) => {
                        drop(statement_sender);
                        // Committed with whatever other changes are queued
                        // (see group_commit).
                        group_commit
                            .get_or_init(|| group_commit::GroupCommit::start(writer.clone()))
                            .submit(gate, move |$conn: &mut SqliteConn| {
                                Box::pin(async move { $call.await })
                            })
                            .await
                            .map(|value| (value, None))
                    }
                }
            }
            .await;
            match &outcome {
                Ok(_) => {
                    written.send_modify(|count| *count += 1);
                    storage_full.store(false, std::sync::atomic::Ordering::Relaxed);
                }
                // Only a full disk makes the store answer RESOURCE_EXHAUSTED.
                Err(crate::domain::DomainError::ResourceExhausted(_)) => {
                    storage_full.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Err(_) => {}
            }
            drop(pending);
            outcome
        });
        write::finish(task, gate, statement, $deadline).await
    }};
}

impl Store {
    /// Opens connection pools to `url`. Connections are made on demand, so
    /// this succeeds even while the database is down.
    pub fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, SetupError> {
        Ok(Self {
            pools: Arc::new(Pools::open(url, options)?),
            url: url.clone(),
            written: Arc::new(watch::channel(0).0),
            pending: Arc::default(),
            storage_full: Arc::default(),
            alias_cache: match url {
                DatabaseUrl::Sqlite(path) => cache::AliasCache::open(path).map(Arc::new),
                DatabaseUrl::Postgres(_) => None,
            },
            fed_cache: match url {
                DatabaseUrl::Sqlite(_) => None,
                DatabaseUrl::Postgres(_) => Some(Arc::default()),
            },
        })
    }

    /// How full each connection pool is.
    pub fn pool_stats(&self) -> [PoolStats; 3] {
        self.pools.stats()
    }

    /// Applies every pending migration of `url`'s backend (under a lock on
    /// PostgreSQL, so replicas starting together migrate once); returns the
    /// versions applied. Refuses a schema newer than this binary.
    pub async fn migrate(url: &DatabaseUrl) -> Result<Vec<String>, SetupError> {
        migrate::run(url, MigrationMode::Apply).await
    }

    /// Refuses a database whose schema is behind or ahead of this binary
    /// (for servers started with `--no-migrate`).
    pub async fn check_schema(url: &DatabaseUrl) -> Result<(), SetupError> {
        migrate::run(url, MigrationMode::CheckOnly).await.map(drop)
    }

    /// Changes submitted to this store and not yet committed or refused:
    /// those waiting for a writer or their group's commit, and those
    /// running.
    pub fn pending_changes(&self) -> usize {
        self.pending.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Where the data lives.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Changes each time this process commits a write.
    pub fn writes(&self) -> watch::Receiver<u64> {
        self.written.subscribe()
    }

    /// Checks that the database answers, on the health connection.
    pub async fn ping(&self) -> DomainResult<()> {
        on_connection!(self, health, |conn| conn.check_alive())?;
        // After a write failed for want of space, the database is healthy
        // only once a write succeeds again.
        if self.storage_full.load(std::sync::atomic::Ordering::Relaxed) {
            let deadline = Some(Instant::now() + Duration::from_secs(5));
            in_write_transaction!(self, deadline, None::<ModelName>, |conn| conn.probe_write())?;
        }
        Ok(())
    }

    /// Runs a change in one write transaction (`BEGIN IMMEDIATE` on
    /// SQLite, committed with whatever other changes are queued), answered
    /// only once it committed or rolled back, and rolled back when its
    /// caller's `deadline` passes first.
    pub async fn write<W: Work>(
        &self,
        deadline: Option<Instant>,
        work: W,
    ) -> DomainResult<W::Output> {
        self.change(deadline, None, work)
            .await
            .map(|(value, _)| value)
    }

    /// [`Store::write`], with the consistency token of the events the
    /// change wrote (none on SQLite, or when it wrote none). A change known
    /// to be to model `model` is committed with the other changes to it
    /// waiting on this replica (PostgreSQL; SQLite commits every change in
    /// groups).
    pub async fn change<W: Work>(
        &self,
        deadline: Option<Instant>,
        model: Option<ModelName>,
        work: W,
    ) -> DomainResult<(W::Output, Option<ConsistencyToken>)> {
        in_write_transaction!(self, deadline, model, |conn| work.run(conn))
    }

    /// This replica committed a change of `model`: its cached alias reads
    /// go before the change is answered, so its caller reads it here at
    /// once, whatever the feed's delay.
    pub fn committed_change_of(&self, model: &ModelName) {
        if let Some(cache) = &self.fed_cache {
            cache.changed(model.as_str());
        }
    }

    /// The cache the change feed keeps current (PostgreSQL).
    pub fn fed_cache(&self) -> Option<&Arc<FedCache>> {
        self.fed_cache.as_ref()
    }

    /// Runs a read on a reader connection.
    pub async fn read<W: Work>(&self, work: W) -> DomainResult<W::Output> {
        on_reader!(self, |conn| work.run(conn))
    }

    /// Reads the version `alias` of model `name` points at with the work
    /// `read` makes, or answers it from the alias cache (SQLite: kept while
    /// the database file is unchanged, whichever process changes it). The
    /// names are copied only to fill the cache after a miss.
    pub async fn read_alias<W: Work<Output = ModelVersion>>(
        &self,
        name: ModelName,
        alias: AliasName,
        token: Option<ConsistencyToken>,
        read: impl FnOnce(ModelName, AliasName) -> W,
    ) -> DomainResult<ModelVersion> {
        if let Some(cache) = &self.fed_cache {
            return self.read_fed_alias(cache, name, alias, token, read).await;
        }
        let cached = self
            .alias_cache
            .as_deref()
            .and_then(|cache| Some((cache, cache.stamp()?)));
        let Some((cache, stamp)) = cached else {
            return self.read(read(name, alias)).await;
        };
        if let Some(version) = cache.get(name.as_str(), alias.as_str(), stamp) {
            return Ok(version);
        }
        let (model, alias_name) = (name.as_str().to_owned(), alias.as_str().to_owned());
        let version = self.read(read(name, alias)).await?;
        cache.put(&model, &alias_name, stamp, &version);
        Ok(version)
    }

    /// [`Store::read_alias`] on PostgreSQL: from the cache the feed keeps
    /// while it is live and has applied the caller's token; otherwise (or
    /// on a miss) from the database, which always has every commit.
    async fn read_fed_alias<W: Work<Output = ModelVersion>>(
        &self,
        cache: &FedCache,
        name: ModelName,
        alias: AliasName,
        token: Option<ConsistencyToken>,
        read: impl FnOnce(ModelName, AliasName) -> W,
    ) -> DomainResult<ModelVersion> {
        if token.is_some_and(|token| !cache.has_applied(token)) {
            figures::alias_read("token_ahead");
            return self.read(read(name, alias)).await;
        }
        if let Some(version) = cache.get(name.as_str(), alias.as_str()) {
            figures::alias_read("cache");
            return Ok(version);
        }
        let Some(stamp) = cache.stamp() else {
            figures::alias_read("feed_down");
            return self.read(read(name, alias)).await;
        };
        figures::alias_read("miss");
        let (model, alias_name) = (name.as_str().to_owned(), alias.as_str().to_owned());
        let version = self.read(read(name, alias)).await?;
        cache.put(&model, &alias_name, stamp, &version);
        Ok(version)
    }

    /// Up to `limit` events after `after`, in feed order (see
    /// `sql/events.rs`).
    pub async fn events_after(&self, after: FeedPosition, limit: usize) -> DomainResult<FeedBatch> {
        on_reader!(self, |conn| conn.events_after(after, limit))
    }

    /// Up to `limit` events of model `model` after id `after_id`, in order.
    pub async fn model_events_after(
        &self,
        model: &ModelName,
        after_id: i64,
        limit: usize,
    ) -> DomainResult<Vec<Event>> {
        on_reader!(self, |conn| conn.model_events_after(model, after_id, limit))
    }

    /// The newest event id of model `model` (0: none).
    pub async fn model_head(&self, model: &ModelName) -> DomainResult<i64> {
        on_reader!(self, |conn| conn.model_head(model))
    }

    /// The feed's newest position: every event to come sorts after it.
    pub async fn feed_head(&self) -> DomainResult<FeedPosition> {
        on_reader!(self, |conn| conn.feed_head())
    }

    /// The event with id `id`, if there is one.
    pub async fn find_event(&self, id: i64) -> DomainResult<Option<Event>> {
        on_reader!(self, |conn| conn.find_event(id))
    }

    /// The events webhook subscription `id` set aside, oldest first.
    pub async fn set_aside_events(&self, id: i64) -> DomainResult<Vec<RetryRow>> {
        on_reader!(self, |conn| conn.set_aside_events(id))
    }
}
