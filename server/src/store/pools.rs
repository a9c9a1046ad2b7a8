//! Connection pools. PostgreSQL gets three: readers, writers and one
//! connection for health, so writers queueing for the write slot never
//! take a reader's connection and health always has its own. SQLite gets
//! one writer (it serialises writers anyway; one connection turns lock
//! contention into a queue and avoids SQLITE_BUSY on lock upgrades), a
//! reader pool and its own health connection.

use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Pool, PoolBuilder};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use super::{DatabaseUrl, PoolOptions, SetupError};

/// SQLite connections as diesel-async drives them (each query on a
/// blocking thread, or inline on the writer's own thread: see `blocking`).
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, super::blocking::Blocking>;

/// How long SQLite waits for a lock held by another connection before
/// giving up with "database is locked".
pub const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// The pragmas every SQLite connection runs first. busy_timeout comes
/// first: even re-asserting WAL mode can meet a lock held by another
/// connection, and without the timeout that fails at once.
pub fn sqlite_pragmas() -> String {
    format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
         PRAGMA foreign_keys = ON;"
    )
}

/// Longest a PostgreSQL session may sit idle inside a transaction: a
/// change never waits between its statements, so only a replica that froze
/// or lost its network mid-write reaches it.
pub const IDLE_IN_TRANSACTION_MS: u64 = 5_000;

