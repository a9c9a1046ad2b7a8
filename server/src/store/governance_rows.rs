//! Row types of governed promotion: alias policies and change requests.
//! One set of structs serves both backends.

#![expect(
    missing_docs,
    reason = "a row's fields are its table's columns, described by the migrations"
)]

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::rows::{corrupt, from_db_time, from_json, to_db_time, to_json};
use super::schema::{alias_policies, change_requests, freezes, prefix_alias_policies};
use crate::domain::commands::Caller;
use crate::domain::governance::{
    AliasPolicy, Approval, ChangeRequest, Freeze, FreezeTarget, PolicyRules, PolicyScope,
    RequestState,
};
use crate::domain::{AliasName, DomainResult, ModelName, ModelPrefix};

/// An `alias_policies` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = alias_policies, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PolicyRow {
    pub model_id: i64,
    pub alias: String,
    pub revision: i64,
    pub rules: String,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
}

impl PolicyRow {
    /// The row of revision `revision` of `rules`, set now by `caller`.
    pub fn new(
        model_id: i64,
        alias: &AliasName,
        rules: &PolicyRules,
        revision: i64,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> DomainResult<Self> {
        Ok(Self {
            model_id,
            alias: alias.as_str().to_owned(),
            revision,
            rules: to_json(rules)?,
            updated_by: caller.identity.clone(),
            updated_at: to_db_time(now),
        })
    }

    /// The domain policy, given its model's name.
    pub fn into_domain(self, model_name: String) -> DomainResult<AliasPolicy> {
        Ok(AliasPolicy {
            rules: from_json(&self.rules, "alias_policies.rules")?,
            alias: AliasName::try_from(self.alias)
                .map_err(|e| corrupt(format!("alias_policies.alias: {e}")))?,
            scope: PolicyScope::Model(ModelName::from_stored(model_name)),
            revision: self.revision,
            updated_by: self.updated_by,
            updated_at: from_db_time(self.updated_at),
        })
    }
}

/// A `prefix_alias_policies` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = prefix_alias_policies, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PrefixPolicyRow {
    pub prefix: String,
    pub alias: String,
    pub revision: i64,
    pub rules: String,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
}

impl PrefixPolicyRow {
    /// The row of revision `revision` of `rules` on `prefix`, set now by
    /// `caller`.
    pub fn new(
        prefix: &ModelPrefix,
        alias: &AliasName,
        rules: &PolicyRules,
        revision: i64,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> DomainResult<Self> {
        Ok(Self {
            prefix: prefix.as_str().to_owned(),
            alias: alias.as_str().to_owned(),
            revision,
            rules: to_json(rules)?,
            updated_by: caller.identity.clone(),
            updated_at: to_db_time(now),
        })
    }

    /// The domain policy.
    pub fn into_domain(self) -> DomainResult<AliasPolicy> {
        Ok(AliasPolicy {
            rules: from_json(&self.rules, "prefix_alias_policies.rules")?,
            alias: AliasName::try_from(self.alias)
                .map_err(|e| corrupt(format!("prefix_alias_policies.alias: {e}")))?,
            scope: PolicyScope::Prefix {
                prefix: ModelPrefix::from_stored(self.prefix),
            },
            revision: self.revision,
            updated_by: self.updated_by,
            updated_at: from_db_time(self.updated_at),
        })
    }
}

/// The policy of the longest prefix among `rows`: the one a model
/// inherits.
pub fn longest_prefix(rows: Vec<PrefixPolicyRow>) -> Option<PrefixPolicyRow> {
    rows.into_iter().max_by_key(|row| row.prefix.len())
}

/// A `change_requests` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = change_requests, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ChangeRequestRow {
    pub id: i64,
    pub model_id: i64,
    pub alias: String,
    pub version: i64,
    pub from_version: Option<i64>,
    pub from_event_id: Option<i64>,
    pub required_approvals: i64,
    pub reason: String,
    pub requester: String,
    pub state: String,
    pub approvals: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
    pub decision_note: String,
}

impl ChangeRequestRow {
    /// The approvals so far.
    pub fn approvals(&self) -> DomainResult<Vec<Approval>> {
        from_json(&self.approvals, "change_requests.approvals")
    }

    /// The domain request, given its model's name (a PENDING request past
    /// its expiry reads as EXPIRED).
    pub fn into_domain(
        self,
        model_name: String,
        now: DateTime<Utc>,
    ) -> DomainResult<ChangeRequest> {
        let stored = RequestState::parse(&self.state)
            .ok_or_else(|| corrupt(format!("change request state {:?}", self.state)))?;
        let expires_at = from_db_time(self.expires_at);
        let state = if stored == RequestState::Pending && now >= expires_at {
            RequestState::Expired
        } else {
            stored
        };
        Ok(ChangeRequest {
            approvals: self.approvals()?,
            alias: AliasName::try_from(self.alias)
                .map_err(|e| corrupt(format!("change_requests.alias: {e}")))?,
            model_name: ModelName::from_stored(model_name),
            id: self.id,
            version: self.version,
            from_version: self.from_version,
            reason: self.reason,
            requester: self.requester,
            state,
            required_approvals: u32::try_from(self.required_approvals).unwrap_or(u32::MAX),
            created_at: from_db_time(self.created_at),
            expires_at,
            decided_at: self.decided_at.map(from_db_time),
            decided_by: self.decided_by,
            decision_note: self.decision_note,
        })
    }
}

/// A `change_requests` row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = change_requests)]
pub struct NewChangeRequestRow {
    pub model_id: i64,
    pub alias: String,
    pub version: i64,
    pub from_version: Option<i64>,
    pub from_event_id: Option<i64>,
    pub required_approvals: i64,
    pub reason: String,
    pub requester: String,
    pub state: String,
    pub approvals: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// What deciding a change request (or approving it) writes.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = change_requests)]
pub struct RequestDecisionRow {
    pub state: String,
    pub approvals: String,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
    pub decision_note: String,
}

/// A `freezes` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = freezes, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct FreezeRow {
    pub model_id: i64,
    pub alias: String,
    pub version: i64,
    pub reason: String,
    pub frozen_by: String,
    pub frozen_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

/// The key columns of a freeze of `target`: (alias, version).
pub fn freeze_key(target: &FreezeTarget) -> (String, i64) {
    match target {
        FreezeTarget::Alias(alias) => (alias.as_str().to_owned(), 0),
        FreezeTarget::Version(version) => (String::new(), *version),
    }
}

impl FreezeRow {
    /// The row of a freeze of `target` of model `model_id`, made now.
    pub fn new(
        model_id: i64,
        target: &FreezeTarget,
        reason: String,
        caller: &Caller,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        let (alias, version) = freeze_key(target);
        Self {
            model_id,
            alias,
            version,
            reason,
            frozen_by: caller.identity.clone(),
            frozen_at: to_db_time(now),
            expires_at: expires_at.map(to_db_time),
        }
    }

    /// The domain freeze, given its model's name.
    pub fn into_domain(self, model_name: String) -> DomainResult<Freeze> {
        let target = if self.alias.is_empty() {
            FreezeTarget::Version(self.version)
        } else {
            FreezeTarget::Alias(
                AliasName::try_from(self.alias)
                    .map_err(|e| corrupt(format!("freezes.alias: {e}")))?,
            )
        };
        Ok(Freeze {
            model_name: ModelName::from_stored(model_name),
            target,
            reason: self.reason,
            frozen_by: self.frozen_by,
            frozen_at: from_db_time(self.frozen_at),
            expires_at: self.expires_at.map(from_db_time),
        })
    }
}
