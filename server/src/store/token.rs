//! The consistency token of the change a write transaction made: the id of
//! the transaction its events were written by, noted by `append_events`
//! as the rows come back (PostgreSQL; SQLite's transactions have none, and
//! its reads need no token). Noted on the side so that no use case carries
//! it: every change that writes an event has one.

use std::cell::Cell;
use std::future::Future;

use crate::domain::ConsistencyToken;

tokio::task_local! {
    static WRITTEN_BY: Cell<i64>;
}

/// Notes that this transaction wrote events as transaction `tx`.
pub(super) fn note(tx: i64) {
    // Outside `recording` (a test's direct call) there is nothing to note.
    let _ = WRITTEN_BY.try_with(|written_by| written_by.set(written_by.get().max(tx)));
}

/// Runs `transaction`, with the token of the events it wrote, if any.
pub(super) async fn recording<T>(
    transaction: impl Future<Output = T>,
) -> (T, Option<ConsistencyToken>) {
    WRITTEN_BY
        .scope(Cell::new(0), async {
            let outcome = transaction.await;
            let tx = WRITTEN_BY.with(Cell::get);
            (outcome, ConsistencyToken::of_transaction(tx))
        })
        .await
}
