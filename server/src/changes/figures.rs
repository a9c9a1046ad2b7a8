//! What the change feed counts, recorded through the `metrics` facade (the
//! exporter in `prometheus.rs` reads these names; the feed never calls it).

use metrics::counter;

/// Wake-ups of the change feed, by `source`: a PostgreSQL notification
/// (a change through any replica) or a local commit (SQLite).
pub const CHANGE_NOTIFICATIONS: &str = "model_registry_change_notifications_total";
/// The sources [`CHANGE_NOTIFICATIONS`] is labelled with.
pub const CHANGE_SOURCES: [&str; 2] = ["postgres", "local"];

/// The change feed woke up because of `source` (one of [`CHANGE_SOURCES`]).
pub fn change_notified(source: &'static str) {
    counter!(CHANGE_NOTIFICATIONS, "source" => source).increment(1);
}
