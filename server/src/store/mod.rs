//! Persistence: the only module that speaks SQL. One set of operations
//! (`ops.rs`) runs on PostgreSQL (diesel-async's native connection, no
//! libpq) or on SQLite (bundled, WAL mode); every state change and its audit
//! event share one transaction.

mod error;
mod rows;
mod schema;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::{Connection as _, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::domain::commands::{
    AliasMoved, BestVersionQuery, Caller, ChangeStatus, DeleteAlias, EventQuery, ModelQuery,
    RollbackAlias, SetAlias, UpdateModel, UpdateVersion, VersionQuery,
};
use crate::domain::page::{EventCursor, ModelCursor, Page, VersionCursor};
use crate::domain::{
    AliasName, DomainError, DomainResult, Event, Model, ModelName, ModelVersion, NewVersion,
    VersionRef,
};
use error::pool_error;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// SQLite connections as diesel-async drives them (each query on a blocking thread).
type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// How long SQLite waits for a lock held by another connection before
/// giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// The PostgreSQL operations.
mod pg {
    type Conn = diesel_async::AsyncPgConnection;
    include!("ops.rs");
}

/// The SQLite operations.
mod sqlite {
    type Conn = super::SqliteConn;
    include!("ops.rs");
}

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
    /// Most open connections (PostgreSQL), or most reader connections (SQLite,
    /// which has one writer).
    pub max_connections: usize,
    /// How long a request waits for a free connection or a new one.
    pub acquire_timeout: Duration,
    /// Longest a PostgreSQL statement may run before the database cancels
    /// it (a backstop behind the request timeout).
    pub statement_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Cancels, on the database server, the PostgreSQL query of a read whose
/// caller went away (hung up, or ran out of time): dropping the query's
/// future alone would leave the server executing it.
struct CancelOnDrop(Option<tokio_postgres::CancelToken>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(error) = token.cancel_query(tokio_postgres::NoTls).await {
                    tracing::debug!(error = %error, "could not cancel an abandoned query");
                }
            });
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
    /// A migration failed.
    #[error("migrating {url} failed: {detail}")]
    Migrate {
        /// The database (without password).
        url: DatabaseUrl,
        /// What went wrong.
        detail: String,
    },
}

enum Backend {
    Postgres(Pool<AsyncPgConnection>),
    Sqlite {
        // SQLite serialises writers anyway; one writer connection turns lock
        // contention into a queue and avoids SQLITE_BUSY on lock upgrades.
        writer: Pool<SqliteConn>,
        readers: Pool<SqliteConn>,
    },
}

/// The registry's storage: connection pools and the operations on them.
/// Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
}

/// Runs a read on a pooled connection of the right backend.
macro_rules! on_reader {
    ($store:expr, |$conn:ident| $call:expr) => {{
        match &*$store.backend {
            Backend::Postgres(pool) => {
                let mut pooled = pool.get().await.map_err(pool_error)?;
                let cancel = CancelOnDrop(Some(pooled.cancel_token()));
                let $conn: &mut AsyncPgConnection = &mut pooled;
                use pg as ops;
                let result = $call.await;
                cancel.disarm();
                result
            }
            Backend::Sqlite { readers, .. } => {
                let mut pooled = readers.get().await.map_err(pool_error)?;
                let $conn: &mut SqliteConn = &mut pooled;
                use sqlite as ops;
                $call.await
            }
        }
    }};
}

/// Runs a change in one write transaction (`BEGIN IMMEDIATE` on SQLite) on
/// its own task, so a caller hanging up cannot abandon it half-way.
macro_rules! in_write_transaction {
    ($store:expr, |$conn:ident| $call:expr) => {{
        let backend = Arc::clone(&$store.backend);
        let task = tokio::spawn(async move {
            match &*backend {
                Backend::Postgres(pool) => {
                    let mut pooled = pool.get().await.map_err(pool_error)?;
                    let conn: &mut AsyncPgConnection = &mut pooled;
                    conn.transaction(async move |$conn: &mut AsyncPgConnection| {
                        serialise_writes($conn).await?;
                        use pg as ops;
                        $call.await
                    })
                    .await
                }
                Backend::Sqlite { writer, .. } => {
                    let mut pooled = writer.get().await.map_err(pool_error)?;
                    let conn: &mut SqliteConn = &mut pooled;
                    conn.immediate_transaction(async move |$conn: &mut SqliteConn| {
                        use sqlite as ops;
                        $call.await
                    })
                    .await
                }
            }
        });
        task.await
            .map_err(|e| DomainError::Internal(format!("store task failed: {e}")))?
    }};
}

/// Key of the PostgreSQL advisory lock every write transaction takes first.
const WRITE_ORDER_LOCK: i64 = 0x6d6f_6465_6c72_6567; // "modelreg"

