//! The test harness shared by every Rust test suite: a real server on an
//! ephemeral loopback port, backed by a fresh SQLite file or a fresh
//! PostgreSQL database that is dropped when the test ends, and a real tonic
//! client.
#![expect(
    clippy::expect_used,
    missing_docs,
    reason = "test support fails loudly on the first surprise"
)]

pub mod signing;

use std::net::SocketAddr;
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use model_registry_api::v1 as pb;
use model_registry_api::v1::registry_service_client::RegistryServiceClient;
use model_registry_server::server::{self, ServeOptions};
use model_registry_server::store::{DatabaseUrl, PoolOptions, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The registry client the tests use.
pub type Client = RegistryServiceClient<Channel>;

/// A running server and what it needs to be torn down.
pub struct TestServer {
    /// `http://ADDRESS` of the server.
    pub url: String,
    pub client: Client,
    pub channel: Channel,
    pub addr: SocketAddr,
    /// The database the server uses (for tests that look at it with SQL).
    pub database_url: DatabaseUrl,
    /// The server's store (for tests that look at its pools).
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), server::ServerError>>>,
    // Dropped last: the database outlives the server using it.
    _database: TestDatabase,
}

/// An empty database made for one test, removed when dropped.
pub enum TestDatabase {
    /// Held so the directory outlives the server.
    Sqlite {
        url: DatabaseUrl,
        _dir: tempfile::TempDir,
    },
    /// Dropped (and with it the database) after the server.
    Postgres {
        url: DatabaseUrl,
        _database: PostgresDatabase,
    },
    /// Another server's database: left as is.
    Shared { url: DatabaseUrl },
}

impl TestDatabase {
    /// An empty database on `backend`; `None` (after a loud warning) when
    /// PostgreSQL is not reachable and not required.
    pub async fn create(backend: Backend) -> Option<Self> {
        Some(match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path = dir.path().join("registry.db");
                Self::Sqlite {
                    url: DatabaseUrl::Sqlite(path.display().to_string()),
                    _dir: dir,
                }
            }
            Backend::Postgres => {
                let database = PostgresDatabase::create().await?;
                Self::Postgres {
                    url: DatabaseUrl::Postgres(database.url.clone()),
                    _database: database,
                }
            }
        })
    }

    /// Where it is.
    pub fn url(&self) -> &DatabaseUrl {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } | Self::Shared { url } => url,
        }
    }
}

/// Runs `sql` (several statements) on the database at `url`, with foreign
/// keys enforced on SQLite as the server enforces them.
pub async fn execute_sql(url: &DatabaseUrl, sql: &str) -> Result<(), String> {
    match url {
        DatabaseUrl::Postgres(url) => {
            let mut conn = AsyncPgConnection::establish(url)
                .await
                .map_err(|e| e.to_string())?;
            conn.batch_execute(sql).await.map_err(|e| e.to_string())
        }
        DatabaseUrl::Sqlite(path) => {
            let mut conn = SyncConnectionWrapper::<SqliteConnection>::establish(path)
                .await
                .map_err(|e| e.to_string())?;
            // The server under test writes in the background (leases, the
            // feed); wait for its lock as the server's own connections do.
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                .await
                .map_err(|e| e.to_string())?;
            conn.batch_execute(sql).await.map_err(|e| e.to_string())
        }
    }
}

/// Another writer holding the database for `hold`: every write of the
/// server waits for it meanwhile (SQLite: its write lock; PostgreSQL: the
/// aliases and versions tables). Returns once the lock is held; the task
/// releases it.
pub async fn hold_writes(url: &DatabaseUrl, hold: Duration) -> JoinHandle<Result<(), String>> {
    let (held, taken) = oneshot::channel();
    let url = url.clone();
    let task = tokio::spawn(async move {
        match &url {
            DatabaseUrl::Postgres(address) => {
                let conn = AsyncPgConnection::establish(address)
                    .await
                    .map_err(|e| e.to_string())?;
                // EXCLUSIVE, not ACCESS EXCLUSIVE: it blocks every write but
                // takes no transaction id, so it does not hold back the
                // change feed of every test sharing the cluster.
                let lock = "BEGIN; LOCK TABLE aliases, model_versions IN EXCLUSIVE MODE;";
                hold_on(conn, lock, held, hold).await
            }
            DatabaseUrl::Sqlite(path) => {
                let conn = SyncConnectionWrapper::<SqliteConnection>::establish(path)
                    .await
                    .map_err(|e| e.to_string())?;
                hold_on(conn, "BEGIN IMMEDIATE;", held, hold).await
            }
        }
    });
    let _ = taken.await;
    task
}

