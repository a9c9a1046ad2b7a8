//! The kinds of change the append-only audit trail records.

use std::fmt;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A model was created by its first registration.
    ModelCreated,
    /// A version was registered.
    VersionRegistered,
    /// A version was made production.
    ProductionSet,
    /// Production went back to an earlier version.
    ProductionRolledBack,
    /// A version's status changed.
    StatusChanged,
    /// A version's description or tags changed.
    VersionUpdated,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 6] = [
        Self::ModelCreated,
        Self::VersionRegistered,
        Self::ProductionSet,
        Self::ProductionRolledBack,
        Self::StatusChanged,
        Self::VersionUpdated,
    ];

    /// The kinds that change which version is in production.
    pub const PRODUCTION_CHANGES: [EventKind; 2] =
        [Self::ProductionSet, Self::ProductionRolledBack];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ModelCreated => "MODEL_CREATED",
            Self::VersionRegistered => "VERSION_REGISTERED",
            Self::ProductionSet => "PRODUCTION_SET",
            Self::ProductionRolledBack => "PRODUCTION_ROLLED_BACK",
            Self::StatusChanged => "STATUS_CHANGED",
            Self::VersionUpdated => "VERSION_UPDATED",
        }
    }

    /// Parses a stored name.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == stored)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
