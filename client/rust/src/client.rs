//! [`RegistryClient`]: typed methods for every RPC over one tonic channel,
//! with bearer token, TLS, timeouts and retries of safe calls.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use model_registry_api::v1 as pb;
use model_registry_api::v1::registry_service_client::RegistryServiceClient;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Response, Status};

use crate::error::{Error, Result};
use crate::register::RegisterModel;
use crate::retry::RetryPolicy;
use crate::token_file::TokenFile;
use crate::token_provider::{Renewing, TokenProvider};
use crate::types::{Model, ModelVersion};

/// The generated tonic client, with the bearer token attached to every call.
pub type RawClient = RegistryServiceClient<InterceptedService<Channel, BearerToken>>;

/// Adds `authorization: Bearer …` to every request when a token (or a
/// token file) is set.
#[derive(Debug, Clone, Default)]
pub struct BearerToken(Option<TokenSource>);

/// Where the bearer token comes from.
#[derive(Debug, Clone)]
enum TokenSource {
    Fixed(MetadataValue<Ascii>),
    File(Arc<TokenFile>),
    Renewing(Arc<Renewing>),
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let value = match &self.0 {
            None => return Ok(request),
            Some(TokenSource::Fixed(value)) => value.clone(),
            Some(TokenSource::File(file)) => file.header()?,
            Some(TokenSource::Renewing(provider)) => provider.header()?,
        };
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

/// TLS settings: which certificate authorities to trust, the name to
/// expect on the server's certificate, and a client certificate for
/// mutual TLS. The default trusts the system's roots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    /// PEM of the certificate authority that signed the server's
    /// certificate; `None` trusts the system's roots instead.
    pub ca_certificate_pem: Option<Vec<u8>>,
    /// The name the server's certificate must carry, when it differs from
    /// the endpoint's host.
    pub domain: Option<String>,
    /// PEM certificate and key presented to the server (mutual TLS).
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsOptions {
    /// Trusts the CA certificate in the PEM file at `path`.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            ca_certificate_pem: Some(read_file(path.as_ref())?),
            ..Self::default()
        })
    }

    /// Presents the PEM certificate and key in these files (mutual TLS).
    pub fn with_client_identity(
        mut self,
        certificate: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self> {
        self.client_identity = Some((read_file(certificate.as_ref())?, read_file(key.as_ref())?));
        Ok(self)
    }

    fn client_config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_certificate_pem {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_native_roots(),
        };
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        if let Some((certificate, key)) = &self.client_identity {
            config = config.identity(Identity::from_pem(certificate, key));
        }
        config
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::File {
        path: path.display().to_string(),
        source,
    })
}

/// How the client connects and calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Bearer token sent with every call.
    pub token: Option<String>,
    /// A file holding the bearer token, read again whenever it changes (a
    /// Kubernetes projected service-account token, say); instead of `token`.
    pub token_file: Option<PathBuf>,
    /// A token from the platform, renewed before it expires: an
    /// environment variable, a command, a GitHub Actions job's OIDC token;
    /// instead of `token` and `token_file`.
    pub token_provider: Option<TokenProvider>,
    /// How long before a provider's token expires it is fetched again.
    pub token_refresh_before: Duration,
    /// TLS settings; `None` means plaintext for `http://` and `host:port`,
    /// and the system's roots for `https://`.
    pub tls: Option<TlsOptions>,
    /// Deadline of each call; `None` for none.
    pub timeout: Option<Duration>,
    /// How long to wait for a connection to open.
    pub connect_timeout: Duration,
    /// Retries of UNAVAILABLE on safe calls.
    pub retry: RetryPolicy,
    /// Compress requests with gzip and ask for gzip responses: worth it
    /// for large registrations and listings over slow links; off by default
    /// (compression costs CPU on both sides).
    pub gzip: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            token: None,
            token_file: None,
            token_provider: None,
            token_refresh_before: Duration::from_secs(60),
            tls: None,
            timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            gzip: false,
        }
    }
}

/// A client of the Model Registry.
///
/// Cheap to clone; clones share the connection. Every call is retried with
/// backoff while the server answers UNAVAILABLE: reads because they are
/// safe, changes because each carries a fresh `request_id` that its retries
/// reuse, so the server applies it at most once and answers a retry with
/// the first result.
///
/// ```no_run
/// # async fn example() -> Result<(), model_registry_client::Error> {
/// use model_registry_client::RegistryClient;
///
/// let client = RegistryClient::connect("http://127.0.0.1:50051").await?;
/// match client.get_production_model("churn").await {
///     Ok(version) => println!("serve {}", version.artifact().uri),
///     Err(e) if e.is_not_found() => println!("nothing in production yet"),
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RegistryClient {
    raw: RawClient,
    retry: RetryPolicy,
    /// The newest consistency token this client (and its clones) saw.
    tokens: std::sync::Arc<crate::consistency::NewestToken>,
}

impl RegistryClient {
    /// Connects to `endpoint` (`http://host:port`, `https://host:port` or
    /// `host:port`) with default options. The connection opens on first use,
    /// so a server that starts a little later is fine.
    pub async fn connect(endpoint: impl Into<String>) -> Result<Self> {
        Self::connect_with(endpoint, ClientOptions::default()).await
    }

