//! Page responses: items converted to the wire until the page's encoded
//! size would pass [`PAGE_BUDGET_BYTES`], and the signed token of the page
//! after the last item returned (cut short or not). The splitting itself is
//! [`Page::take_within`], shared with the console.

use prost::Message;
use serde::Serialize;

pub use crate::domain::page::PAGE_BUDGET_BYTES;
use crate::domain::page::{Page, PageKey};

/// The wire items of `page` within the budget, and the next page's token
/// (empty after the last page).
pub fn respond<T, C: Serialize, W: Message>(
    page: Page<T, C>,
    key: &PageKey,
    query: &impl Serialize,
    to_wire: impl Fn(T) -> W,
) -> (Vec<W>, String) {
    // Each item is a length-delimited field: a tag and a length too.
    let (items, next) = page.take_within(
        key,
        query,
        to_wire,
        |wire| wire.encoded_len() + 6,
        PAGE_BUDGET_BYTES,
    );
    (items, next.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_limits_table_states_the_transport_limits() {
        let readme = include_str!("../../../README.md");
        let row = |what: &str| {
            readme
                .lines()
                .find(|line| line.starts_with(&format!("| {what} |")))
                .unwrap_or_else(|| panic!("no README row for {what}"))
        };
        let mib = |bytes: usize| format!("{} MiB", bytes / (1024 * 1024));
        assert!(row("page size").contains(&mib(PAGE_BUDGET_BYTES)));
        assert!(row("request message").contains(&mib(crate::server::MAX_REQUEST_BYTES)));
        assert!(row("response message").contains(&mib(crate::server::MAX_RESPONSE_BYTES)));
        assert!(row("filters of a listing").contains(&format!(
            "{} entries",
            super::super::requests::MAX_FILTER_ENTRIES
        )));
    }

    #[test]
    fn a_page_stops_before_its_budget_and_continues_from_its_last_item() {
        let key = PageKey::new([3; 32]);
        let query = "listing";
        let after = |token: &str| key.decode::<i64>(&query, token).unwrap();
        let big = "x".repeat(PAGE_BUDGET_BYTES / 3);
        let page = Page {
            items: (1..=5).map(|i| (big.clone(), i)).collect(),
            more: false,
        };
        let (items, next) = respond(page, &key, &query, |s| s);
        assert_eq!(items.len(), 2);
        assert_eq!(after(&next), Some(2));
        let page = Page {
            items: vec![("x".repeat(PAGE_BUDGET_BYTES * 2), 1)],
            more: false,
        };
        let (items, next) = respond(page, &key, &query, |s| s);
        assert_eq!(
            (items.len(), next.as_str()),
            (1, ""),
            "one item always fits"
        );
        let page = Page {
            items: vec![("small".to_owned(), 1)],
            more: true,
        };
        assert_eq!(after(&respond(page, &key, &query, |s| s).1), Some(1));
    }
}
