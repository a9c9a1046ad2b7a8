//! The version status machine: ACTIVE ⇄ DEPRECATED, ACTIVE → ARCHIVED,
//! DEPRECATED → ARCHIVED; ARCHIVED is final, and a version holding an alias
//! (production included) can be neither deprecated nor archived.

use std::fmt;

use super::error::{DomainError, DomainResult};

/// Lifecycle status of a model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VersionStatus {
    /// Usable; the only status a version holding an alias can have.
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

    /// Whether a change from this status to `to` of `version` changes
    /// the version `latest` (the highest ACTIVE one, now `latest`) resolves
    /// to.
    pub fn moves_latest(self, to: VersionStatus, version: i64, latest: Option<i64>) -> bool {
        let active = VersionStatus::Active;
        match (self == active, to == active) {
            (true, false) => latest == Some(version),
            (false, true) => latest.is_none_or(|latest| version > latest),
            _ => false,
        }
    }

    /// Checks a status change of version `version`, which holds `aliases`.
    pub fn check_transition(
        self,
        to: VersionStatus,
        version: i64,
        aliases: &[String],
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
        if !aliases.is_empty() {
            let (noun, names) = match aliases {
                [one] => ("alias", format!("{one:?}")),
                many => (
                    "aliases",
                    many.iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            };
            return Err(DomainError::FailedPrecondition(format!(
                "version {version} holds the {noun} {names} and cannot become {to}; move or \
                 delete the {noun} first (SetModelAlias, DeleteModelAlias)"
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
                    from.check_transition(to, 1, &[]).is_ok(),
                    expected,
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn a_version_holding_aliases_cannot_leave_active_and_the_refusal_names_them() {
        let aliases = ["canary".to_owned(), "production".to_owned()];
        for to in [Deprecated, Archived] {
            let refused = Active.check_transition(to, 3, &aliases).unwrap_err();
            let message = refused.to_string();
            assert!(message.contains("\"canary\", \"production\""), "{message}");
        }
    }

    #[test]
    fn stored_names_round_trip() {
        for s in VersionStatus::ALL {
            assert_eq!(VersionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(VersionStatus::parse("active"), None);
    }
}
