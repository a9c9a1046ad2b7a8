//! Console sessions. Signing in exchanges a bearer token, or an identity
//! provider's ID token, for a session: the browser keeps a random secret,
//! its expiry and a MAC over both in a cookie (never a token), the database
//! keeps the secret's digest, the principal, the token's digest and, from a
//! provider, its verified claims. A cookie is good while its MAC holds, it
//! has not expired, its row exists (sign-out deletes it, on every replica
//! at once) and the tokens file still names its principal: the static
//! token it was started with, or a rule that maps its claims. The same key
//! signs the short-lived cookie of a sign-in with a provider, from whose
//! secret the flow's `state`, `nonce` and PKCE verifier derive.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::error::DomainResult;
use super::secret::{hex, random_32};

/// A signed-in console browser, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 (hex) of the secret the browser holds.
    pub id_digest: String,
    /// Who signed in.
    pub principal: String,
    /// SHA-256 (hex) of the token signed in with.
    pub token_digest: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When the session ends by itself.
    pub expires_at: DateTime<Utc>,
    /// For a sign-in with an identity provider: its verified claims (JSON,
    /// see `auth::oidc::TokenIdentity`), mapped through the rules again at
    /// every request; `None` for a static token's session.
    pub identity: Option<String>,
}

/// The secrets of one sign-in with an identity provider, all derived from
/// the random secret of the browser's short-lived sign-in cookie: the
/// `state` that must come back with the provider's answer (so the answer
/// belongs to this browser's sign-in), the `nonce` the ID token must carry
/// (so the token was minted for it), and the PKCE verifier (so a stolen
/// code is useless to anyone else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFlow {
    /// Sent as `state`; compared when the browser comes back.
    pub state: String,
    /// Sent as `nonce`; the ID token must carry it.
    pub nonce: String,
    /// The PKCE `code_verifier` (43 characters of base64url).
    pub verifier: String,
}

