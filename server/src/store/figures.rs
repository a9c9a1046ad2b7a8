//! What the store counts, recorded through the `metrics` facade: the
//! exporter (`prometheus.rs`) reads these names and describes them; the
//! store never calls it, so the dependency runs one way.

use std::time::Duration;

use metrics::{counter, histogram};

/// Time a change waited for the write slot (a writer connection).
pub const WRITE_SLOT_WAIT: &str = "model_registry_write_slot_wait_seconds";
/// Write transactions by `outcome` (committed, rolled_back).
pub const TRANSACTIONS: &str = "model_registry_transactions_total";
/// The outcomes [`TRANSACTIONS`] is labelled with.
pub const TRANSACTION_OUTCOMES: [&str; 2] = ["committed", "rolled_back"];

/// Reads run on a reader connection (each one statement or a few, in
/// one round of the pool): what watchers and callers cost the database.
pub const READS: &str = "model_registry_db_reads_total";

/// Alias reads (GetProductionModel, GetModelVersionByAlias) on PostgreSQL,
/// by `source`: answered from the change-fed cache, or read from the
/// database on a miss, while the feed is down, or because the caller's
/// consistency token is ahead of the feed.
pub const ALIAS_READS: &str = "model_registry_alias_reads_total";
/// The sources [`ALIAS_READS`] is labelled with.
pub const ALIAS_READ_SOURCES: [&str; 4] = ["cache", "miss", "feed_down", "token_ahead"];

/// An alias read was answered from `source` (one of [`ALIAS_READ_SOURCES`]).
pub fn alias_read(source: &'static str) {
    counter!(ALIAS_READS, "source" => source).increment(1);
}

/// A read was run on a reader connection.
pub fn read_made() {
    counter!(READS).increment(1);
}

/// A change waited `waited` for its writer connection.
pub fn write_slot_waited(waited: Duration) {
    histogram!(WRITE_SLOT_WAIT).record(waited.as_secs_f64());
}

/// A write transaction ended.
pub fn transaction_finished(committed: bool) {
    let outcome = TRANSACTION_OUTCOMES[usize::from(!committed)];
    counter!(TRANSACTIONS, "outcome" => outcome).increment(1);
}
