//! Pages and page tokens for keyset pagination. A token holds the sort key
//! and id of the last row returned, so the next page starts strictly after
//! it no matter what is inserted meanwhile, and a MAC that binds it to the
//! query that issued it: sent with another query, or made up, it is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;

use super::error::{DomainError, DomainResult};

/// The most a page may take on the wire, below the 4 MiB most gRPC
/// clients accept by default; a page holds at least one item. A listing
/// also stops reading rows once their stored size passes it, so what one
/// call holds in memory is bounded too.
pub const PAGE_BUDGET_BYTES: usize = 3 * 1024 * 1024;

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

impl VersionCursor {
    /// The error for a token used with another ordering than the one it was
    /// issued for.
    pub fn foreign_ordering() -> DomainError {
        DomainError::invalid(
            "page_token",
            "was issued for another ordering; keep order_by, order_metric and descending \
             unchanged while paging, or start again with an empty page_token",
        )
    }
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

/// Where the next page of events starts: after this event (by id within a
/// model, by feed position across models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCursor {
    /// The last event id returned.
    pub after_id: i64,
    /// Its transaction (see `FeedPosition`); absent from the page tokens of
    /// earlier releases, whose events all have 0.
    #[serde(default)]
    pub after_tx: i64,
}

/// Where the next page of change requests starts: before this request
/// (newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestCursor {
    /// The last request id returned.
    pub before_id: i64,
}

/// Where the next page of alias policies starts: after this model and
/// alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyCursor {
    /// The last model name returned.
    pub after_model: String,
    /// Its alias.
    pub after_alias: String,
}

/// One page of a listing: its items, each with the cursor that starts the
/// page after it, and whether more items follow the last one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    /// The items, in order, each with its cursor.
    pub items: Vec<(T, C)>,
    /// Whether items follow the last one.
    pub more: bool,
}

impl<T, C: Serialize> Page<T, C> {
    /// The page's items, each converted by `convert`, while their `size`
    /// adds up to at most `budget` (the first always fits), and the signed
    /// token of the page after the last one taken: present when the page
    /// was cut short or more items follow. The one way a listing, gRPC or
    /// web, turns a page into an answer.
    pub fn take_within<W>(
        self,
        key: &PageKey,
        query: &impl Serialize,
        mut convert: impl FnMut(T) -> W,
        size: impl Fn(&W) -> usize,
        budget: usize,
    ) -> (Vec<W>, Option<String>) {
        let mut taken = Vec::with_capacity(self.items.len());
        let mut spent = 0usize;
        let mut last = None;
        let mut cut = false;
        for (item, cursor) in self.items {
            let converted = convert(item);
            let cost = size(&converted);
            if !taken.is_empty() && spent.saturating_add(cost) > budget {
                cut = true;
                break;
            }
            spent = spent.saturating_add(cost);
            taken.push(converted);
            last = Some(cursor);
        }
        let next = match last {
            Some(cursor) if cut || self.more => Some(key.encode(query, &cursor)),
            _ => None,
        };
        (taken, next)
    }

    /// Every item of the page, and the next page's token.
    pub fn split(self, key: &PageKey, query: &impl Serialize) -> (Vec<T>, Option<String>) {
        self.take_within(key, query, |item| item, |_| 0, usize::MAX)
    }
}

/// The key that signs page tokens, shared by every replica.
#[derive(Clone)]
pub struct PageKey([u8; 32]);

impl PageKey {
    /// A key from its 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key for another purpose (`label`), derived from this one: shared
    /// by every replica like this one, useless for signing page tokens.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn mac(&self, payload: &str, query: &impl Serialize) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(payload.as_bytes());
        mac.update(b"\0");
        mac.update(&serde_json::to_vec(query).unwrap_or_default());
        mac
    }

    /// The token of the page after `cursor` in the listing `query`: the
    /// cursor, and a MAC over it and the query, so the token is good only
    /// for that query and cannot be made up.
    pub fn encode(&self, query: &impl Serialize, cursor: &impl Serialize) -> String {
        // Serialising these plain structs cannot fail; an empty token would
        // end the listing early rather than loop, which is the safe failure.
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default());
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload, query).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The cursor of a token this server issued for `query`; `None` for an
    /// empty token (the first page).
    pub fn decode<C: DeserializeOwned>(
        &self,
        query: &impl Serialize,
        token: &str,
    ) -> DomainResult<Option<C>> {
        if token.is_empty() {
            return Ok(None);
        }
        let (payload, tag) = token.split_once('.').ok_or_else(not_ours)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| not_ours())?;
        self.mac(payload, query).verify_slice(&tag).map_err(|_| {
            DomainError::invalid(
                "page_token",
                "was issued for another query (or not by this registry): keep every filter and \
                 the ordering unchanged while paging, or start again with an empty page_token",
            )
        })?;
        URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .map(Some)
            .ok_or_else(not_ours)
    }
}