/// A change to model `other` that has begun and not ended, on the
/// PostgreSQL database at `url`: it holds every replica's change feed back
/// (no cache hears of a commit) until [`HeldFeed::release`].
pub struct HeldFeed(AsyncPgConnection);

impl HeldFeed {
    /// Begins the change: takes the model's queue, then a transaction id.
    pub async fn hold(url: &str) -> Self {
        let mut conn = AsyncPgConnection::establish(url)
            .await
            .expect("PostgreSQL accepts a connection");
        conn.batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({}, hashtext('other')); \
             SELECT pg_current_xact_id();",
            model_registry_server::store::MODEL_LOCK_CLASS
        ))
        .await
        .expect("the queue is free");
        Self(conn)
    }

    /// Ends it, writing nothing.
    pub async fn release(mut self) {
        self.0
            .batch_execute("ROLLBACK")
            .await
            .expect("the rollback goes through");
    }
}

/// Takes `lock` on `conn`, says so on `held`, and rolls back after `hold`.
async fn hold_on(
    mut conn: impl SimpleAsyncConnection + Send,
    lock: &str,
    held: oneshot::Sender<()>,
    hold: Duration,
) -> Result<(), String> {
    conn.batch_execute(lock).await.map_err(|e| e.to_string())?;
    let _ = held.send(());
    tokio::time::sleep(hold).await;
    conn.batch_execute("ROLLBACK")
        .await
        .map_err(|e| e.to_string())
}

/// Where a test server's data lives.
enum Source {
    /// A fresh database of this backend.
    Fresh(Backend),
    /// A database the test prepared (or another server's).
    Given(TestDatabase),
    /// A fresh PostgreSQL database, reached through a rewritten URL (e.g.
    /// a proxy the test controls).
    PostgresVia(Box<dyn FnOnce(&str) -> String + Send>),
}

/// How to start a [`TestServer`], the one way tests start one:
/// `TestServer::builder(Backend::Sqlite).options(tls).start().await`.
#[must_use = "a builder starts nothing until `start` is awaited"]
pub struct TestServerBuilder {
    source: Source,
    options: ServeOptions,
    listener: Option<TcpListener>,
}

impl TestServerBuilder {
    /// Serve with `options` (authentication, TLS, limits …).
    pub fn options(mut self, options: ServeOptions) -> Self {
        self.options = options;
        self
    }

    /// Serve on an already bound `listener` (an address chosen before the
    /// server exists, e.g. the one another server had).
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Migrates the database and serves; `None` (after a loud warning) when
    /// the server needs PostgreSQL and it is not reachable and not required.
    pub async fn start(self) -> Option<TestServer> {
        let database = match self.source {
            Source::Fresh(backend) => TestDatabase::create(backend).await?,
            Source::Given(database) => database,
            Source::PostgresVia(rewrite) => {
                let database = PostgresDatabase::create().await?;
                TestDatabase::Postgres {
                    url: DatabaseUrl::Postgres(rewrite(&database.url)),
                    _database: database,
                }
            }
        };
        let listener = match self.listener {
            Some(listener) => listener,
            None => TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback"),
        };
        Some(TestServer::serve_on(database, listener, self.options).await)
    }
}

impl TestServer {
    /// A server on a fresh database of `backend`.
    pub fn builder(backend: Backend) -> TestServerBuilder {
        Self::from_source(Source::Fresh(backend))
    }

    /// A server on a database the test prepared (migrated first).
    pub fn on(database: TestDatabase) -> TestServerBuilder {
        Self::from_source(Source::Given(database))
    }

    /// A server on a fresh PostgreSQL database reached through
    /// `rewrite(url)` (e.g. a proxy), created through the default address.
    pub fn postgres_via(
        rewrite: impl FnOnce(&str) -> String + Send + 'static,
    ) -> TestServerBuilder {
        Self::from_source(Source::PostgresVia(Box::new(rewrite)))
    }

