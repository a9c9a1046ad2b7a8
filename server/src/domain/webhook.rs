//! Webhook rules with no I/O: which events a subscription receives, where
//! it may send them (the destination rules that keep the server from being
//! pointed at its own network), how a request is signed (the Standard
//! Webhooks specification), and when a failed delivery is tried again.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::{DomainError, DomainResult};
use super::{AliasName, Event, EventKind, FeedPosition};

/// How long a rotated-out secret keeps signing when the caller does not say.
pub const DEFAULT_SECRET_OVERLAP_SECONDS: i64 = 24 * 3600;

/// The longest overlap a rotation may ask.
pub const MAX_SECRET_OVERLAP_SECONDS: i64 = 30 * 24 * 3600;

/// The longest destination URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// The prefix of a signing secret's text (the specification's convention).
const SECRET_PREFIX: &str = "whsec_";

/// Which events a subscription receives; every part that is set must match.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WebhookFilter {
    /// Only events of models whose name starts with it ("" for all; the
    /// events of no model then pass too).
    pub model_prefix: String,
    /// Only events about these aliases (none: every event).
    pub aliases: Vec<String>,
    /// Only events of these kinds, by stored name (none: every kind).
    pub kinds: Vec<String>,
}

impl WebhookFilter {
    /// A filter from validated parts (each alias and kind kept once, in
    /// the order first given).
    pub fn new(model_prefix: String, aliases: &[AliasName], kinds: &[EventKind]) -> Self {
        fn once<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
            let mut kept: Vec<String> = Vec::new();
            for name in names {
                if !kept.iter().any(|k| k == name) {
                    kept.push(name.to_owned());
                }
            }
            kept
        }
        Self {
            model_prefix,
            aliases: once(aliases.iter().map(AliasName::as_str)),
            kinds: once(kinds.iter().map(|k| k.as_str())),
        }
    }

    /// Whether `event` is one the subscription receives.
    pub fn matches(&self, event: &Event) -> bool {
        let model_passes = self.model_prefix.is_empty()
            || (!event.model_name.as_str().is_empty()
                && event.model_name.as_str().starts_with(&self.model_prefix));
        let alias_passes = self.aliases.is_empty()
            || event
                .alias
                .as_ref()
                .is_some_and(|alias| self.aliases.iter().any(|a| a == alias));
        let kind_passes =
            self.kinds.is_empty() || self.kinds.iter().any(|k| k == event.kind.as_str());
        model_passes && alias_passes && kind_passes
    }

    /// The event kinds, parsed back from their stored names.
    pub fn event_kinds(&self) -> Vec<EventKind> {
        self.kinds
            .iter()
            .filter_map(|k| EventKind::parse(k))
            .collect()
    }
}

/// Where a subscription's deliveries stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// Delivering, or retrying one event.
    Active,
    /// Paused after a permanent refusal or retries past the maximum age.
    Failing,
}

impl WebhookState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Failing => "FAILING",
        }
    }

    /// Parses a stored name.
    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Active, Self::Failing]
            .into_iter()
            .find(|s| s.as_str() == stored)
    }
}

/// A subscription as callers see it (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Its id (never reused).
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Which events it receives.
    pub filter: WebhookFilter,
    /// Delivering, or paused.
    pub state: WebhookState,
    /// Why the latest attempt failed, or why it is paused.
    pub failure: String,
    /// The event being retried or failed on.
    pub retrying_event_id: Option<i64>,
    /// When it was made, and by whom.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
    /// Its place in the trail: every event up to here was delivered or
    /// filtered out.
    pub cursor: FeedPosition,
    /// When an event was last delivered.
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// Until when a rotated-out secret still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Changes with every change of what is delivered (update, replay,
    /// resume): a worker of an older generation stops.
    pub generation: i64,
    /// Whether a failing event holds up the ones after it (or is set aside
    /// and retried on its own).
    pub ordered: bool,
}

