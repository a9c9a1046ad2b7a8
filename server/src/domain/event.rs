//! The kinds of change the append-only audit trail records.

use std::fmt;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum EventKind {
    /// A model was created by its first registration.
    ModelCreated,
    /// A model's description or tags changed.
    ModelUpdated,
    /// A version was registered.
    VersionRegistered,
    /// A version's description or tags changed.
    VersionUpdated,
    /// A version's status changed.
    StatusChanged,
    /// An alias was pointed at a version.
    AliasSet,
    /// An alias was removed.
    AliasDeleted,
    /// An alias went back to the version it held before.
    AliasRolledBack,
    /// An alias's policy was set (created or revised).
    AliasPolicySet,
    /// An alias's policy was removed.
    AliasPolicyDeleted,
    /// A change request to move an alias was made.
    ChangeRequested,
    /// A change request was approved (the approval that completes it is
    /// followed by the move it applies, in the same transaction).
    ChangeApproved,
    /// A change request was rejected.
    ChangeRejected,
    /// A change request was withdrawn.
    ChangeCancelled,
    /// A change request could not be applied (the alias moved since it was
    /// made, or the evidence no longer holds).
    ChangeFailed,
    /// An alias was frozen: it does not move until unfrozen.
    AliasFrozen,
    /// An alias was unfrozen.
    AliasUnfrozen,
    /// A version was frozen: its status and metadata do not change.
    VersionFrozen,
    /// A version was unfrozen.
    VersionUnfrozen,
    /// A verified model signature was attached to a version.
    SignatureAttached,
    /// A webhook subscription was created.
    WebhookCreated,
    /// A webhook subscription was deleted.
    WebhookDeleted,
    /// A failing webhook subscription was resumed.
    WebhookResumed,
    /// A webhook subscription's destination or filters changed.
    WebhookUpdated,
    /// A webhook subscription's signing secret was rotated.
    WebhookSecretRotated,
    /// A webhook subscription was sent a range of events again.
    WebhookReplayed,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 26] = [
        Self::ModelCreated,
        Self::ModelUpdated,
        Self::VersionRegistered,
        Self::VersionUpdated,
        Self::StatusChanged,
        Self::AliasSet,
        Self::AliasDeleted,
        Self::AliasRolledBack,
        Self::AliasPolicySet,
        Self::AliasPolicyDeleted,
        Self::ChangeRequested,
        Self::ChangeApproved,
        Self::ChangeRejected,
        Self::ChangeCancelled,
        Self::ChangeFailed,
        Self::AliasFrozen,
        Self::AliasUnfrozen,
        Self::VersionFrozen,
        Self::VersionUnfrozen,
        Self::WebhookCreated,
        Self::WebhookDeleted,
        Self::WebhookResumed,
        Self::WebhookUpdated,
        Self::WebhookSecretRotated,
        Self::WebhookReplayed,
        Self::SignatureAttached,
    ];

    /// The kinds that move an alias (its history, its rollback chain, what
    /// its watchers are sent); other events about an alias (its policy, its
    /// change requests) leave it where it is.
    pub const ALIAS_MOVES: [EventKind; 3] =
        [Self::AliasSet, Self::AliasDeleted, Self::AliasRolledBack];

    /// Whether this kind moves an alias.
    pub fn moves_alias(self) -> bool {
        Self::ALIAS_MOVES.contains(&self)
    }

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ModelCreated => "MODEL_CREATED",
            Self::ModelUpdated => "MODEL_UPDATED",
            Self::VersionRegistered => "VERSION_REGISTERED",
            Self::VersionUpdated => "VERSION_UPDATED",
            Self::StatusChanged => "STATUS_CHANGED",
            Self::AliasSet => "ALIAS_SET",
            Self::AliasDeleted => "ALIAS_DELETED",
            Self::AliasRolledBack => "ALIAS_ROLLED_BACK",
            Self::AliasPolicySet => "ALIAS_POLICY_SET",
            Self::AliasPolicyDeleted => "ALIAS_POLICY_DELETED",
            Self::ChangeRequested => "CHANGE_REQUESTED",
            Self::ChangeApproved => "CHANGE_APPROVED",
            Self::ChangeRejected => "CHANGE_REJECTED",
            Self::ChangeCancelled => "CHANGE_CANCELLED",
            Self::ChangeFailed => "CHANGE_FAILED",
            Self::AliasFrozen => "ALIAS_FROZEN",
            Self::AliasUnfrozen => "ALIAS_UNFROZEN",
            Self::VersionFrozen => "VERSION_FROZEN",
            Self::VersionUnfrozen => "VERSION_UNFROZEN",
            Self::WebhookCreated => "WEBHOOK_CREATED",
            Self::WebhookDeleted => "WEBHOOK_DELETED",
            Self::WebhookResumed => "WEBHOOK_RESUMED",
            Self::WebhookUpdated => "WEBHOOK_UPDATED",
            Self::WebhookSecretRotated => "WEBHOOK_SECRET_ROTATED",
            Self::WebhookReplayed => "WEBHOOK_REPLAYED",
            Self::SignatureAttached => "SIGNATURE_ATTACHED",
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