/// The key that signs session cookies, shared by every replica (derived
/// from the page-token key stored in the database).
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// A key from its 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length: the fallback is never used.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(payload.as_bytes());
        mac
    }

    /// A new session of `principal`, signed in with the token of digest
    /// `token_digest` at `now` for `lifetime`: the cookie value for the
    /// browser and the row to store.
    pub fn start(
        &self,
        principal: &str,
        token_digest: &[u8; 32],
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> DomainResult<(String, ConsoleSession)> {
        let secret = random_32()?;
        let expires_at = now
            + chrono::Duration::from_std(lifetime).unwrap_or_else(|_| chrono::Duration::hours(1));
        let payload = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(secret),
            expires_at.timestamp()
        );
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        let session = ConsoleSession {
            id_digest: hex(&Sha256::digest(secret)),
            principal: principal.to_owned(),
            token_digest: hex(token_digest),
            created_at: now,
            expires_at,
            identity: None,
        };
        Ok((format!("{payload}.{tag}"), session))
    }

    /// A sign-in with identity provider `issuer` begun at `now`, good for
    /// `lifetime`: the sign-in cookie's value and the flow's secrets.
    pub fn begin_sign_in(
        &self,
        issuer: &str,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> DomainResult<(String, SignInFlow)> {
        let secret = random_32()?;
        let expires_at = now
            + chrono::Duration::from_std(lifetime)
                .unwrap_or_else(|_| chrono::Duration::minutes(10));
        let payload = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(secret),
            expires_at.timestamp()
        );
        let tag = URL_SAFE_NO_PAD.encode(
            self.mac(&format!("sign-in {issuer}|{payload}"))
                .finalize()
                .into_bytes(),
        );
        Ok((format!("{payload}.{tag}"), self.flow(&secret)))
    }

    /// The secrets of the sign-in with `issuer` that `cookie` holds, when
    /// this key signed it for that issuer and it has not expired at `now`.
    pub fn sign_in_flow(
        &self,
        cookie: &str,
        issuer: &str,
        now: DateTime<Utc>,
    ) -> Option<SignInFlow> {
        let (payload, tag) = cookie.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(&format!("sign-in {issuer}|{payload}"))
            .verify_slice(&tag)
            .ok()?;
        let (secret, expires) = payload.split_once('.')?;
        let expires = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
        if expires <= now {
            return None;
        }
        Some(self.flow(&URL_SAFE_NO_PAD.decode(secret).ok()?))
    }

    fn flow(&self, secret: &[u8]) -> SignInFlow {
        let derive = |purpose: &str| {
            let mut mac = self.mac(purpose);
            mac.update(secret);
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        };
        SignInFlow {
            state: derive("state:"),
            nonce: derive("nonce:"),
            verifier: derive("pkce:"),
        }
    }

    /// The form token of the session whose secret has digest `session`
    /// (the console's name for "no session" without authentication). Every
    /// form the console serves carries it and a change is made only when it
    /// comes back: a page of another site can make a browser send the
    /// cookie, but cannot read the token.
    pub fn form_token(&self, session: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(&format!("form:{session}")).finalize().into_bytes())
    }

    /// Whether `token` is the form token of `session` (compared in
    /// constant time).
    pub fn check_form_token(&self, session: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD.decode(token).is_ok_and(|tag| {
            self.mac(&format!("form:{session}"))
                .verify_slice(&tag)
                .is_ok()
        })
    }

    /// The digest of the secret in `cookie`, when this key signed it and it
    /// has not expired at `now`; `None` for anything else.
    pub fn check(&self, cookie: &str, now: DateTime<Utc>) -> Option<String> {
        let (payload, tag) = cookie.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(payload).verify_slice(&tag).ok()?;
        let (secret, expires) = payload.split_once('.')?;
        let expires = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
        if expires <= now {
            return None;
        }
        let secret = URL_SAFE_NO_PAD.decode(secret).ok()?;
        Some(hex(&Sha256::digest(&secret)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_cookie_names_its_session_until_it_expires() {
        let key = SessionKey::new([7; 32]);
        let now = Utc::now();
        let (cookie, session) = key.start("viewer", &[1; 32], now, HOUR).unwrap();
        assert_eq!(session.token_digest, "01".repeat(32));
        assert_eq!(
            session.expires_at.timestamp(),
            (now + chrono::Duration::hours(1)).timestamp()
        );
        assert_eq!(key.check(&cookie, now), Some(session.id_digest.clone()));
        assert_eq!(
            key.check(&cookie, now + chrono::Duration::minutes(61)),
            None
        );
        // The cookie never holds what the database holds.
        assert!(!cookie.contains(&session.id_digest));
    }

    #[test]
    fn a_form_token_belongs_to_one_session_and_one_key() {
        let key = SessionKey::new([7; 32]);
        let token = key.form_token("session-a");
        assert!(key.check_form_token("session-a", &token));
        assert!(!key.check_form_token("session-b", &token));
        assert!(!SessionKey::new([8; 32]).check_form_token("session-a", &token));
        assert!(!key.check_form_token("session-a", ""));
        assert!(!key.check_form_token("session-a", &token[1..]));
    }

    #[test]
    fn a_changed_or_foreign_cookie_names_nothing() {
        let key = SessionKey::new([7; 32]);
        let now = Utc::now();
        let (cookie, _) = key.start("viewer", &[1; 32], now, HOUR).unwrap();
        let (secret, rest) = cookie.split_once('.').unwrap();
        let (expires, tag) = rest.split_once('.').unwrap();
        let later: i64 = expires.parse::<i64>().unwrap() + 86_400;
        assert_eq!(key.check(&format!("{secret}.{later}.{tag}"), now), None);
        assert_eq!(SessionKey::new([8; 32]).check(&cookie, now), None);
        for garbage in ["", ".", "..", "a.b.c", "viewer-secret"] {
            assert_eq!(key.check(garbage, now), None);
        }
    }

    #[test]
    fn a_sign_in_cookie_gives_its_flow_back_for_its_issuer_until_it_expires() {
        let key = SessionKey::new([7; 32]);
        let now = Utc::now();
        let ten_minutes = Duration::from_secs(600);
        let (cookie, flow) = key.begin_sign_in("corp", now, ten_minutes).unwrap();
        assert_eq!(key.sign_in_flow(&cookie, "corp", now), Some(flow.clone()));
        assert_eq!(
            flow.verifier.len(),
            43,
            "a PKCE verifier of 43 to 128 characters"
        );
        assert!(flow.state != flow.nonce && flow.nonce != flow.verifier);
        // Not for another provider, not once expired, not from another key,
        // and never a session cookie.
        assert_eq!(key.sign_in_flow(&cookie, "github", now), None);
        let later = now + chrono::Duration::minutes(11);
        assert_eq!(key.sign_in_flow(&cookie, "corp", later), None);
        assert_eq!(
            SessionKey::new([8; 32]).sign_in_flow(&cookie, "corp", now),
            None
        );
        assert_eq!(key.check(&cookie, now), None);
        // Each sign-in has its own secrets.
        let (_, other) = key.begin_sign_in("corp", now, ten_minutes).unwrap();
        assert_ne!(other, flow);
    }
}
