//! Persistence: the only module that speaks SQL. One set of operations
//! (`ops.rs`) runs on PostgreSQL (diesel-async's native connection, no
//! libpq) or on SQLite (bundled, WAL mode); every state change and its audit
//! event share one transaction, and events become visible in id order.

mod backup;
mod blocking;
mod cache;
mod error;
pub mod figures;
mod group_commit;
mod migrate;
mod pools;
mod rows;
mod schema;
mod seed;
mod write;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use tokio::sync::{oneshot, watch};

use crate::domain::commands::{
    AliasMoved, BestVersionQuery, Caller, ChangeStatus, DeleteAlias, EventQuery, ModelQuery,
    RollbackAlias, SetAlias, UpdateModel, UpdateVersion, VersionQuery,
};
use crate::domain::page::{EventCursor, ModelCursor, Page, PageKey, VersionCursor};
use crate::domain::{
    AliasName, DomainResult, Event, Model, ModelName, ModelVersion, NewVersion, VersionRef,
};
pub use backup::{BackupSummary, backup};
use error::pool_error;
pub use migrate::Mode as MigrationMode;
pub use pools::PoolStats;
pub use pools::establish_postgres;
use pools::{CancelOnDrop, Pools, SqliteConn};
pub use seed::seed;
use write::Gate;

/// The PostgreSQL operations.
mod pg {
    type Conn = diesel_async::AsyncPgConnection;

