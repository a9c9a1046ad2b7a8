//! One POST to a receiver, safely: no proxy, no redirects, connect and
//! total timeouts, at most [`EXCERPT_BYTES`] of the answer read, and every
//! address a name resolves to checked against the destination rules when
//! the connection is made (a name that resolved to a public address when
//! the subscription was made may resolve to an internal one now).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook::DestinationRules;

/// How much of a receiver's answer is read and kept in the delivery log.
pub const EXCERPT_BYTES: usize = 1024;

/// How a receiver answered one request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its HTTP status, when it answered.
    pub status: Option<u16>,
    /// How long it waited for `Retry-After`, when it said.
    pub retry_after: Option<Duration>,
    /// The first bytes of its body, as text.
    pub excerpt: String,
    /// Why there is no usable answer (a timeout, a refused address, …).
    pub error: String,
    /// From sending to the end of the answer.
    pub latency: Duration,
}

/// Resolves names, keeping only the addresses the rules allow.
struct CheckedResolver {
    rules: DestinationRules,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = self.rules;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match rules.check_address(address.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refused = Some(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| "resolves to no address".to_owned());
                return Err(format!("destination refused: {host} {why}").into());
            }
            let addresses: Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

/// The HTTP client every delivery uses.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    rules: DestinationRules,
}

impl Sender {
    /// A client under `rules`, with these timeouts.
    pub fn new(
        rules: DestinationRules,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver { rules }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(concat!(
                "model-registry-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self { client, rules })
    }

    /// POSTs `body` to `url` with `headers`; never fails, the answer says
    /// what happened.
    pub async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer {
            status: None,
            retry_after: None,
            excerpt: String::new(),
            error,
            latency: started.elapsed(),
        };
        // The rules may have changed since the subscription was made, and
        // an address written in the URL is not resolved: check it here.
        if let Err(error) = self.rules.check_url("url", url) {
            return failed(format!("destination refused: {error}"));
        }
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed(describe(&error)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut excerpt = Vec::new();
        let mut error = String::new();
        while excerpt.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = describe(&e);
                    break;
                }
            }
        }
        excerpt.truncate(EXCERPT_BYTES);
        Answer {
            status: Some(status),
            retry_after,
            excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
            error,
            latency: started.elapsed(),
        }
    }
}

/// An error with its causes, on one line (reqwest's own text hides them).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