/// One attempt to deliver one event to a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The subscription.
    pub webhook_id: i64,
    /// The event sent.
    pub event_id: i64,
    /// Which attempt of this event, from 1.
    pub attempt: i64,
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<i64>,
    /// From sending to the end of the answer.
    pub latency_ms: i64,
    /// The first bytes of the answer.
    pub response_excerpt: String,
    /// Why it failed ("" when delivered).
    pub error: String,
    /// Whether the receiver took it.
    pub delivered: bool,
}

/// The secret a subscription's requests are signed with: 32 random bytes,
/// shown as `whsec_` and their base64.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// A new random secret.
    pub fn generate() -> DomainResult<Self> {
        Ok(Self(super::secret::random_32()?.to_vec()))
    }

    /// The secret from its text (`whsec_…`, as stored and shown once).
    pub fn parse(text: &str) -> DomainResult<Self> {
        text.strip_prefix(SECRET_PREFIX)
            .and_then(|b64| BASE64.decode(b64).ok())
            .filter(|bytes| !bytes.is_empty())
            .map(Self)
            .ok_or_else(|| DomainError::Internal("a stored webhook secret is malformed".into()))
    }

    /// Its text: `whsec_` and the base64 of its bytes.
    pub fn reveal(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }

    /// The `webhook-signature` entry for one request: `v1,` and the base64
    /// HMAC-SHA256 of `id.timestamp.body`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        // A key of any length is valid for HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The secrets a subscription's requests are signed with: the current one,
/// and a rotated-out one until its overlap ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeys {
    /// The secret the latest rotation (or the creation) made.
    pub current: WebhookSecret,
    /// The one it replaced, and until when it still signs.
    pub previous: Option<(WebhookSecret, DateTime<Utc>)>,
}

impl SigningKeys {
    /// The `webhook-signature` header of one request sent at `now`: an
    /// entry per secret that signs then, space-separated.
    pub fn signature_header(
        &self,
        now: DateTime<Utc>,
        message_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> String {
        let mut header = self.current.sign(message_id, timestamp, body);
        if let Some((previous, until)) = &self.previous
            && *until > now
        {
            header.push(' ');
            header.push_str(&previous.sign(message_id, timestamp, body));
        }
        header
    }
}

/// The `webhook-id` of event `event_id` sent to subscription `webhook_id`:
/// the same on every attempt, so a receiver drops what it already took.
pub fn message_id(webhook_id: i64, event_id: i64) -> String {
    format!("msg_{webhook_id}_{event_id}")
}

/// The CloudEvents `type` of an event kind.
pub fn cloud_event_type(kind: EventKind) -> &'static str {
    match kind {
        EventKind::ModelCreated => "model_registry.model.created",
        EventKind::ModelUpdated => "model_registry.model.updated",
        EventKind::VersionRegistered => "model_registry.version.registered",
        EventKind::VersionUpdated => "model_registry.version.updated",
        EventKind::StatusChanged => "model_registry.version.status_changed",
        EventKind::AliasSet => "model_registry.alias.set",
        EventKind::AliasDeleted => "model_registry.alias.deleted",
        EventKind::AliasRolledBack => "model_registry.alias.rolled_back",
        EventKind::AliasPolicySet => "model_registry.alias_policy.set",
        EventKind::AliasPolicyDeleted => "model_registry.alias_policy.deleted",
        EventKind::ChangeRequested => "model_registry.change_request.created",
        EventKind::ChangeApproved => "model_registry.change_request.approved",
        EventKind::ChangeRejected => "model_registry.change_request.rejected",
        EventKind::ChangeCancelled => "model_registry.change_request.cancelled",
        EventKind::ChangeFailed => "model_registry.change_request.failed",
        EventKind::AliasFrozen => "model_registry.alias.frozen",
        EventKind::AliasUnfrozen => "model_registry.alias.unfrozen",
        EventKind::VersionFrozen => "model_registry.version.frozen",
        EventKind::VersionUnfrozen => "model_registry.version.unfrozen",
        EventKind::WebhookCreated => "model_registry.webhook.created",
        EventKind::WebhookDeleted => "model_registry.webhook.deleted",
        EventKind::WebhookResumed => "model_registry.webhook.resumed",
        EventKind::WebhookUpdated => "model_registry.webhook.updated",
        EventKind::WebhookSecretRotated => "model_registry.webhook.secret_rotated",
        EventKind::WebhookReplayed => "model_registry.webhook.replayed",
        EventKind::SignatureAttached => "model_registry.version.signature_attached",
    }
}

