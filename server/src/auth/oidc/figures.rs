//! What token verification counts, recorded through the `metrics` facade
//! (the exporter describes these names).

use metrics::counter;

/// Identity-provider tokens by `issuer` (its configured name, `unknown`
/// for an issuer not configured) and `outcome`: `accepted` or the reason
/// of the refusal (see [`super::Rejection::label`]).
pub const OIDC_TOKENS: &str = "model_registry_oidc_tokens_total";
/// Fetches of an issuer's keys by `issuer` and `outcome` (ok, failed).
pub const JWKS_REFRESHES: &str = "model_registry_jwks_refreshes_total";

/// A token of `issuer` was accepted or refused (`outcome`).
pub fn token(issuer: &str, outcome: &'static str) {
    counter!(OIDC_TOKENS, "issuer" => issuer.to_owned(), "outcome" => outcome).increment(1);
}

/// A fetch of `issuer`'s keys succeeded or failed.
pub fn key_refresh(issuer: &str, ok: bool) {
    let outcome = if ok { "ok" } else { "failed" };
    counter!(JWKS_REFRESHES, "issuer" => issuer.to_owned(), "outcome" => outcome).increment(1);
}
