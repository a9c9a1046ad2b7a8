//! The newest consistency token a client has seen: every change's response
//! carries one, and the alias reads send it, so a client that changes
//! something through one replica and reads it through another (behind a
//! load balancer) always reads its own change.

use std::sync::Mutex;

/// The newest token seen, shared by a client's clones.
#[derive(Debug, Default)]
pub(crate) struct NewestToken(Mutex<Option<String>>);

impl NewestToken {
    /// Keeps `token` if it is newer than the one kept (an empty token, from
    /// a change that wrote nothing, changes nothing).
    pub(crate) fn saw(&self, token: &str) {
        if token.is_empty() {
            return;
        }
        let mut newest = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let newer = match (&*newest, order(token)) {
            (None, _) => true,
            (Some(kept), Some(seen)) => order(kept).is_none_or(|kept| seen > kept),
            // Not a token this client can order: the latest wins.
            (Some(_), None) => true,
        };
        if newer {
            *newest = Some(token.to_owned());
        }
    }

    /// The newest token seen (empty: none yet).
    pub(crate) fn get(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default()
    }
}

/// Where a token stands among others: tokens name the transaction that
/// wrote a change ("v1.<id>"), and a later one includes the earlier ones.
fn order(token: &str) -> Option<i64> {
    token.strip_prefix("v1.")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_token_is_kept_whatever_order_answers_come_in() {
        let newest = NewestToken::default();
        assert_eq!(newest.get(), "");
        newest.saw("v1.900");
        newest.saw("v1.1200");
        newest.saw("v1.1000");
        newest.saw("");
        assert_eq!(newest.get(), "v1.1200");
    }
}