/// What the operator allows destinations to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationRules {
    /// `http://` URLs too (requests and secrets then travel in clear).
    pub allow_http: bool,
    /// Private, loopback, link-local and other internal addresses too.
    pub allow_private: bool,
}

impl DestinationRules {
    /// The URL, checked: absolute, `https://` (or `http://` when allowed),
    /// a host, no credentials, and no literal internal address unless
    /// allowed. Names are checked again, resolved, at every connection.
    pub fn check_url(&self, field: &str, text: &str) -> DomainResult<url::Url> {
        let invalid = |message: String| DomainError::invalid(field, message);
        if text.chars().count() > MAX_URL_CHARS {
            return Err(invalid(format!(
                "is longer than {MAX_URL_CHARS} characters"
            )));
        }
        let url = url::Url::parse(text)
            .map_err(|error| invalid(format!("is not an absolute URL ({error})")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(invalid(
                    "must be https:// (this server does not allow http:// destinations)".into(),
                ));
            }
            other => return Err(invalid(format!("must be https://, not {other}://"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "must not carry credentials; the receiver verifies the signature instead".into(),
            ));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not have a fragment (#…)".into()));
        }
        let literal = match url.host() {
            None => return Err(invalid("has no host".into())),
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
        };
        if let Some(ip) = literal {
            self.check_address(ip).map_err(invalid)?;
        }
        Ok(url)
    }

    /// Whether a connection may go to `ip`: the reason it may not.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(format!(
                "points at {ip}, a private, loopback, link-local or reserved address \
                 (allowed only with --webhook-allow-private-destinations)"
            ))
        }
    }
}

/// Whether `ip` is an address on the public internet: not loopback,
/// private, link-local, shared (carrier-grade NAT), unspecified, multicast,
/// broadcast, documentation or otherwise reserved, by IPv4 or IPv6 (an
/// IPv4 address mapped into IPv6 is judged as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64
        }
    }
}

/// What one attempt's answer means for the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// The receiver took it: move on.
    Delivered,
    /// Try again later (timeouts, connection errors, 408, 429, 5xx).
    Retry,
    /// The receiver refused it for good (other 4xx, or a 3xx: redirects are
    /// not followed): pause the subscription.
    Refused,
}

/// The verdict on an answer with HTTP status `status`.
pub fn verdict(status: u16) -> AttemptVerdict {
    match status {
        200..=299 => AttemptVerdict::Delivered,
        408 | 429 | 500..=599 => AttemptVerdict::Retry,
        _ => AttemptVerdict::Refused,
    }
}

