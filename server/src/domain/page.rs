//! Opaque page tokens for keyset pagination: the sort key and id of the last
//! row returned, so the next page starts strictly after it no matter what is
//! inserted meanwhile.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::error::{DomainError, DomainResult};

/// Where the next page of versions starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionCursor {
    /// The ordering the token was issued for.
    pub order: VersionOrder,
    /// Whether that ordering was descending.
    pub descending: bool,
    /// The sort key of the last row returned.
    pub key: SortKey,
    /// The id of the last row returned (the tie-breaker).
    pub id: String,
}

/// A sort key value of the last row of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SortKey {
    /// A version number.
    Version(i64),
    /// A time.
    Time(DateTime<Utc>),
    /// A metric value.
    Metric(f64),
}

/// The orderings of a version listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum VersionOrder {
    /// By version number.
    Version,
    /// By training finish time; versions without one are left out.
    TrainedAt,
    /// By registration time.
    CreatedAt,
    /// By a metric's value; versions without that metric are left out.
    Metric(String),
}

/// Where the next page of models starts: after this name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCursor {
    /// The last name returned.
    pub after_name: String,
}

/// Where the next page of events starts: after this event id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCursor {
    /// The last event id returned.
    pub after_id: i64,
}

/// Encodes a cursor as an opaque, URL-safe token.
pub fn encode<T: Serialize>(cursor: &T) -> String {
    // Serialising these plain structs cannot fail; an empty token would end
    // the listing early rather than loop, which is the safe failure.
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a token issued by [`encode`]; an empty token means "first page".
pub fn decode<T: DeserializeOwned>(token: &str) -> DomainResult<Option<T>> {
    if token.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .map(Some)
        .ok_or_else(|| {
            DomainError::invalid(
                "page_token",
                "is not a token this server issued; pass the next_page_token of the previous \
                 response unchanged, or leave it empty for the first page",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let cursor = VersionCursor {
            order: VersionOrder::Metric("auc".into()),
            descending: true,
            key: SortKey::Metric(0.93),
            id: "0192".into(),
        };
        let token = encode(&cursor);
        assert_eq!(decode::<VersionCursor>(&token).unwrap(), Some(cursor));
        assert_eq!(decode::<VersionCursor>("").unwrap(), None);
        assert!(decode::<VersionCursor>("not-a-token").is_err());
        assert!(decode::<EventCursor>(&token).is_err());
    }

    #[test]
    fn metric_keys_survive_the_token_exactly() {
        // A key off by one ulp would make the next page repeat or skip a row.
        for value in [
            0.43000000000000005,
            0.1 + 0.2,
            1.0 / 3.0,
            0.4 + 0.07,
            5e-324,
        ] {
            let cursor = VersionCursor {
                order: VersionOrder::Metric("auc".into()),
                descending: true,
                key: SortKey::Metric(value),
                id: "x".into(),
            };
            let decoded = decode::<VersionCursor>(&encode(&cursor)).unwrap().unwrap();
            assert_eq!(decoded.key, SortKey::Metric(value), "{value:e}");
        }
    }
}