    /// The version a metric row belongs to, as the join key of queries
    /// driven by the metric index (PostgreSQL plans them well as written).
    fn metric_version_id() -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
        diesel::dsl::sql("version_metrics.version_id")
    }

    /// Key of the advisory lock under which events are appended and their
    /// transaction commits.
    pub const EVENT_ORDER_LOCK: i64 = 0x6d6f_6465_6c72_6567; // "modelreg"

    /// The channel every replica listens on for new events.
    pub const EVENTS_CHANNEL: &str = "model_registry_events";

    /// Taken just before a transaction appends its events and held until it
    /// commits: event ids become visible in commit order, across every
    /// replica, so a reader of "events after id N" never misses one that
    /// committed late with a smaller id. Only this last step of a write is
    /// serialised; the rest runs concurrently (per-model row locks order
    /// changes to one model). The same statement queues the notification
    /// every replica's listener wakes on: PostgreSQL delivers it only when
    /// the transaction commits, and listeners re-read the trail after the
    /// last id they delivered, so it needs no payload.
    async fn before_appending_events(conn: &mut Conn) -> crate::domain::DomainResult<()> {
        use diesel_async::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_xact_lock($1), pg_notify($2, '')")
            .bind::<diesel::sql_types::BigInt, _>(EVENT_ORDER_LOCK)
            .bind::<diesel::sql_types::Text, _>(EVENTS_CHANNEL)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Key (first half) of the advisory locks that queue the changes to one
    /// model.
    const MODEL_LOCK_CLASS: i32 = 0x6d72_6567; // "mreg"

    /// Queues this change behind the other changes to model `name`. The row
    /// lock `lock_model` takes would do it too, but PostgreSQL re-checks
    /// every waiter of a hot row after each commit; an advisory lock wakes
    /// one waiter at a time, in order. Two names hashing alike only share
    /// a queue.
    async fn queue_for_model(conn: &mut Conn, name: &str) -> crate::domain::DomainResult<()> {
        use diesel_async::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind::<diesel::sql_types::Integer, _>(MODEL_LOCK_CLASS)
            .bind::<diesel::sql_types::Text, _>(name)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Proves the database accepts writes again after a full disk; only
    /// SQLite reports one (see `Store::ping`).
    pub(super) async fn probe_write(_conn: &mut Conn) -> crate::domain::DomainResult<()> {
        Ok(())
    }

    /// Nothing left to do: the notification was queued with the lock.
    async fn after_appending_events(
        _conn: &mut Conn,
        _last_id: i64,
    ) -> crate::domain::DomainResult<()> {
        Ok(())
    }

    /// Inserts a version's metrics in one statement.
    async fn insert_metric_rows(
        conn: &mut Conn,
        rows: &[super::rows::MetricRow<'_>],
    ) -> crate::domain::DomainResult<()> {
        use diesel_async::RunQueryDsl;
        if !rows.is_empty() {
            diesel::insert_into(super::schema::version_metrics::table)
                .values(rows)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Inserts a version's tags in one statement.
    async fn insert_tag_rows(
        conn: &mut Conn,
        rows: &[super::rows::TagRow<'_>],
    ) -> crate::domain::DomainResult<()> {
        use diesel_async::RunQueryDsl;
        if !rows.is_empty() {
            diesel::insert_into(super::schema::version_tags::table)
                .values(rows)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    include!("ops.rs");
}

/// The SQLite operations.
mod sqlite {
    type Conn = super::SqliteConn;

    /// The version a metric row belongs to, as the join key of queries
    /// driven by the metric index. The unary `+` keeps SQLite's planner from
    /// driving the join from model_versions instead (with statistics it
    /// chose a scan of every version and a sort: 1.4 s at 200k versions
    /// against 0.4 ms; BENCHMARKS.md).
    fn metric_version_id() -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
        diesel::dsl::sql("+version_metrics.version_id")
    }

    /// SQLite has one writer: commit order is id order already.
    async fn before_appending_events(_conn: &mut Conn) -> crate::domain::DomainResult<()> {
        Ok(())
    }

    /// One process: the store signals its change feed after the commit.
    async fn after_appending_events(
        _conn: &mut Conn,
        _last_id: i64,
    ) -> crate::domain::DomainResult<()> {
        Ok(())
    }

    /// Rewrites the database header (its user_version, unchanged): the
    /// smallest write that needs free space, to learn whether a full disk
    /// has room again.
    pub(super) async fn probe_write(conn: &mut Conn) -> crate::domain::DomainResult<()> {
        use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

        #[derive(diesel::QueryableByName)]
        struct Header {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            user_version: i32,
        }
        let header = diesel::sql_query("PRAGMA user_version")
            .get_result::<Header>(conn)
            .await?;
        conn.batch_execute(&format!("PRAGMA user_version = {}", header.user_version))
            .await?;
        Ok(())
    }

    /// SQLite has one writer: every change is queued already.
    async fn queue_for_model(_conn: &mut Conn, _name: &str) -> crate::domain::DomainResult<()> {
        Ok(())
    }

    // diesel-async cannot batch-insert on SQLite; an embedded database
    // pays no round trip per row anyway.

    /// Inserts a version's metrics, row by row.
    async fn insert_metric_rows(
        conn: &mut Conn,
        rows: &[super::rows::MetricRow<'_>],
    ) -> crate::domain::DomainResult<()> {
        use diesel_async::RunQueryDsl;
        for row in rows {
            diesel::insert_into(super::schema::version_metrics::table)
                .values(row)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Inserts a version's tags, row by row.
    async fn insert_tag_rows(
        conn: &mut Conn,
        rows: &[super::rows::TagRow<'_>],
    ) -> crate::domain::DomainResult<()> {
        use diesel_async::RunQueryDsl;
        for row in rows {
            diesel::insert_into(super::schema::version_tags::table)
                .values(row)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    include!("ops.rs");
}

pub use pg::{EVENT_ORDER_LOCK, EVENTS_CHANNEL};

/// Where the registry's data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
    /// `sqlite://PATH`: a database file (created when missing).
    Sqlite(String),
}

impl DatabaseUrl {
    /// The backend's name, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path.contains(":memory:") || path.starts_with("file:") {
                return Err(format!(
                    "{url:?}: give SQLite a file path, e.g. sqlite://model-registry.db (an \
                     in-memory database would be lost and not shared between connections)"
                ));
            }
            return Ok(Self::Sqlite(path.to_owned()));
        }
        // Only the scheme is repeated: the rest may hold a password.
        let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        Err(format!(
            "the database URL's scheme {scheme:?} is not supported: use sqlite://PATH or \
             postgres://USER@HOST/DB"
        ))
    }
}

/// Prints the URL without its password (in the user-info part or a
/// `password` query parameter), so logs never carry secrets.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
            Self::Postgres(url) => f.write_str(&redact_postgres_url(url)),
        }
    }
}

fn redact_postgres_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &base[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme_end + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => parameter.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Pool sizes and timeouts.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most reader connections.
    pub max_connections: usize,
    /// Most connections writing at once (PostgreSQL; SQLite has one
    /// writer). Further writers wait for one without holding a connection.
    pub max_writers: usize,
    /// How long a request waits for a free connection or a new one.
    pub acquire_timeout: Duration,
    /// Longest a PostgreSQL statement may run before the database cancels
    /// it: a backstop behind the calls' own deadlines.
    pub statement_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            max_writers: 8,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(35),
        }
    }
}

/// Why the store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Connecting to the database failed.
    #[error("cannot connect to {url}: {detail}")]
    Connect {
        /// The database (without password).
        url: DatabaseUrl,
        /// What went wrong.
        detail: String,
    },
    /// A migration failed, or the schema does not fit this binary.
    #[error("migrating {url} failed: {detail}")]
    Migrate {
        /// The database (without password).
        url: DatabaseUrl,
        /// What went wrong.
        detail: String,
    },
    /// Benchmark data could not be written.
    #[error("seeding model {model:?} failed: {detail}")]
    Seed {
        /// The model.
        model: String,
        /// What went wrong.
        detail: String,
    },
    /// A backup could not be written.
    #[error("backup to {} failed: {detail}", to.display())]
    Backup {
        /// The backup file asked for.
        to: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// The registry's storage: connection pools and the operations on them.
/// Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pools: Arc<Pools>,
    url: DatabaseUrl,
    /// Bumped after every committed write of this process: the change
    /// feed's wake-up on SQLite, and a fast path on PostgreSQL.
    written: Arc<watch::Sender<u64>>,
    /// Set when a write failed because the disk is full, cleared by the
    /// next write that succeeds.
    storage_full: Arc<std::sync::atomic::AtomicBool>,
    /// Alias reads kept while the database is unchanged (SQLite only).
    alias_cache: Option<Arc<cache::AliasCache>>,
    /// The key that signs page tokens, read (or created) once: the gRPC
    /// service and the console sign with the same key.
    page_key: Arc<tokio::sync::OnceCell<PageKey>>,
}

/// Runs a read on a connection of `$pool` (readers or health).
macro_rules! on_connection {
    ($store:expr, $pool:ident, |$conn:ident| $call:expr) => {{
        match &*$store.pools {
            Pools::Postgres { $pool, .. } => {
                let mut pooled = $pool.get().await.map_err(pool_error)?;
                let cancel = CancelOnDrop::arm(&pooled);
                let $conn: &mut AsyncPgConnection = &mut pooled;
                use pg as ops;
                let result = $call.await;
                cancel.disarm();
                result
            }
            Pools::Sqlite { $pool, .. } => {
                let mut pooled = $pool.get().await.map_err(pool_error)?;
                let $conn: &mut SqliteConn = &mut pooled;
                use sqlite as ops;
                $call.await
            }
        }
    }};
}

/// Runs a read on a reader connection.
macro_rules! on_reader {
    ($store:expr, |$conn:ident| $call:expr) => {
        on_connection!($store, readers, |$conn| $call)
    };
}

/// Runs a change in one write transaction (`BEGIN IMMEDIATE` on SQLite) on
/// its own task, answered only once it committed or rolled back (see
/// `write`), then wakes the change feed.
macro_rules! in_write_transaction {
    ($store:expr, $deadline:expr, |$conn:ident| $call:expr) => {{
        let pools = Arc::clone(&$store.pools);
        let gate = Gate::default();
        let task_gate = gate.clone();
        let (statement_sender, statement) = oneshot::channel();
        let task = tokio::spawn(async move {
            let gate = task_gate;
            gate.check()?;
            let queued = std::time::Instant::now();
            let outcome = match &*pools {
                Pools::Postgres { writers, .. } => {
                    let mut pooled = writers.get().await.map_err(pool_error)?;
                    figures::write_slot_waited(queued.elapsed());
                    gate.check()?;
                    let _ = statement_sender.send(pooled.cancel_token());
                    let conn: &mut AsyncPgConnection = &mut pooled;
                    conn.transaction(async move |$conn: &mut AsyncPgConnection| {
                        use pg as ops;
                        gate.start()?;
                        let value = $call.await?;
                        gate.check()?;
                        Ok(value)
                    })
                    .await
                }
                Pools::Sqlite {
                    writer,
                    group_commit,
                    ..
                } => {
                    drop(statement_sender);
                    // Committed with whatever other changes are queued (see
                    // group_commit), which also counts the transactions.
                    return group_commit
                        .get_or_init(|| group_commit::GroupCommit::start(writer.clone()))
                        .submit(gate, move |$conn: &mut SqliteConn| {
                            Box::pin(async move {
                                use sqlite as ops;
                                $call.await
                            })
                        })
                        .await;
                }
            };
            figures::transaction_finished(outcome.is_ok());
            outcome
        });
        let outcome = write::finish(task, gate, statement, $deadline).await;
        match &outcome {
            Ok(_) => {
                $store.written.send_modify(|count| *count += 1);
                $store
                    .storage_full
                    .store(false, std::sync::atomic::Ordering::Relaxed);
            }
            // Only a full disk makes the store answer RESOURCE_EXHAUSTED.
            Err(crate::domain::DomainError::ResourceExhausted(_)) => {
                $store
                    .storage_full
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(_) => {}
        }
        outcome
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
            storage_full: Arc::default(),
            page_key: Arc::default(),
            alias_cache: match url {
                DatabaseUrl::Sqlite(path) => cache::AliasCache::open(path).map(Arc::new),
                DatabaseUrl::Postgres(_) => None,
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
        on_connection!(self, health, |conn| ops::ping(conn))?;
        // After a write failed for want of space, the database is healthy
        // only once a write succeeds again.
        if self.storage_full.load(std::sync::atomic::Ordering::Relaxed) {
            let deadline = Some(std::time::Instant::now() + Duration::from_secs(5));
            in_write_transaction!(self, deadline, |conn| ops::probe_write(conn))?;
        }
        Ok(())
    }

    /// Registers a version (see `RegisterModel`).
    pub async fn register(&self, new: NewVersion, caller: Caller) -> DomainResult<ModelVersion> {
        let deadline = caller.deadline;
        in_write_transaction!(self, deadline, |conn| ops::register(conn, new, caller))
    }

    /// Reads one version.
    pub async fn get_version(&self, target: VersionRef) -> DomainResult<ModelVersion> {
        on_reader!(self, |conn| ops::get_version(conn, target))
    }

    /// Reads the version an alias points at.
    pub async fn get_by_alias(
        &self,
        name: ModelName,
        alias: AliasName,
    ) -> DomainResult<ModelVersion> {
        let cached = self
            .alias_cache
            .as_deref()
            .and_then(|cache| Some((cache, cache.stamp()?)));
        if let Some((cache, stamp)) = cached {
            if let Some(version) = cache.get(name.as_str(), alias.as_str(), stamp) {
                return Ok(version);
            }
            let (model, alias_name) = (name.as_str().to_owned(), alias.as_str().to_owned());
            let version = on_reader!(self, |conn| ops::get_by_alias(conn, name, alias))?;
            cache.put(&model, &alias_name, stamp, &version);
            return Ok(version);
        }
        on_reader!(self, |conn| ops::get_by_alias(conn, name, alias))
    }

    /// Reads the version an alias pointed at at `at`.
    pub async fn get_by_alias_as_of(
        &self,
        name: ModelName,
        alias: AliasName,
        at: DateTime<Utc>,
    ) -> DomainResult<ModelVersion> {
        on_reader!(self, |conn| ops::get_by_alias_as_of(conn, name, alias, at))
    }

    /// The version an alias points at now with the id of the event that put
    /// it there (`None`: the alias points nowhere), for watches.
    pub async fn alias_state(
        &self,
        name: ModelName,
        alias: AliasName,
    ) -> DomainResult<(Option<ModelVersion>, i64)> {
        on_reader!(self, |conn| ops::alias_state(conn, name, alias))
    }

    /// Lists versions.
    pub async fn list_versions(
        &self,
        query: VersionQuery,
    ) -> DomainResult<Page<ModelVersion, VersionCursor>> {
        on_reader!(self, |conn| ops::list_versions(conn, query))
    }

    /// Finds the best version by a metric, with its value.
    pub async fn best_version(&self, query: BestVersionQuery) -> DomainResult<(ModelVersion, f64)> {
        on_reader!(self, |conn| ops::best_version(conn, query))
    }

    /// Lists models.
    pub async fn list_models(&self, query: ModelQuery) -> DomainResult<Page<Model, ModelCursor>> {
        on_reader!(self, |conn| ops::list_models(conn, query))
    }

    /// Reads one model.
    pub async fn get_model(&self, name: ModelName) -> DomainResult<Model> {
        on_reader!(self, |conn| ops::get_model(conn, name))
    }

    /// Changes a model's description and tags.
    pub async fn update_model(&self, command: UpdateModel, caller: Caller) -> DomainResult<Model> {
        let deadline = caller.deadline;
        in_write_transaction!(self, deadline, |conn| ops::update_model(
            conn, command, caller
        ))
    }

    /// Points an alias at a version.
    pub async fn set_alias(&self, command: SetAlias, caller: Caller) -> DomainResult<AliasMoved> {
        let deadline = caller.deadline;
        in_write_transaction!(self, deadline, |conn| ops::set_alias(conn, command, caller))
    }

    /// Removes an alias; returns the version it pointed at.
    pub async fn delete_alias(&self, command: DeleteAlias, caller: Caller) -> DomainResult<i64> {
        let deadline = caller.deadline;
        in_write_transaction!(self, deadline, |conn| ops::delete_alias(
            conn, command, caller
        ))
    }

    /// Returns an alias to the version it held before.
    pub async fn rollback_alias(
        &self,
        command: RollbackAlias,
        caller: Caller,
    ) -> DomainResult<AliasMoved> {
        let deadline = caller.deadline;
        in_write_transaction!(self, deadline, |conn| ops::rollback_alias(
            conn, command, caller
        ))
    }

    /// Changes a version's status.
    pub async fn change_status(
        &self,
        command: ChangeStatus,
        caller: Caller,
    ) -> DomainResult<ModelVersion> {
        let deadline = caller.deadline;
        in_write_transaction!(self, deadline, |conn| ops::change_status(
            conn, command, caller
        ))
    }

    /// Changes a version's description and tags.
    pub async fn update_version(
        &self,
        command: UpdateVersion,
        caller: Caller,
    ) -> DomainResult<ModelVersion> {
        let deadline = caller.deadline;
        in_write_transaction!(self, deadline, |conn| ops::update_version(
            conn, command, caller
        ))
    }

    /// Lists events.
    pub async fn list_events(&self, query: EventQuery) -> DomainResult<Page<Event, EventCursor>> {
        on_reader!(self, |conn| ops::list_events(conn, query))
    }

    /// Up to `limit` events after event `after_id`, in id order (the
    /// change feed's read: ids are visible in commit order).
    pub async fn events_after(&self, after_id: i64, limit: usize) -> DomainResult<Vec<Event>> {
        on_reader!(self, |conn| ops::events_after(conn, after_id, limit))
    }

    /// The id of the newest event (0 when there is none).
    pub async fn last_event_id(&self) -> DomainResult<i64> {
        on_reader!(self, |conn| ops::last_event_id(conn))
    }

    /// The key that signs page tokens (created on first use, shared by
    /// every replica, read once per process).
    pub async fn page_key(&self) -> DomainResult<PageKey> {
        self.page_key
            .get_or_try_init(|| async {
                let deadline = Some(Instant::now() + Duration::from_secs(10));
                in_write_transaction!(self, deadline, |conn| ops::page_key(conn)).map(PageKey::new)
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn database_urls_select_the_backend() {
        assert_eq!(
            "sqlite://model-registry.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("model-registry.db".into()))
        );
        assert_eq!(
            "sqlite:///var/lib/registry.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("/var/lib/registry.db".into()))
        );
        assert!(matches!(
            "postgresql://u@h/db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!("sqlite://:memory:".parse::<DatabaseUrl>().is_err());
        assert!("mysql://h/db".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        let url: DatabaseUrl = "postgres://app:s3cret@db:5432/registry".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/registry");
        assert!(!format!("{url:?}").contains("s3cret"));
        let url: DatabaseUrl = "postgres://app@db/registry?sslmode=require&password=s3cret"
            .parse()
            .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://app@db/registry?sslmode=require&password=***"
        );
        let mistyped = "postgress://app:s3cret@db/registry"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(!mistyped.contains("s3cret"), "{mistyped}");
        assert!(mistyped.contains("postgress"), "{mistyped}");
    }
}