/// Where an event stands in the change feed: the transaction that wrote it,
/// then its id. Commits overlap, so ids do not become visible in order; the
/// feed reads only events whose transaction is below every change
/// still running, and those in this order (the argument is written down
/// where the feed is read, `store/sql/events.rs`). Within one model it is
/// the id order: a model's changes run one at a time, each taking the
/// model's queue before it writes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeedPosition {
    /// The writing transaction (PostgreSQL's transaction id; 0 on SQLite,
    /// whose one writer commits in id order, and for events written before
    /// the feed had this order).
    pub tx: i64,
    /// The event's id.
    pub id: i64,
}

/// One read of the feed: its next events, in feed order.
#[derive(Debug, Default)]
pub struct FeedBatch {
    /// The events, each below the horizon of the read.
    pub events: Vec<crate::domain::Event>,
    /// More events below the horizon follow: read again at once.
    pub more: bool,
    /// When the oldest committed event waiting above the horizon (behind a
    /// transaction still running) happened: read again shortly, since that
    /// transaction's end may not be announced.
    pub held_back_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The horizon the read used: every transaction below it had ended;
    /// without `more`, each of their events is in this batch or before it.
    pub horizon: i64,
}

/// Names a committed change for reads through any replica: the id of the
/// transaction that wrote it (PostgreSQL). A replica's feed has applied the
/// change once it has read the trail up to a horizon above that id (every
/// transaction below the horizon had ended, and its events were read; see
/// `store/sql/events.rs`). Clients hold it as an opaque string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsistencyToken(i64);

impl ConsistencyToken {
    const PREFIX: &'static str = "v1.";

    /// The token of a change written by transaction `tx` (none on SQLite,
    /// whose transactions have no id: every read there sees every commit).
    pub fn of_transaction(tx: i64) -> Option<Self> {
        (tx > 0).then_some(Self(tx))
    }

    /// The writing transaction.
    pub fn transaction(self) -> i64 {
        self.0
    }

    /// Parses a token a change's response carried; `field` names it in the
    /// error. Empty: no token.
    pub fn parse(field: &str, text: &str) -> crate::domain::DomainResult<Option<Self>> {
        if text.is_empty() {
            return Ok(None);
        }
        text.strip_prefix(Self::PREFIX)
            .and_then(|tx| tx.parse::<i64>().ok())
            .and_then(Self::of_transaction)
            .map(Some)
            .ok_or_else(|| {
                crate::domain::DomainError::invalid(
                    field,
                    "not a consistency token: send the `consistency_token` of a change's \
                     response as it came",
                )
            })
    }
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_as_written() {
        let token = ConsistencyToken::of_transaction(4_294_967_301).unwrap();
        let text = token.to_string();
        assert_eq!(
            ConsistencyToken::parse("consistency_token", &text).unwrap(),
            Some(token)
        );
        assert_eq!(
            ConsistencyToken::parse("consistency_token", "").unwrap(),
            None
        );
        assert_eq!(ConsistencyToken::of_transaction(0), None, "SQLite: none");
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        for bad in ["v1.", "v1.-5", "v1.0", "17", "v2.17", "v1.17 ", "v1.x"] {
            let error = ConsistencyToken::parse("consistency_token", bad).unwrap_err();
            assert_eq!(error.invalid_fields(), ["consistency_token"], "{bad}");
        }
    }
}
