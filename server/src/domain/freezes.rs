//! Freezes: an alias that does not move at all (break-glass included), or
//! a version whose status and metadata do not change, until unfrozen or
//! until the freeze's end.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::alias::AliasName;
use super::error::{DomainError, DomainResult};
use super::types::ModelName;

/// The longest freeze with an end: ninety days (longer: until unfrozen).
pub const MAX_FREEZE_SECONDS: i64 = 90 * 24 * 3600;

/// What a freeze holds still.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FreezeTarget {
    /// An alias: no moves at all (break-glass included).
    Alias(AliasName),
    /// A version: no status or metadata change.
    Version(i64),
}

impl fmt::Display for FreezeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Alias(alias) => write!(f, "alias {alias:?}"),
            Self::Version(version) => write!(f, "version {version}"),
        }
    }
}

/// A freeze in force (or one that expired: see [`Freeze::holds_at`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Freeze {
    /// The model.
    pub model_name: ModelName,
    /// What it holds still.
    pub target: FreezeTarget,
    /// Why.
    pub reason: String,
    /// Who froze it.
    pub frozen_by: String,
    /// When.
    pub frozen_at: DateTime<Utc>,
    /// When it ends by itself (`None`: when unfrozen).
    pub expires_at: Option<DateTime<Utc>>,
}

impl Freeze {
    /// Whether the freeze is in force at `now`.
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }

    /// Refuses (FAILED_PRECONDITION) a change `action` the freeze forbids.
    pub fn refuse(&self, action: &str) -> DomainError {
        let until = self
            .expires_at
            .map_or_else(String::new, |end| format!(" until {}", end.to_rfc3339()));
        DomainError::FailedPrecondition(format!(
            "{} of model {:?} is frozen{until} by {:?} ({}): {action} is refused, \
             break-glass included; an admin unfreezes it first",
            self.target, self.model_name, self.frozen_by, self.reason
        ))
    }
}

/// Refuses `action` when `freeze` is in force at `now`.
pub fn check_unfrozen(
    freeze: Option<&Freeze>,
    now: DateTime<Utc>,
    action: &str,
) -> DomainResult<()> {
    match freeze {
        Some(freeze) if freeze.holds_at(now) => Err(freeze.refuse(action)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freeze_holds_until_it_expires_and_names_who_froze_it() {
        let now = Utc::now();
        let freeze = Freeze {
            model_name: ModelName::parse("m", "churn").unwrap(),
            target: FreezeTarget::Alias(AliasName::production()),
            reason: "incident 42".into(),
            frozen_by: "ops".into(),
            frozen_at: now,
            expires_at: Some(now + chrono::Duration::hours(1)),
        };
        let refused = check_unfrozen(Some(&freeze), now, "moving it").unwrap_err();
        assert!(refused.to_string().contains("incident 42"), "{refused}");
        assert!(
            !refused.to_string().contains("  "),
            "one sentence: {refused}"
        );
        assert!(check_unfrozen(Some(&freeze), now + chrono::Duration::hours(2), "x").is_ok());
        assert!(check_unfrozen(None, now, "x").is_ok());
    }
}
