//! Page responses: items converted to the wire until the page's encoded
//! size would pass [`PAGE_BUDGET_BYTES`], and the signed token of the page
//! after the last item returned (cut short or not).

use prost::Message;

use crate::domain::page::Page;

/// The most a page may take on the wire, below the 4 MiB most gRPC
/// clients accept by default; a page holds at least one item.
pub const PAGE_BUDGET_BYTES: usize = 3 * 1024 * 1024;

/// The wire items of `page` within the budget, and the next page's token
/// (empty after the last page).
pub fn respond<T, C, W: Message>(
    page: Page<T, C>,
    to_wire: impl Fn(T) -> W,
    token_after: impl Fn(&C) -> String,
) -> (Vec<W>, String) {
    let mut items = Vec::with_capacity(page.items.len());
    let mut bytes = 0;
    let mut last = None;
    let mut cut = false;
    for (item, cursor) in page.items {
        let wire = to_wire(item);
        // Each item is a length-delimited field: a tag and a length too.
        let size = wire.encoded_len() + 6;
        if !items.is_empty() && bytes + size > PAGE_BUDGET_BYTES {
            cut = true;
            break;
        }
        bytes += size;
        items.push(wire);
        last = Some(cursor);
    }
    let next = match last {
        Some(cursor) if cut || page.more => token_after(&cursor),
        _ => String::new(),
    };
    (items, next)
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
        let big = "x".repeat(PAGE_BUDGET_BYTES / 3);
        let page = Page {
            items: (1..=5).map(|i| (big.clone(), i)).collect(),
            more: false,
        };
        let (items, next) = respond(page, |s| s, |i| format!("after {i}"));
        assert_eq!(items.len(), 2);
        assert_eq!(next, "after 2");
        let page = Page {
            items: vec![("x".repeat(PAGE_BUDGET_BYTES * 2), 1)],
            more: false,
        };
        let (items, next) = respond(page, |s| s, |i| format!("after {i}"));
        assert_eq!(
            (items.len(), next.as_str()),
            (1, ""),
            "one item always fits"
        );
        let page = Page {
            items: vec![("small".to_owned(), 1)],
            more: true,
        };
        assert_eq!(respond(page, |s| s, |i| format!("after {i}")).1, "after 1");
    }
}