/// Serialises write transactions on PostgreSQL, across every server replica
/// sharing the database, so events get their ids in commit order: a reader
/// paging the trail by id (or a watcher resuming from an event id) never
/// misses an event that committed late with a smaller id. Registry writes are
/// rare next to reads, and SQLite has a single writer anyway.
async fn serialise_writes(conn: &mut AsyncPgConnection) -> DomainResult<()> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(WRITE_ORDER_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Opens connection pools to `url`. Connections are made on demand, so
    /// this succeeds even while the database is down.
    pub fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, SetupError> {
        let build_error = |e: deadpool::managed::BuildError| SetupError::Connect {
            url: url.clone(),
            detail: e.to_string(),
        };
        let backend = match url {
            DatabaseUrl::Postgres(raw) => {
                let statement_timeout_ms = options.statement_timeout.as_millis();
                let mut config = ManagerConfig::<AsyncPgConnection>::default();
                // A broken connection is found by is_broken() or by its
                // error, not by a ping before every checkout.
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |url: &str| {
                    let url = url.to_owned();
                    Box::pin(async move {
                        let mut conn = AsyncPgConnection::establish(&url).await?;
                        conn.batch_execute(&format!(
                            "SET statement_timeout = {statement_timeout_ms}"
                        ))
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    })
                });
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                    raw.clone(),
                    config,
                );
                Backend::Postgres(
                    pool_builder(manager, options.max_connections, options)
                        .build()
                        .map_err(build_error)?,
                )
            }
            DatabaseUrl::Sqlite(path) => {
                let manager = || {
                    let mut config = ManagerConfig::<SqliteConn>::default();
                    config.recycling_method = RecyclingMethod::Fast;
                    config.custom_setup = Box::new(|path: &str| {
                        let path = path.to_owned();
                        Box::pin(async move {
                            let mut conn = SqliteConn::establish(&path).await?;
                            // busy_timeout first: even re-asserting WAL mode
                            // can meet a lock held by another connection, and
                            // without the timeout that fails at once.
                            conn.batch_execute(&format!(
                                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                                 PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
                            ))
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                            Ok(conn)
                        })
                    });
                    AsyncDieselConnectionManager::<SqliteConn>::new_with_config(
                        path.clone(),
                        config,
                    )
                };
                Backend::Sqlite {
                    writer: pool_builder(manager(), 1, options)
                        .build()
                        .map_err(build_error)?,
                    readers: pool_builder(manager(), options.max_connections, options)
                        .build()
                        .map_err(build_error)?,
                }
            }
        };
        Ok(Self {
            backend: Arc::new(backend),
        })
    }

    /// Applies every pending migration of `url`'s backend; returns the
    /// versions applied.
    pub async fn migrate(url: &DatabaseUrl) -> Result<Vec<String>, SetupError> {
        let target = url.clone();
        let failed = |detail: String| SetupError::Migrate {
            url: url.clone(),
            detail,
        };
        // The migration harness is synchronous: run it on a blocking thread
        // (AsyncConnectionWrapper drives the async PostgreSQL connection there).
        let outcome = tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
            let applied = match &target {
                DatabaseUrl::Postgres(raw) => {
                    let mut conn =
                        <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(raw)
                        .map_err(|e| e.to_string())?;
                    conn.run_pending_migrations(POSTGRES_MIGRATIONS)
                        .map_err(|e| e.to_string())?
                        .iter()
                        .map(ToString::to_string)
                        .collect()
                }
                DatabaseUrl::Sqlite(path) => {
                    let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
                    diesel::connection::SimpleConnection::batch_execute(
                        &mut conn,
                        &format!(
                            "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                             PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
                        ),
                    )
                    .map_err(|e| e.to_string())?;
                    conn.run_pending_migrations(SQLITE_MIGRATIONS)
                        .map_err(|e| e.to_string())?
                        .iter()
                        .map(ToString::to_string)
                        .collect()
                }
            };
            Ok(applied)
        })
        .await
        .map_err(|e| failed(e.to_string()))?;
        outcome.map_err(failed)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> DomainResult<()> {
        on_reader!(self, |conn| ops::ping(conn))
    }

    /// Registers a version (see `RegisterModel`).
    pub async fn register(&self, new: NewVersion, caller: Caller) -> DomainResult<ModelVersion> {
        in_write_transaction!(self, |conn| ops::register(conn, new, caller))
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
        in_write_transaction!(self, |conn| ops::update_model(conn, command, caller))
    }

    /// Points an alias at a version.
    pub async fn set_alias(&self, command: SetAlias, caller: Caller) -> DomainResult<AliasMoved> {
        in_write_transaction!(self, |conn| ops::set_alias(conn, command, caller))
    }

    /// Removes an alias; returns the version it pointed at.
    pub async fn delete_alias(&self, command: DeleteAlias, caller: Caller) -> DomainResult<i64> {
        in_write_transaction!(self, |conn| ops::delete_alias(conn, command, caller))
    }

    /// Returns an alias to the version it held before.
    pub async fn rollback_alias(
        &self,
        command: RollbackAlias,
        caller: Caller,
    ) -> DomainResult<AliasMoved> {
        in_write_transaction!(self, |conn| ops::rollback_alias(conn, command, caller))
    }

    /// Changes a version's status.
    pub async fn change_status(
        &self,
        command: ChangeStatus,
        caller: Caller,
    ) -> DomainResult<ModelVersion> {
        in_write_transaction!(self, |conn| ops::change_status(conn, command, caller))
    }

    /// Changes a version's description and tags.
    pub async fn update_version(
        &self,
        command: UpdateVersion,
        caller: Caller,
    ) -> DomainResult<ModelVersion> {
        in_write_transaction!(self, |conn| ops::update_version(conn, command, caller))
    }

    /// Lists events.
    pub async fn list_events(&self, query: EventQuery) -> DomainResult<Page<Event, EventCursor>> {
        on_reader!(self, |conn| ops::list_events(conn, query))
    }

    /// The key that signs page tokens (created on first use, shared by
    /// every replica).
    pub async fn page_key(&self) -> DomainResult<[u8; 32]> {
        in_write_transaction!(self, |conn| ops::page_key(conn))
    }
}

fn pool_builder<C>(
    manager: AsyncDieselConnectionManager<C>,
    max_size: usize,
    options: &PoolOptions,
) -> diesel_async::pooled_connection::deadpool::PoolBuilder<C>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.acquire_timeout))
        .recycle_timeout(Some(options.acquire_timeout))
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
