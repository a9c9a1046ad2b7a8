//! What the change feed counts, recorded through the `metrics` facade (the
//! exporter in `prometheus.rs` reads these names; the feed never calls it).

use metrics::{counter, gauge};

/// Wake-ups of the change feed, by `source`: a PostgreSQL notification
/// (a change through any replica) or a local commit (SQLite).
pub const CHANGE_NOTIFICATIONS: &str = "model_registry_change_notifications_total";
/// The sources [`CHANGE_NOTIFICATIONS`] is labelled with.
pub const CHANGE_SOURCES: [&str; 2] = ["postgres", "local"];

/// The change feed woke up because of `source` (one of [`CHANGE_SOURCES`]).
pub fn change_notified(source: &'static str) {
    counter!(CHANGE_NOTIFICATIONS, "source" => source).increment(1);
}

/// 1 while the feed hears of every commit at once (SQLite: always;
/// PostgreSQL: while its `LISTEN` connection is up and answers its ping),
/// 0 while it relies on its safety poll.
pub const FEED_CONNECTED: &str = "model_registry_change_feed_connected";
/// Age of the oldest committed event the feed holds back, because a change
/// that began writing before it is still running (0: none).
pub const FEED_LAG: &str = "model_registry_change_feed_lag_seconds";

/// Whether the feed hears of every commit at once.
pub fn feed_connected(connected: bool) {
    gauge!(FEED_CONNECTED).set(if connected { 1.0 } else { 0.0 });
}

/// The age of the oldest event held back (zero for none).
pub fn feed_lag(seconds: f64) {
    gauge!(FEED_LAG).set(seconds);
}