    /// Connects to `endpoint` with `options`.
    pub async fn connect_with(endpoint: impl Into<String>, options: ClientOptions) -> Result<Self> {
        let endpoint = endpoint.into();
        let connect_error = |reason: String| Error::Connect {
            endpoint: endpoint.clone(),
            reason,
        };
        let url = if endpoint.contains("://") {
            endpoint.clone()
        } else if options.tls.is_some() {
            format!("https://{endpoint}")
        } else {
            format!("http://{endpoint}")
        };
        let tls = match (&options.tls, url.starts_with("https://")) {
            (Some(tls), true) => Some(tls.clone()),
            (None, true) => Some(TlsOptions::default()),
            (Some(_), false) => {
                return Err(connect_error(
                    "TLS options were given for an http:// URL; use https://".to_owned(),
                ));
            }
            (None, false) => None,
        };
        let mut builder = Endpoint::from_shared(url.clone())
            .map_err(|e| connect_error(e.to_string()))?
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true);
        if let Some(timeout) = options.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(tls) = &tls {
            builder = builder
                .tls_config(tls.client_config())
                .map_err(|e| connect_error(e.to_string()))?;
        }
        let token = match (&options.token, &options.token_file, &options.token_provider) {
            (None, None, Some(provider)) => Some(TokenSource::Renewing(Arc::new(Renewing::start(
                provider.clone(),
                options.token_refresh_before,
            )?))),
            (_, _, Some(_)) | (Some(_), Some(_), None) => {
                return Err(Error::InvalidInput(
                    "give one of a token, a token file and a token provider, not several"
                        .to_owned(),
                ));
            }
            (Some(token), None, None) => Some(TokenSource::Fixed(
                MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
                    Error::InvalidInput("the token must be printable ASCII".to_owned())
                })?,
            )),
            (None, Some(path), None) => Some(TokenSource::File(Arc::new(TokenFile::open(path)?))),
            (None, None, None) => None,
        };
        let channel = builder.connect_lazy();
        let mut raw = RegistryServiceClient::with_interceptor(channel, BearerToken(token));
        if options.gzip {
            raw = raw
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self {
            raw,
            retry: options.retry,
            tokens: std::sync::Arc::default(),
        })
    }

    /// How calls are retried.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The newest consistency token this client has seen (empty: none): a
    /// change's, which the alias reads send so that they include it
    /// whichever replica answers. Hand it to another client with
    /// [`RegistryClient::observe_consistency_token`].
    pub fn consistency_token(&self) -> String {
        self.tokens.get()
    }

    /// Makes this client's alias reads include the change `token` names
    /// (one another client or process made), as well as its own.
    pub fn observe_consistency_token(&self, token: &str) {
        self.tokens.saw(token);
    }

    /// The generated client, for calls this wrapper does not cover.
    pub fn raw(&self) -> RawClient {
        self.raw.clone()
    }

    /// Registers a new version and returns it (or, for a repeated request
    /// id, the version the first call registered).
    pub async fn register_model(&self, registration: RegisterModel) -> Result<ModelVersion> {
        let mut request = registration.into_request();
        ensure_request_id(&mut request.request_id);
        let response = self
            .retried(
                request,
                |mut raw, r| async move { raw.register_model(r).await },
            )
            .await?;
        self.observe_consistency_token(&response.consistency_token);
        version_of(response.model_version)
    }

    /// Reads version `version` of `model_name`.
    pub async fn get_model_version(&self, model_name: &str, version: i64) -> Result<ModelVersion> {
        self.read_version(pb::GetModelVersionRequest {
            model_name: model_name.to_owned(),
            version,
            ..Default::default()
        })
        .await
    }

    /// Reads a version by its id.
    pub async fn get_model_version_by_id(&self, id: &str) -> Result<ModelVersion> {
        self.read_version(pb::GetModelVersionRequest {
            id: id.to_owned(),
            ..Default::default()
        })
        .await
    }

    async fn read_version(&self, request: pb::GetModelVersionRequest) -> Result<ModelVersion> {
        let response = self
            .retried(request, |mut raw, r| async move {
                raw.get_model_version(r).await
            })
            .await?;
        version_of(response.model_version)
    }

    /// One model with its aliases and version count.
    pub async fn get_model(&self, model_name: &str) -> Result<Model> {
        let request = pb::GetModelRequest {
            model_name: model_name.to_owned(),
        };
        let response = self
            .retried(request, |mut raw, r| async move { raw.get_model(r).await })
            .await?;
        response
            .model
            .map(Model::from)
            .ok_or_else(|| Error::InvalidInput("the server sent no model".to_owned()))
    }

    pub(crate) async fn retried<Req, Resp, F, Fut>(&self, request: Req, call: F) -> Result<Resp>
    where
        Req: Clone,
        F: Fn(RawClient, Req) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        self.retry
            .run(|| call(self.raw.clone(), request.clone()))
            .await
            .map(Response::into_inner)
            .map_err(Error::from)
    }
}

/// A fresh idempotency key for one change; its retries reuse it, so a
/// retried change can never happen twice.
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn ensure_request_id(request_id: &mut String) {
    if request_id.is_empty() {
        *request_id = new_request_id();
    }
}

/// The version a response carries; every response that names one carries it.
pub(crate) fn version_of(version: Option<pb::ModelVersion>) -> Result<ModelVersion> {
    version
        .map(ModelVersion::from)
        .ok_or_else(|| Error::InvalidInput("the server sent no model version".to_owned()))
}