    fn from_source(source: Source) -> TestServerBuilder {
        TestServerBuilder {
            source,
            options: ServeOptions::default(),
            listener: None,
        }
    }

    async fn serve_on(
        database: TestDatabase,
        listener: TcpListener,
        serve_options: ServeOptions,
    ) -> Self {
        let url = database.url().clone();
        // Server warnings go to the test's captured output, shown when it fails.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .try_init();
        Store::migrate(&url).await.expect("migrations apply");
        // Few writers, so tests that queue writes fill the write pool.
        let options = PoolOptions {
            max_connections: 8,
            max_writers: 2,
            acquire_timeout: Duration::from_secs(2),
            ..PoolOptions::default()
        };
        let store = Store::open(&url, &options).expect("store opens");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let serve_options = ServeOptions {
            health_interval: Duration::from_millis(100),
            ..serve_options
        };
        let task = tokio::spawn(server::serve(
            listener,
            store.clone(),
            serve_options,
            async move {
                let _ = stop.await;
            },
        ));
        // Lazy: a TLS server's test connects with its own settings.
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        Self {
            url: format!("http://{addr}"),
            client: RegistryServiceClient::new(channel.clone()),
            channel,
            addr,
            database_url: url,
            store,
            shutdown: Some(shutdown),
            task: Some(task),
            _database: database,
        }
    }

    /// Another server (a replica) on this server's database; the database
    /// lives as long as this server.
    pub async fn replica(&self, options: ServeOptions) -> TestServer {
        self.replica_builder(options)
            .start()
            .await
            .expect("a shared database needs no skip")
    }

    fn replica_builder(&self, options: ServeOptions) -> TestServerBuilder {
        Self::on(TestDatabase::Shared {
            url: self.database_url.clone(),
        })
        .options(options)
    }

    /// A replica of this server serving on `listener` (e.g. on the address
    /// another replica had).
    pub async fn replica_on(&self, listener: TcpListener, options: ServeOptions) -> TestServer {
        self.replica_builder(options)
            .listener(listener)
            .start()
            .await
            .expect("a shared database needs no skip")
    }