/// A PostgreSQL connection to `url`. Unlike `AsyncPgConnection::establish`,
/// a failure says why ("error connecting to server: Connection refused (os
/// error 111)"), not only that it failed.
///
/// TCP keepalives find a database host that vanished (a partition, a
/// crashed machine) within ~25 s instead of the kernel's two hours.
pub async fn establish_postgres(url: &str) -> diesel::ConnectionResult<AsyncPgConnection> {
    let bad = |error: tokio_postgres::Error| {
        diesel::ConnectionError::BadConnection(crate::telemetry::error_chain(&error))
    };
    let mut config: tokio_postgres::Config = url.parse().map_err(bad)?;
    config
        .keepalives(true)
        .keepalives_idle(std::time::Duration::from_secs(10))
        .keepalives_interval(std::time::Duration::from_secs(5))
        .keepalives_retries(3);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(bad)?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// How full one pool is.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    /// `reader`, `writer` or `health`.
    pub name: &'static str,
    /// Most connections it may open.
    pub max: usize,
    /// Connections open.
    pub size: usize,
    /// Open connections nobody uses.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl PoolStats {
    fn of(name: &'static str, status: deadpool::Status) -> Self {
        Self {
            name,
            max: status.max_size,
            size: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }
}

/// The pools of one backend.
pub enum Pools {
    /// PostgreSQL.
    Postgres {
        /// Reads.
        readers: Pool<AsyncPgConnection>,
        /// Write transactions.
        writers: Pool<AsyncPgConnection>,
        /// The writer tasks that commit each model's changes in groups, on
        /// `writers`.
        model_queues: std::sync::Arc<super::model_queues::ModelQueues>,
        /// Health pings.
        health: Pool<AsyncPgConnection>,
    },
    /// SQLite.
    Sqlite {
        /// Reads.
        readers: Pool<SqliteConn>,
        /// The one writer.
        writer: Pool<SqliteConn>,
        /// The queue to the task that commits changes on `writer` in
        /// groups (started with the first change).
        group_commit: std::sync::OnceLock<super::group_commit::GroupCommit>,
        /// Health pings.
        health: Pool<SqliteConn>,
    },
}

impl Pools {
    /// How full each pool is.
    pub fn stats(&self) -> [PoolStats; 3] {
        match self {
            Self::Postgres {
                readers,
                writers,
                health,
                ..
            } => [
                PoolStats::of("reader", readers.status()),
                PoolStats::of("writer", writers.status()),
                PoolStats::of("health", health.status()),
            ],
            Self::Sqlite {
                readers,
                writer,
                health,
                ..
            } => [
                PoolStats::of("reader", readers.status()),
                PoolStats::of("writer", writer.status()),
                PoolStats::of("health", health.status()),
            ],
        }
    }

    /// Pools to `url`; connections are made on demand, so this succeeds
    /// while the database is down.
    pub fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, SetupError> {
        let build_error = |e: deadpool::managed::BuildError| SetupError::Connect {
            url: url.clone(),
            detail: e.to_string(),
        };
        Ok(match url {
            DatabaseUrl::Postgres(raw) => {
                let manager = |role: &'static str| {
                    let statement_timeout_ms = options.statement_timeout.as_millis();
                    let mut config = ManagerConfig::<AsyncPgConnection>::default();
                    // A broken connection is found by is_broken() or by its
                    // error, not by a ping before every checkout.
                    config.recycling_method = RecyclingMethod::Fast;
                    config.custom_setup = Box::new(move |url: &str| {
                        let url = url.to_owned();
                        Box::pin(async move {
                            let mut conn = establish_postgres(&url).await?;
                            // No statement runs forever, not even one waiting
                            // for a lock another session holds: a backstop
                            // behind the calls' own deadlines. A session left
                            // in a transaction by a frozen or cut-off replica
                            // is ended by PostgreSQL, with its locks (a model's
                            // queue stops every replica's changes to it, and
                            // holds the change feed back), and a vanished
                            // peer is found by keepalives.
                            conn.batch_execute(&format!(
                                "SET statement_timeout = {statement_timeout_ms}; \
                                 SET idle_in_transaction_session_timeout = \
                                 {IDLE_IN_TRANSACTION_MS}; \
                                 SET tcp_keepalives_idle = 10; \
                                 SET tcp_keepalives_interval = 5; \
                                 SET tcp_keepalives_count = 3; \
                                 SET application_name = 'model-registry {role}';"
                            ))
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                            Ok(conn)
                        })
                    });
                    AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                        raw.clone(),
                        config,
                    )
                };
                // A writer waits for a slot until its call's deadline.
                let writers = builder(manager("writer"), options.max_writers, options)
                    .wait_timeout(Some(options.statement_timeout))
                    .build()
                    .map_err(build_error)?;
                Self::Postgres {
                    readers: builder(manager("reader"), options.max_connections, options)
                        .build()
                        .map_err(build_error)?,
                    model_queues: super::model_queues::ModelQueues::new(writers.clone()),
                    writers,
                    health: builder(manager("health"), 1, options)
                        .build()
                        .map_err(build_error)?,
                }
            }
            DatabaseUrl::Sqlite(path) => {
                let manager = || {
                    let mut config = ManagerConfig::<SqliteConn>::default();
                    config.recycling_method = RecyclingMethod::Fast;
                    config.custom_setup = Box::new(|path: &str| {
                        let path = path.to_owned();
                        Box::pin(async move {
                            let mut conn = SqliteConn::establish(&path).await?;
                            conn.batch_execute(&sqlite_pragmas())
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
                Self::Sqlite {
                    readers: builder(manager(), options.max_connections, options)
                        .build()
                        .map_err(build_error)?,
                    writer: builder(manager(), 1, options)
                        .wait_timeout(Some(options.statement_timeout))
                        .build()
                        .map_err(build_error)?,
                    health: builder(manager(), 1, options)
                        .build()
                        .map_err(build_error)?,
                    group_commit: std::sync::OnceLock::new(),
                }
            }
        })
    }
}

fn builder<C>(
    manager: AsyncDieselConnectionManager<C>,
    max_size: usize,
    options: &PoolOptions,
) -> PoolBuilder<C>
where
    C: PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.acquire_timeout))
        .recycle_timeout(Some(options.acquire_timeout))
}

/// Cancels, on the database server, the PostgreSQL statement of a call
/// whose caller went away (hung up, or ran out of time): dropping the
/// query's future alone would leave the server executing it.
pub struct CancelOnDrop(Option<tokio_postgres::CancelToken>);

impl CancelOnDrop {
    /// Cancels the statement running on `conn` if dropped before [`Self::disarm`].
    pub fn arm(conn: &AsyncPgConnection) -> Self {
        Self(Some(conn.cancel_token()))
    }

    /// The statement finished: nothing to cancel.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            cancel(token);
        }
    }
}

/// Asks the PostgreSQL server to cancel the statement `token` belongs to.
pub fn cancel(token: tokio_postgres::CancelToken) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Err(error) = token.cancel_query(tokio_postgres::NoTls).await {
                tracing::debug!(error = %error, "could not cancel a statement");
            }
        });
    }
}
