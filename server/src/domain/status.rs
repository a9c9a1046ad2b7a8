//! The version status machine: ACTIVE ⇄ DEPRECATED, ACTIVE → ARCHIVED,
//! DEPRECATED → ARCHIVED; ARCHIVED is final, and the production version can
//! be neither deprecated nor archived.

use std::fmt;

use super::error::{DomainError, DomainResult};

/// Lifecycle status of a model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionStatus {
    /// Usable; the only status a production version can have.
    Active,
    /// Kept for reference; can be made active again.
    Deprecated,
    /// Retired for good.
    Archived,
}

impl VersionStatus {
    /// Every status, in declaration order.
    pub const ALL: [VersionStatus; 3] = [Self::Active, Self::Deprecated, Self::Archived];

    /// The name stored in the database and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Deprecated => "DEPRECATED",
            Self::Archived => "ARCHIVED",
        }
    }

    /// Parses a stored name.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    /// Whether the status machine allows going from `self` to `to`.
    pub fn can_become(self, to: VersionStatus) -> bool {
        use VersionStatus::*;
        matches!(
            (self, to),
            (Active, Deprecated)
                | (Deprecated, Active)
                | (Active, Archived)
                | (Deprecated, Archived)
        )
    }

    /// Checks a status change of version `version` (production or not).
    pub fn check_transition(
        self,
        to: VersionStatus,
        version: i64,
        is_production: bool,
    ) -> DomainResult<()> {
        if self == to {
            return Err(DomainError::FailedPrecondition(format!(
                "version {version} is already {to}"
            )));
        }
        if !self.can_become(to) {
            let hint = if self == Self::Archived {
                "ARCHIVED is final"
            } else {
                "allowed changes: ACTIVE <-> DEPRECATED, ACTIVE -> ARCHIVED, DEPRECATED -> ARCHIVED"
            };
            return Err(DomainError::FailedPrecondition(format!(
                "version {version} cannot go from {self} to {to}: {hint}"
            )));
        }
        if is_production {
            return Err(DomainError::FailedPrecondition(format!(
                "version {version} is the production version and cannot become {to}; \
                 promote another version first"
            )));
        }
        Ok(())
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::VersionStatus::{self, *};

    #[test]
    fn the_status_machine_allows_exactly_the_documented_moves() {
        let allowed = [
            (Active, Deprecated),
            (Deprecated, Active),
            (Active, Archived),
            (Deprecated, Archived),
        ];
        for from in VersionStatus::ALL {
            for to in VersionStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(
                    from.check_transition(to, 1, false).is_ok(),
                    expected,
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn the_production_version_cannot_leave_active() {
        assert!(Active.check_transition(Deprecated, 3, true).is_err());
        assert!(Active.check_transition(Archived, 3, true).is_err());
    }

    #[test]
    fn stored_names_round_trip() {
        for s in VersionStatus::ALL {
            assert_eq!(VersionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(VersionStatus::parse("active"), None);
    }
}