    /// Signals shutdown and waits for the server to finish.
    pub async fn stop(mut self) -> Result<(), server::ServerError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The PostgreSQL server tests use, without a database name.
pub fn postgres_base_url() -> String {
    std::env::var("MODEL_REGISTRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("MODEL_REGISTRY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// `./scripts/test --quick` runs one backend: SQLite.
fn sqlite_only() -> bool {
    std::env::var("MODEL_REGISTRY_TEST_SQLITE_ONLY").is_ok_and(|v| v == "1")
}

/// A database created for one test and dropped after it.
pub struct PostgresDatabase {
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create() -> Option<Self> {
        let base = postgres_base_url();
        if sqlite_only() {
            return skip_without_postgres(&base, "MODEL_REGISTRY_TEST_SQLITE_ONLY=1 (quick mode)");
        }
        let admin_url = format!("{base}/postgres");
        let connected = tokio::time::timeout(
            Duration::from_secs(5),
            AsyncPgConnection::establish(&admin_url),
        )
        .await;
        let mut admin = match connected {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return skip_without_postgres(&base, &e.to_string()),
            Err(_) => return skip_without_postgres(&base, "connection timed out"),
        };
        let name = format!("model_registry_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        Some(Self {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

fn skip_without_postgres<T>(base: &str, error: &str) -> Option<T> {
    if postgres_required() {
        panic!(
            "PostgreSQL is required (MODEL_REGISTRY_REQUIRE_POSTGRES=1) but {base} is unreachable: {error}"
        );
    }
    eprintln!(
        "\n!!!!!!!! SKIPPING POSTGRESQL TEST: {base} is unreachable ({error}).\n\
         !!!!!!!! Start PostgreSQL or set MODEL_REGISTRY_TEST_POSTGRES_URL; \
         MODEL_REGISTRY_REQUIRE_POSTGRES=1 turns this skip into a failure.\n"
    );
    None
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime; a separate thread with its own
        // runtime can block on the DROP DATABASE.
        let admin_url = format!("{}/postgres", postgres_base_url());
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&admin_url).await.ok()?;
                admin.batch_execute(&statement).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// Runs each named scenario `async fn NAME(server: TestServer)` on SQLite
/// and on PostgreSQL, as tests `NAME::sqlite` and `NAME::postgres`; with
/// `backend:` first, each `async fn NAME(backend: Backend)` gets the backend
/// and starts its own servers (tokens, TLS …).
#[macro_export]
macro_rules! on_both_backends {
    (backend: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await;
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(server) = $crate::TestServer::builder($crate::Backend::Sqlite).start().await {
                        super::$name(server).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(server) = $crate::TestServer::builder($crate::Backend::Postgres).start().await {
                        super::$name(server).await;
                    }
                }
            }
        )*
    };
}

/// A registration of `model` with the given AUC and defaults elsewhere.
pub fn registration(model: &str, auc: f64) -> pb::RegisterModelRequest {
    pb::RegisterModelRequest {
        model_name: model.to_owned(),
        algorithm: "XGBoost".to_owned(),
        artifact: Some(pb::Artifact {
            uri: format!("s3://models/{model}/{auc}.pkl"),
            ..Default::default()
        }),
        metrics: [("auc".to_owned(), auc)].into(),
        ..Default::default()
    }
}

/// Registers a version and returns it.
pub async fn register(client: &mut Client, request: pb::RegisterModelRequest) -> pb::ModelVersion {
    client
        .register_model(request)
        .await
        .expect("registration succeeds")
        .into_inner()
        .model_version
        .expect("a version in the response")
}

/// Registers `count` versions of `model` with increasing AUC.
pub async fn register_many(
    client: &mut Client,
    model: &str,
    count: usize,
) -> Vec<pb::ModelVersion> {
    let mut versions = Vec::with_capacity(count);
    for i in 0..count {
        versions.push(register(client, registration(model, 0.5 + i as f64 / 1000.0)).await);
    }
    versions
}

/// Makes `version` production.
pub async fn promote(
    client: &mut Client,
    model: &str,
    version: i64,
) -> Result<pb::SetProductionModelResponse, tonic::Status> {
    client
        .set_production_model(pb::SetProductionModelRequest {
            model_name: model.to_owned(),
            version,
            reason: format!("promote {version}"),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Changes a version's status.
pub async fn set_status(
    client: &mut Client,
    model: &str,
    version: i64,
    status: pb::ModelStatus,
) -> Result<pb::ModelVersion, tonic::Status> {
    client
        .update_model_version_status(pb::UpdateModelVersionStatusRequest {
            model_name: model.to_owned(),
            version,
            status: status as i32,
            reason: "test".to_owned(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().model_version.expect("a version"))
}

/// The production version number of `model`, if any.
pub async fn production_version(client: &mut Client, model: &str) -> Option<i64> {
    match client
        .get_production_model(pb::GetProductionModelRequest {
            model_name: model.to_owned(),
            as_of: None,
            consistency_token: String::new(),
        })
        .await
    {
        Ok(response) => response.into_inner().model_version.map(|v| v.version),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("GetProductionModel failed: {status:?}"),
    }
}

/// Every event of `model`, following pagination.
pub async fn all_events(client: &mut Client, model: &str) -> Vec<pb::Event> {
    events_in_pages(client, model, 100).await
}

/// Every event of `model` (every model when empty), read `page_size` at a
/// time by following `next_page_token`.
pub async fn events_in_pages(client: &mut Client, model: &str, page_size: i32) -> Vec<pb::Event> {
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_events(pb::ListEventsRequest {
                model_name: model.to_owned(),
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .expect("ListEvents succeeds")
            .into_inner();
        assert!(
            page.events.len() <= page_size as usize,
            "a page holds at most page_size events"
        );
        events.extend(page.events);
        if page.next_page_token.is_empty() {
            return events;
        }
        page_token = page.next_page_token;
    }
}

/// The code of a failed call, panicking when it succeeded.
pub fn code_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> tonic::Code {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(status) => status.code(),
    }
}

/// The status of a failed call, panicking when it succeeded.
pub fn status_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> tonic::Status {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(status) => status,
    }
}

/// Reads a model.
pub async fn get_model(client: &mut Client, model: &str) -> Result<pb::Model, tonic::Status> {
    client
        .get_model(pb::GetModelRequest {
            model_name: model.to_owned(),
        })
        .await
        .map(|r| r.into_inner().model.expect("a model in the response"))
}

/// Reads a version by model name and number.
pub async fn get_version(
    client: &mut Client,
    model: &str,
    version: i64,
) -> Result<pb::ModelVersion, tonic::Status> {
    client
        .get_model_version(pb::GetModelVersionRequest {
            model_name: model.to_owned(),
            version,
            ..Default::default()
        })
        .await
        .map(|r| {
            r.into_inner()
                .model_version
                .expect("a version in the response")
        })
}

/// Points `alias` of `model` at `version` (no precondition, no gate).
pub async fn set_alias(
    client: &mut Client,
    model: &str,
    alias: &str,
    version: i64,
) -> Result<pb::SetModelAliasResponse, tonic::Status> {
    client
        .set_model_alias(pb::SetModelAliasRequest {
            model_name: model.to_owned(),
            alias: alias.to_owned(),
            version,
            reason: format!("move {alias} to {version}"),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Rolls `alias` of `model` back.
pub async fn rollback_alias(
    client: &mut Client,
    model: &str,
    alias: &str,
) -> Result<pb::RollbackModelAliasResponse, tonic::Status> {
    client
        .rollback_model_alias(pb::RollbackModelAliasRequest {
            model_name: model.to_owned(),
            alias: alias.to_owned(),
            reason: format!("roll {alias} back"),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The version `alias` of `model` points at (at `as_of` when given), if any.
pub async fn alias_version(
    client: &mut Client,
    model: &str,
    alias: &str,
    as_of: Option<prost_types::Timestamp>,
) -> Option<i64> {
    match client
        .get_model_version_by_alias(pb::GetModelVersionByAliasRequest {
            model_name: model.to_owned(),
            alias: alias.to_owned(),
            as_of,
            consistency_token: String::new(),
        })
        .await
    {
        Ok(response) => response.into_inner().model_version.map(|v| v.version),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("GetModelVersionByAlias failed: {status:?}"),
    }
}

/// A registry client that sends `token` as a bearer token (none: no header).
pub type TokenClient =
    RegistryServiceClient<tonic::service::interceptor::InterceptedService<Channel, BearerToken>>;

/// Adds `authorization: Bearer …` to every request.
#[derive(Clone)]
pub struct BearerToken(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A client of `server` presenting `token` (`None`: no credentials).
pub fn client_with_token(server: &TestServer, token: Option<&str>) -> TokenClient {
    let value = token.map(|t| format!("Bearer {t}").parse().expect("ASCII token"));
    RegistryServiceClient::with_interceptor(server.channel.clone(), BearerToken(value))
}

/// PEM files of a throw-away CA, a server certificate for 127.0.0.1 and
/// localhost, and a client certificate, written to a temporary directory.
pub struct TestCertificates {
    pub dir: tempfile::TempDir,
    pub ca: std::path::PathBuf,
    pub server_cert: std::path::PathBuf,
    pub server_key: std::path::PathBuf,
    pub client_cert: std::path::PathBuf,
    pub client_key: std::path::PathBuf,
}

impl TestCertificates {
    /// Certificates whose client certificate names `client_name` (its CN and
    /// DNS name).
    pub fn generate(client_name: &str) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair,
        };
        let dir = tempfile::tempdir().expect("temporary directory");
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "model-registry test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let issue = |names: Vec<String>, common_name: &str, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            let certificate = params.signed_by(&key, &ca).expect("signed certificate");
            (certificate.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = issue(
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = issue(
            vec![client_name.to_owned()],
            client_name,
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Self {
            ca: write("ca.pem", ca.pem()),
            server_cert: write("server.pem", server_cert),
            server_key: write("server.key", server_key),
            client_cert: write("client.pem", client_cert),
            client_key: write("client.key", client_key),
            dir,
        }
    }
}

/// Writes a tokens file readable and writable by its owner only, as the
/// server requires whatever the umask.
pub fn write_tokens_file(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write the tokens file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod the tokens file");
}
