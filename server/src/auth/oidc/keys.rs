//! An issuer's public keys: fetched through OIDC discovery and kept, or
//! read from a JWKS file. A token signed with a key id the cache does not
//! hold prompts one fetch (no more often than the issuer's
//! `key_refresh_seconds`, so made-up key ids cannot flood the provider);
//! keys are fetched again in the background once they are older than
//! [`MAX_KEY_AGE`]. A provider that cannot be reached leaves the cached
//! keys in force.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::Mutex;

use super::config::{Issuer, KeySource};
use super::figures;

/// Keys older than this are fetched again (in the background, the old ones
/// serving meanwhile): how long a key the provider withdrew stays trusted.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(15 * 60);
/// The most a discovery document or key set may weigh.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// How long one fetch of a document may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A verification key and what it may verify.
pub struct Key {
    /// The algorithm the provider bound the key to, if it did.
    pub algorithm: Option<Algorithm>,
    /// The key.
    pub key: DecodingKey,
}

#[derive(Default)]
struct Held {
    by_id: HashMap<String, Arc<Key>>,
    /// Keys without an id: only usable when a token names none.
    unnamed: Vec<Arc<Key>>,
    fetched: Option<Instant>,
    /// Where people sign in, from the last discovery document that had them.
    endpoints: Option<Endpoints>,
}

/// The provider's endpoints for the authorization code flow, from its
/// discovery document (both HTTPS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Where the browser is sent to sign in.
    pub authorization: String,
    /// Where the server exchanges the code for the ID token.
    pub token: String,
}

/// What one fetch brought: the keys, and the sign-in endpoints when the
/// discovery document names them.
struct Fetched {
    keys: Vec<Jwk>,
    endpoints: Option<Endpoints>,
}

/// One issuer's keys.
pub struct KeyCache {
    issuer: Arc<Issuer>,
    client: Option<reqwest::Client>,
    held: RwLock<Held>,
    /// When a token last prompted a fetch; held while fetching, so
    /// concurrent callers wait for one fetch instead of each starting
    /// their own.
    last_attempt: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("issuer", &self.issuer.name)
            .finish_non_exhaustive()
    }
}

/// What a lookup found.
pub enum Lookup {
    /// The key to verify with.
    Found(Arc<Key>),
    /// The token names no key the issuer has published.
    Unknown,
    /// The issuer's keys could never be fetched.
    Unavailable,
}

impl KeyCache {
    /// The cache of `issuer`'s keys: loaded now from a file, else empty
    /// until the first fetch.
    pub fn new(issuer: Arc<Issuer>) -> Result<Self, String> {
        let (client, held) = match &issuer.keys {
            KeySource::File(set) => (None, held_from(set.keys.clone(), &issuer.name)),
            KeySource::Discovery { ca_pem } => {
                (Some(http_client(ca_pem.as_deref())?), Held::default())
            }
        };
        Ok(Self {
            issuer,
            client,
            held: RwLock::new(held),
            last_attempt: Mutex::new(None),
        })
    }

    /// The issuer these keys belong to.
    pub fn issuer(&self) -> &Arc<Issuer> {
        &self.issuer
    }

    /// The key for a token naming `kid`, fetching the issuer's keys once if
    /// the id is new (within the rate limit).
    pub async fn key(self: &Arc<Self>, kid: Option<&str>) -> Lookup {
        if let Some(key) = self.cached(kid) {
            if self.stale() {
                let cache = Arc::clone(self);
                // Rate-limited like unknown key ids: while the provider is
                // down the keys stay stale, and every call would try again.
                tokio::spawn(async move {
                    let interval = cache.issuer.key_refresh;
                    cache.refresh(interval, None).await;
                });
            }
            return Lookup::Found(key);
        }
        if self.client.is_some() {
            self.refresh(self.issuer.key_refresh, kid).await;
        }
        match self.cached(kid) {
            Some(key) => Lookup::Found(key),
            None if self.read().fetched.is_none() && self.client.is_some() => Lookup::Unavailable,
            None => Lookup::Unknown,
        }
    }

    /// The provider's sign-in endpoints, fetching its discovery document
    /// first if no fetch has brought them yet (within the rate limit).
    pub async fn endpoints(&self) -> Result<Endpoints, String> {
        if let Some(endpoints) = self.read().endpoints.clone() {
            return Ok(endpoints);
        }
        if self.client.is_some() {
            self.refresh(self.issuer.key_refresh, None).await;
        }
        self.read().endpoints.clone().ok_or_else(|| {
            format!(
                "the discovery document of {} names no https:// authorization_endpoint and \
                 token_endpoint (or could not be fetched)",
                self.issuer.url
            )
        })
    }

    /// The client that fetches this provider's documents (none for keys
    /// from a file).
    pub fn client(&self) -> Option<&reqwest::Client> {
        self.client.as_ref()
    }

    /// Fetches the keys now (start-up, `check-token`), whatever the rate
    /// limit, which counts only fetches prompted by tokens.
    pub async fn fetch_now(&self) -> Result<usize, String> {
        let _one_at_a_time = self.last_attempt.lock().await;
        self.fetch_and_keep().await
    }

