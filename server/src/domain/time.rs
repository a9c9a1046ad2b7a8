//! The registry's clock: UTC with microsecond precision, the precision both
//! databases store, so a time read back equals the time written.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The current time, truncated to whole microseconds.
pub fn now() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

/// Truncates `t` to whole microseconds.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}