fn not_ours() -> DomainError {
    DomainError::invalid(
        "page_token",
        "is not a token this registry issued; pass the next_page_token of the previous response \
         unchanged, or leave it empty for the first page",
    )
}

/// HMAC accepts keys of any length, so creating one cannot fail.
fn unreachable_hmac() -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new(&Default::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// No page token, however made, panics the decoder or decodes
        /// without having been issued for this query by this key: it is
        /// empty (the first page) or refused naming `page_token`.
        #[test]
        fn any_token_is_the_first_page_or_refused_naming_the_field(
            token in "[A-Za-z0-9_.=-]{0,120}|\\PC{0,80}",
        ) {
            let key = PageKey::new([7; 32]);
            match key.decode::<VersionCursor>(&"a query", &token) {
                Ok(None) => proptest::prop_assert!(token.is_empty()),
                Ok(Some(_)) => proptest::prop_assert!(false, "forged token accepted: {token:?}"),
                Err(error) => proptest::prop_assert_eq!(error.invalid_fields(), vec!["page_token"]),
            }
        }

        /// Changing any one character of an issued token makes it refused.
        #[test]
        fn an_issued_token_changed_anywhere_is_refused(
            position in 0usize..200,
            replacement in proptest::char::range('-', 'z'),
        ) {
            let key = PageKey::new([7; 32]);
            let token = key.encode(&"a query", &ModelCursor { after_name: "churn".to_owned() });
            let position = position % token.len();
            let original = token.as_bytes()[position] as char;
            proptest::prop_assume!(original != replacement);
            let mut changed: Vec<char> = token.chars().collect();
            changed[position] = replacement;
            let changed: String = changed.into_iter().collect();
            proptest::prop_assert!(key.decode::<ModelCursor>(&"a query", &changed).is_err());
        }
    }

    #[test]
    fn a_page_splits_into_its_items_and_the_token_after_the_last() {
        let key = PageKey::new([5; 32]);
        let query = "models";
        let page = |more| Page {
            items: vec![("a", 1_i64), ("b", 2)],
            more,
        };
        let (items, next) = page(true).split(&key, &query);
        assert_eq!(items, ["a", "b"]);
        let next = next.expect("more follow: a token");
        assert_eq!(key.decode::<i64>(&query, &next).unwrap(), Some(2));
        assert!(
            key.decode::<i64>(&"another query", &next).is_err(),
            "bound to its query"
        );
        assert_eq!(
            page(false).split(&key, &query).1,
            None,
            "the last page has no token"
        );
    }

    fn key() -> PageKey {
        PageKey::new([7; 32])
    }

    #[derive(Serialize)]
    struct Query {
        model: &'static str,
    }

    #[test]
    fn tokens_round_trip_for_their_query_only() {
        let cursor = VersionCursor {
            order: VersionOrder::Metric("auc".into()),
            descending: true,
            key: SortKey::Metric(0.93),
            id: "0192".into(),
        };
        let churn = Query { model: "churn" };
        let token = key().encode(&churn, &cursor);
        assert_eq!(
            key().decode::<VersionCursor>(&churn, &token).unwrap(),
            Some(cursor)
        );
        assert_eq!(key().decode::<VersionCursor>(&churn, "").unwrap(), None);
        let fraud = Query { model: "fraud" };
        let refused = key().decode::<VersionCursor>(&fraud, &token).unwrap_err();
        assert!(refused.to_string().contains("another query"), "{refused}");
        assert!(
            PageKey::new([8; 32])
                .decode::<VersionCursor>(&churn, &token)
                .is_err()
        );
        assert!(
            key()
                .decode::<VersionCursor>(&churn, "not-a-token")
                .is_err()
        );
    }

    #[test]
    fn a_forged_cursor_is_refused() {
        let churn = Query { model: "churn" };
        let token = key().encode(
            &churn,
            &EventCursor {
                after_id: 10,
                after_tx: 0,
            },
        );
        let (_, tag) = token.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"after_id":0}"#);
        let forged = format!("{forged_payload}.{tag}");
        assert!(key().decode::<EventCursor>(&churn, &forged).is_err());
    }

    #[test]
    fn metric_keys_survive_the_token_exactly() {
        // A key off by one ulp would make the next page repeat or skip a row.
        let query = Query { model: "churn" };
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
            let token = key().encode(&query, &cursor);
            let decoded = key()
                .decode::<VersionCursor>(&query, &token)
                .unwrap()
                .unwrap();
            assert_eq!(decoded.key, SortKey::Metric(value), "{value:e}");
        }
    }
}