    fn cached(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        let held = self.read();
        match kid {
            Some(kid) => held.by_id.get(kid).cloned(),
            // A token without a key id is only accepted from an issuer
            // that publishes exactly one key.
            None => match (held.by_id.len(), held.unnamed.as_slice()) {
                (0, [only]) => Some(Arc::clone(only)),
                (1, []) => held.by_id.values().next().cloned(),
                _ => None,
            },
        }
    }

    fn stale(&self) -> bool {
        self.client.is_some()
            && self
                .read()
                .fetched
                .is_some_and(|fetched| fetched.elapsed() > MAX_KEY_AGE)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Held> {
        self.held
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fetches the keys unless a fetch was tried less than `interval` ago,
    /// or another caller's fetch (waited for) brought `kid` meanwhile.
    async fn refresh(&self, interval: Duration, kid: Option<&str>) {
        let mut last = self.last_attempt.lock().await;
        // Another caller's fetch, waited for, may have done the work.
        let fetched = self.read().fetched.is_some();
        if (kid.is_some() && self.cached(kid).is_some())
            || (kid.is_none() && fetched && !self.stale())
        {
            return;
        }
        if last.is_some_and(|at| at.elapsed() < interval) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(error) = self.fetch_and_keep().await {
            tracing::warn!(
                issuer = %self.issuer.name,
                error = %error,
                "cannot fetch the issuer's keys; the keys fetched before stay in use"
            );
        }
    }

    async fn fetch_and_keep(&self) -> Result<usize, String> {
        let outcome = self.fetch().await;
        figures::key_refresh(&self.issuer.name, outcome.is_ok());
        let fetched = outcome?;
        let mut held = held_from(fetched.keys, &self.issuer.name);
        held.endpoints = fetched.endpoints;
        let count = held.by_id.len() + held.unnamed.len();
        tracing::info!(issuer = %self.issuer.name, keys = count, "fetched the issuer's keys");
        *self
            .held
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = held;
        Ok(count)
    }

    /// Discovery, then the key set, as the OIDC discovery specification
    /// says: the document's `issuer` must be the one configured.
    async fn fetch(&self) -> Result<Fetched, String> {
        let Some(client) = &self.client else {
            return Err("keys come from a file".to_owned());
        };
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.url.trim_end_matches('/')
        );
        let discovery = get_json(client, &discovery_url).await?;
        if discovery.get("issuer").and_then(Value::as_str) != Some(self.issuer.url.as_str()) {
            return Err(format!(
                "{discovery_url} names issuer {}, not {}",
                discovery.get("issuer").unwrap_or(&Value::Null),
                self.issuer.url
            ));
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{discovery_url} has no jwks_uri"))?;
        if !jwks_uri.starts_with("https://") {
            return Err(format!(
                "{discovery_url}: jwks_uri {jwks_uri} is not https://"
            ));
        }
        let set = get_json(client, jwks_uri).await?;
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{jwks_uri} is not a JWKS (no keys)"))?;
        let endpoint = |name| {
            discovery
                .get(name)
                .and_then(Value::as_str)
                .filter(|url| url.starts_with("https://"))
                .map(str::to_owned)
        };
        let endpoints = endpoint("authorization_endpoint")
            .zip(endpoint("token_endpoint"))
            .map(|(authorization, token)| Endpoints {
                authorization,
                token,
            });
        Ok(Fetched {
            // One key of a type this server cannot use must not cost the others.
            keys: keys
                .iter()
                .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
                .collect(),
            endpoints,
        })
    }
}

/// The signing keys of a set, by id.
fn held_from(keys: Vec<Jwk>, issuer: &str) -> Held {
    let mut held = Held {
        fetched: Some(Instant::now()),
        ..Held::default()
    };
    for jwk in keys {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let key = match DecodingKey::from_jwk(&jwk) {
            Ok(key) => key,
            Err(error) => {
                tracing::warn!(issuer, kid = ?jwk.common.key_id, error = %error, "skipped a key the server cannot use");
                continue;
            }
        };
        let algorithm = jwk
            .common
            .key_algorithm
            .and_then(|alg| alg.to_string().parse().ok());
        let key = Arc::new(Key { algorithm, key });
        match jwk.common.key_id {
            Some(kid) => {
                held.by_id.insert(kid, key);
            }
            None => held.unnamed.push(key),
        }
    }
    held
}

/// The client for one issuer's documents: HTTPS only, no redirects, short
/// timeouts; only `ca_pem`'s roots when given.
fn http_client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(FETCH_TIMEOUT)
        .timeout(FETCH_TIMEOUT);
    if let Some(pem) = ca_pem {
        builder = builder.tls_built_in_root_certs(false);
        for certificate in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|e| e.to_string())
}

/// A JSON document of at most [`MAX_DOCUMENT_BYTES`].
async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    read_json(response, url).await
}

/// The JSON body of `response` (from `url`), of at most
/// [`MAX_DOCUMENT_BYTES`].
pub async fn read_json(mut response: reqwest::Response, url: &str) -> Result<Value, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))
}