/// When to try an event again after `attempts` failed attempts: doubling
/// from `first` up to `max`, each wait drawn between half and all of it
/// (`jitter` in 0..1) so receivers coming back are not hit by every sender
/// at once; at least what the receiver asked (`Retry-After`), within `max`.
pub fn retry_delay(
    attempts: u32,
    first: Duration,
    max: Duration,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Duration {
    let exponent = attempts.saturating_sub(1).min(30);
    let full = first.saturating_mul(1u32 << exponent).min(max);
    let drawn = full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(asked) => drawn.max(asked.min(max)),
        None => drawn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ModelName;

    fn event(kind: EventKind, model: &str, alias: Option<&str>) -> Event {
        Event {
            id: 1,
            tx: 0,
            occurred_at: Utc::now(),
            kind,
            model_name: ModelName::from_stored(model.to_owned()),
            model_prefix: None,
            version: None,
            alias: alias.map(str::to_owned),
            previous_version: None,
            new_version: None,
            previous_status: None,
            new_status: None,
            actor: String::new(),
            actor_source: None,
            reason: String::new(),
            request_id: String::new(),
            correlation_id: None,
            emergency: false,
            change_request_id: None,
            detail: None,
            webhook_id: None,
        }
    }

    #[test]
    fn filters_combine_and_a_prefix_leaves_out_events_of_no_model() {
        let filter = WebhookFilter {
            model_prefix: "fraud-".into(),
            aliases: vec!["production".into()],
            kinds: vec!["ALIAS_SET".into()],
        };
        assert!(filter.matches(&event(EventKind::AliasSet, "fraud-x", Some("production"))));
        assert!(!filter.matches(&event(EventKind::AliasSet, "churn", Some("production"))));
        assert!(!filter.matches(&event(EventKind::AliasSet, "fraud-x", Some("canary"))));
        assert!(!filter.matches(&event(
            EventKind::AliasDeleted,
            "fraud-x",
            Some("production")
        )));
        assert!(!filter.matches(&event(EventKind::WebhookCreated, "", None)));
        let all = WebhookFilter::default();
        assert!(all.matches(&event(EventKind::WebhookCreated, "", None)));
        assert!(all.matches(&event(EventKind::VersionRegistered, "churn", None)));
    }

    #[test]
    fn a_filter_names_each_alias_and_kind_once_in_the_order_given() {
        let alias = |name: &str| AliasName::parse("aliases", name).unwrap();
        let filter = WebhookFilter::new(
            "fraud-".into(),
            &[alias("production"), alias("canary"), alias("production")],
            &[
                EventKind::AliasSet,
                EventKind::AliasSet,
                EventKind::AliasDeleted,
            ],
        );
        assert_eq!(filter.aliases, ["production", "canary"]);
        assert_eq!(
            filter.event_kinds(),
            [EventKind::AliasSet, EventKind::AliasDeleted]
        );
    }

    #[test]
    fn signatures_follow_the_specifications_example() {
        // The example of the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(WebhookSecret::parse(&secret.reveal()).unwrap(), secret);
        assert!(!format!("{secret:?}").contains("MfKQ"));
    }

    #[test]
    fn destinations_must_be_https_public_and_without_credentials() {
        let strict = DestinationRules::default();
        assert!(
            strict
                .check_url("url", "https://hooks.example.com/x")
                .is_ok()
        );
        for refused in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://user:pw@hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[::ffff:192.168.1.1]/x",
            "https://[fd00::1]/x",
            "not a url",
        ] {
            let error = strict.check_url("url", refused).unwrap_err();
            assert_eq!(error.invalid_fields(), ["url"], "{refused}");
        }
        let lax = DestinationRules {
            allow_http: true,
            allow_private: true,
        };
        assert!(lax.check_url("url", "http://127.0.0.1:8080/hook").is_ok());
        assert!(is_public("8.8.8.8".parse().unwrap()));
        assert!(!is_public("100.64.0.1".parse().unwrap()));
    }

    #[test]
    fn retries_back_off_and_honour_retry_after_within_the_maximum() {
        let first = Duration::from_secs(1);
        let max = Duration::from_secs(300);
        assert_eq!(retry_delay(1, first, max, 1.0, None), first);
        assert_eq!(
            retry_delay(4, first, max, 1.0, None),
            Duration::from_secs(8)
        );
        assert_eq!(
            retry_delay(4, first, max, 0.0, None),
            Duration::from_secs(4)
        );
        assert_eq!(retry_delay(40, first, max, 1.0, None), max);
        let asked = Some(Duration::from_secs(60));
        assert_eq!(
            retry_delay(1, first, max, 1.0, asked),
            Duration::from_secs(60)
        );
        let too_long = Some(Duration::from_secs(86_400));
        assert_eq!(retry_delay(1, first, max, 1.0, too_long), max);
        assert_eq!(verdict(204), AttemptVerdict::Delivered);
        assert_eq!(verdict(429), AttemptVerdict::Retry);
        assert_eq!(verdict(503), AttemptVerdict::Retry);
        assert_eq!(verdict(404), AttemptVerdict::Refused);
        assert_eq!(verdict(302), AttemptVerdict::Refused);
    }
}
