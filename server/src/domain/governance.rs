//! Governed promotion's rules, with no I/O: an alias's policy (protection,
//! approvals, the evidence a candidate must show) and the life of a change
//! request (who may approve, reject or cancel it, and when it expires).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::access::{Caller, Role};
use super::alias::{AliasName, MetricGate, check_gate};
use super::error::{DomainError, DomainResult};
use super::signature::SignatureStanding;
use super::status::VersionStatus;
use super::types::{ModelName, ModelPrefix};

// Freezes are part of governed promotion; their rules have a module of
// their own.
pub use super::freezes::{Freeze, FreezeTarget, MAX_FREEZE_SECONDS, check_unfrozen};

/// The default life of a change request: three days.
pub const DEFAULT_REQUEST_TTL_SECONDS: i64 = 72 * 3600;
/// The shortest and longest life a policy may give a request.
pub const REQUEST_TTL_SECONDS: std::ops::RangeInclusive<i64> = 1..=30 * 24 * 3600;
/// The longest soak a policy may require: ninety days.
pub const MAX_SOAK_SECONDS: i64 = 90 * 24 * 3600;
/// The most approvals a policy may require.
pub const MAX_REQUIRED_APPROVALS: u32 = 10;

/// The rules an alias of a model moves under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRules {
    /// The alias moves only through an approved change request (or a
    /// break-glass move by an admin).
    pub protected: bool,
    /// How many principals other than the requester must approve.
    pub required_approvals: u32,
    /// The role an approver must hold (its alias limits must allow the
    /// alias too).
    pub approver_role: Role,
    /// How long a request stays open.
    pub request_ttl_seconds: i64,
    /// The candidate must beat the alias's current version on a metric.
    pub gate: Option<MetricGate>,
    /// The candidate must have been held by another alias for a while.
    pub soak: Option<Soak>,
    /// A rollback of the alias needs a change request too (otherwise it is
    /// the emergency action anyone allowed to move the alias may take).
    pub rollback_requires_approval: bool,
    /// The candidate must carry a verified signature (rules stored before
    /// signatures existed require none).
    #[serde(default)]
    pub require_signature: bool,
}

/// "The candidate has been pointed at by `alias` for at least `seconds`."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Soak {
    /// The alias the candidate soaks on, e.g. `canary`.
    pub alias: AliasName,
    /// How long, at least.
    pub seconds: i64,
}

impl PolicyRules {
    /// Checks a policy an admin sets on `alias`; every offending field is
    /// named.
    pub fn check(&self, alias: &AliasName) -> DomainResult<()> {
        let mut v = super::Violations::default();
        if !(1..=MAX_REQUIRED_APPROVALS).contains(&self.required_approvals) {
            v.add(
                "policy.required_approvals",
                format!("must be between 1 and {MAX_REQUIRED_APPROVALS}"),
            );
        }
        if self.approver_role < Role::Deployer {
            v.add(
                "policy.approver_role",
                "must be deployer or admin: approving moves the alias",
            );
        }
        if !REQUEST_TTL_SECONDS.contains(&self.request_ttl_seconds) {
            v.add(
                "policy.request_ttl_seconds",
                "must be between 1 second and 30 days (0: the default, 72 hours)",
            );
        }
        if let Some(soak) = &self.soak {
            if &soak.alias == alias {
                v.add(
                    "policy.soak_alias",
                    "must be another alias than the one the policy governs (e.g. canary)",
                );
            }
            if soak.alias.is_latest() {
                v.add(
                    "policy.soak_alias",
                    "`latest` is not held on purpose; name an alias that is moved (e.g. canary)",
                );
            }
            if !(1..=MAX_SOAK_SECONDS).contains(&soak.seconds) {
                v.add(
                    "policy.min_soak_seconds",
                    "must be between 1 second and 90 days",
                );
            }
        }
        v.finish()
    }
}

/// Where a policy is set: on one model, or on every model whose name
/// starts with a prefix (inherited by those without one of their own for
/// the alias; the longest matching prefix wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PolicyScope {
    /// One model (serialized as its name, as before prefixes existed, so
    /// request fingerprints stay the same).
    Model(ModelName),
    /// A family of models.
    Prefix {
        /// The start of their names.
        prefix: ModelPrefix,
    },
}

impl PolicyScope {
    /// The model, for a model's own policy.
    pub fn model(&self) -> Option<&ModelName> {
        match self {
            Self::Model(name) => Some(name),
            Self::Prefix { .. } => None,
        }
    }

    /// The prefix, for a policy set on one.
    pub fn prefix(&self) -> Option<&ModelPrefix> {
        match self {
            Self::Model(_) => None,
            Self::Prefix { prefix } => Some(prefix),
        }
    }
}

impl fmt::Display for PolicyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Model(name) => write!(f, "model {name:?}"),
            Self::Prefix { prefix } => write!(f, "models named {prefix:?}…"),
        }
    }
}

/// An alias's policy as stored: its rules and who set which revision.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasPolicy {
    /// Where it is set: the model it governs, or the prefix it is
    /// inherited from.
    pub scope: PolicyScope,
    /// The alias it governs.
    pub alias: AliasName,
    /// The rules.
    pub rules: PolicyRules,
    /// Counts the policy's versions, from 1.
    pub revision: i64,
    /// Who set this revision.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// What a candidate shows when a move to it is requested or applied.
#[derive(Debug)]
pub struct Evidence<'a> {
    /// The candidate: its number, status and metrics.
    pub candidate: (i64, VersionStatus, &'a BTreeMap<String, f64>),
    /// Whether the candidate carries a signature the trust file still
    /// vouches for (read only when the policy requires one).
    pub candidate_signature: SignatureStanding,
    /// The alias's current version and its metrics, if it points anywhere.
    pub current: Option<(i64, &'a BTreeMap<String, f64>)>,
    /// Where the policy's soak alias points, and since when.
    pub soak_alias_holds: Option<(i64, DateTime<Utc>)>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Refuses (FAILED_PRECONDITION) a candidate lacking the evidence `rules`
/// require for `alias`.
pub fn check_evidence(
    alias: &AliasName,
    rules: &PolicyRules,
    evidence: &Evidence<'_>,
) -> DomainResult<()> {
    let (version, status, metrics) = evidence.candidate;
    if status != VersionStatus::Active {
        return Err(DomainError::FailedPrecondition(format!(
            "evidence: version {version} is {status}; the policy of alias {alias:?} needs an \
             ACTIVE candidate"
        )));
    }
    check_signature(alias, rules, version, &evidence.candidate_signature)?;
    check_gate(
        alias,
        rules.gate.as_ref(),
        (version, metrics),
        evidence.current,
    )?;
    if let Some(soak) = &rules.soak {
        let soaked = match evidence.soak_alias_holds {
            Some((held, since)) if held == version => (evidence.now - since).num_seconds(),
            _ => {
                return Err(DomainError::FailedPrecondition(format!(
                    "evidence: version {version} is not on alias {:?}; the policy of alias \
                     {alias:?} needs it there for {} first",
                    soak.alias,
                    duration_text(soak.seconds)
                )));
            }
        };
        if soaked < soak.seconds {
            return Err(DomainError::FailedPrecondition(format!(
                "evidence: version {version} has been on alias {:?} for {}; the policy of \
                 alias {alias:?} needs {}",
                soak.alias,
                duration_text(soaked.max(0)),
                duration_text(soak.seconds)
            )));
        }
    }
    Ok(())
}

/// Refuses (FAILED_PRECONDITION) to point `alias` at `version` without a
/// signature the trust file vouches for now, when `rules` require one.
pub fn check_signature(
    alias: &AliasName,
    rules: &PolicyRules,
    version: i64,
    standing: &SignatureStanding,
) -> DomainResult<()> {
    if !rules.require_signature {
        return Ok(());
    }
    match standing {
        SignatureStanding::Trusted => Ok(()),
        SignatureStanding::Unsigned => Err(DomainError::FailedPrecondition(format!(
            "evidence: version {version} carries no verified signature; the policy of alias \
             {alias:?} requires one (AttachSignature, or signature_bundle at registration)"
        ))),
        SignatureStanding::Distrusted(why) => Err(DomainError::FailedPrecondition(format!(
            "evidence: the signature of version {version} no longer verifies against the \
             signature trust file ({why}); the policy of alias {alias:?} requires one that does"
        ))),
    }
}

/// `90s`, `15m`, `2h30m`, `3d`: a duration as people write it.
pub fn duration_text(seconds: i64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let (minutes, secs) = (rest / 60, rest % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.concat()
    }
}

/// Refuses a direct move of a protected alias (FAILED_PRECONDITION with a
/// precondition-failure detail naming the policy and the request flow), or
/// a break-glass move by anyone but an admin (PERMISSION_DENIED).
pub fn check_direct_move(
    model: &ModelName,
    policy: Option<&AliasPolicy>,
    action: DirectMove,
    emergency: bool,
    caller: &Caller,
) -> DomainResult<()> {
    if emergency {
        return if caller.grant.role == Role::Admin {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "only an admin may move an alias with emergency = true (break-glass); principal \
                 {:?} is a {}",
                caller.identity, caller.grant.role
            )))
        };
    }
    let Some(policy) = policy else {
        return Ok(());
    };
    let guarded = policy.rules.protected
        && match action {
            DirectMove::Set | DirectMove::Delete => true,
            DirectMove::Rollback => policy.rules.rollback_requires_approval,
        };
    if !guarded {
        return Ok(());
    }
    let (model, alias) = (model, &policy.alias);
    let inherited = match &policy.scope {
        PolicyScope::Model(_) => String::new(),
        PolicyScope::Prefix { prefix } => format!(", inherited from prefix {prefix:?}"),
    };
    Err(DomainError::PolicyRefused {
        message: format!(
            "alias {alias:?} of model {model:?} is protected (policy revision {}{inherited}): it \
             moves only through a change request (CreateAliasChangeRequest) approved by {} \
             principal(s) other than the requester; an admin may {action} it with emergency = \
             true and a reason",
            policy.revision, policy.rules.required_approvals
        ),
        kind: "ALIAS_PROTECTED".to_owned(),
        subject: match &policy.scope {
            PolicyScope::Model(_) => format!("models/{model}/aliases/{alias}"),
            PolicyScope::Prefix { prefix } => format!("prefixes/{prefix}/aliases/{alias}"),
        },
    })
}

/// The refusal to archive version `version` of `model`, which a rollback
/// of `alias`, protected by `policy`, may return to: rolling back is the
/// emergency action, and ARCHIVED is final (an archived version never
/// holds an alias again), so a protected alias keeps every version its
/// rollbacks reach. Deprecating stays allowed: it can be undone.
pub fn rollback_target_refusal(
    model: &ModelName,
    version: i64,
    alias: &AliasName,
    policy: &AliasPolicy,
) -> DomainError {
    DomainError::PolicyRefused {
        message: format!(
            "version {version} of model {model:?} cannot be archived: rolling back the \
             protected alias {alias:?} (policy revision {}) can return to it, and an archived \
             version never holds an alias again; deprecate it instead, or lift the protection \
             first if it must go",
            policy.revision
        ),
        kind: "ROLLBACK_TARGET".to_owned(),
        subject: format!("models/{model}/versions/{version}"),
    }
}

/// The direct alias changes a policy may forbid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectMove {
    /// SetModelAlias, SetProductionModel.
    Set,
    /// RollbackModelAlias, RollbackProductionModel.
    Rollback,
    /// DeleteModelAlias.
    Delete,
}

impl fmt::Display for DirectMove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Set => "move",
            Self::Rollback => "roll back",
            Self::Delete => "delete",
        })
    }
}

/// Where a change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Approved, and the alias moved.
    Applied,
    /// Rejected by an approver.
    Rejected,
    /// Withdrawn by the requester or an admin.
    Cancelled,
    /// Not decided before it expired.
    Expired,
    /// Approved, but the move could not be made (see the decision note).
    Failed,
}

impl RequestState {
    /// Every state.
    pub const ALL: [RequestState; 6] = [
        Self::Pending,
        Self::Applied,
        Self::Rejected,
        Self::Cancelled,
        Self::Expired,
        Self::Failed,
    ];

    /// The stored name (EXPIRED is never stored: a PENDING request past its
    /// expiry reads as EXPIRED).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Applied => "APPLIED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Failed => "FAILED",
        }
    }

    /// Parses a stored name.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == stored)
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval of a change request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub principal: String,
    /// What they said.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A request to point an alias at a version.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRequest {
    /// Its number.
    pub id: i64,
    /// The model.
    pub model_name: ModelName,
    /// The alias to move.
    pub alias: AliasName,
    /// The version it is to point at.
    pub version: i64,
    /// The version the alias pointed at when the request was made.
    pub from_version: Option<i64>,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub requester: String,
    /// Where it stands (EXPIRED when pending past `expires_at`).
    pub state: RequestState,
    /// How many approvals apply it.
    pub required_approvals: u32,
    /// The approvals so far, in order.
    pub approvals: Vec<Approval>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it expires unless decided.
    pub expires_at: DateTime<Utc>,
    /// When it was decided (applied, rejected, cancelled, failed).
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// The rejection's or cancellation's comment, or why it failed.
    pub decision_note: String,
}

/// The most open requests one alias may have. Approvers read every one; a
/// longer queue is noise (or a flood), and a caller past it is told to
/// decide or cancel some first.
pub const MAX_OPEN_REQUESTS_PER_ALIAS: usize = 20;

/// Refuses a new request to move `alias` to `version` when an open one
/// (`open`: id and version, newest first) already asks for that move, or
/// when the alias has [`MAX_OPEN_REQUESTS_PER_ALIAS`] open already.
pub fn check_new_request(alias: &AliasName, version: i64, open: &[(i64, i64)]) -> DomainResult<()> {
    if let Some((id, _)) = open.iter().find(|(_, asked)| *asked == version) {
        return Err(DomainError::AlreadyExists(format!(
            "change request {id} already asks to move alias {alias:?} to version {version}: \
             approve, reject or cancel it instead of asking again"
        )));
    }
    if open.len() >= MAX_OPEN_REQUESTS_PER_ALIAS {
        return Err(DomainError::ResourceExhausted(format!(
            "alias {alias:?} has {MAX_OPEN_REQUESTS_PER_ALIAS} open change requests: decide or \
             cancel some before asking for another"
        )));
    }
    Ok(())
}

impl ChangeRequest {
    /// Refuses anything but a request still open at `now`.
    pub fn check_open(&self, now: DateTime<Utc>) -> DomainResult<()> {
        match self.state {
            RequestState::Expired | RequestState::Pending if now >= self.expires_at => {
                Err(DomainError::FailedPrecondition(format!(
                    "change request {} expired at {}; make a new request",
                    self.id,
                    self.expires_at.to_rfc3339()
                )))
            }
            RequestState::Pending => Ok(()),
            state => Err(DomainError::FailedPrecondition(format!(
                "change request {} is {state}, not PENDING; only pending requests are \
                 decided",
                self.id
            ))),
        }
    }

    /// Refuses an approver who may not approve this request: the requester
    /// (the two-person rule), one without `approver_role` or the alias in
    /// their limits, or one who approved already.
    pub fn check_approver(&self, caller: &Caller, approver_role: Role) -> DomainResult<()> {
        if caller.identity == self.requester {
            return Err(DomainError::PermissionDenied(format!(
                "two-person rule: principal {:?} made change request {} and cannot approve it; \
                 another principal must",
                caller.identity, self.id
            )));
        }
        check_role(caller, approver_role, "approve")?;
        caller.check_alias(&self.model_name, &self.alias)?;
        if self
            .approvals
            .iter()
            .any(|a| a.principal == caller.identity)
        {
            return Err(DomainError::FailedPrecondition(format!(
                "principal {:?} approved change request {} already; each principal counts once",
                caller.identity, self.id
            )));
        }
        Ok(())
    }

    /// Refuses a rejection by anyone who could not approve (the requester
    /// cancels instead).
    pub fn check_rejecter(&self, caller: &Caller, approver_role: Role) -> DomainResult<()> {
        if caller.identity == self.requester {
            return Err(DomainError::PermissionDenied(format!(
                "principal {:?} made change request {}: withdraw it with \
                 CancelAliasChangeRequest instead",
                caller.identity, self.id
            )));
        }
        check_role(caller, approver_role, "reject")?;
        caller.check_alias(&self.model_name, &self.alias)
    }

    /// Refuses a cancellation by anyone but the requester or an admin.
    pub fn check_canceller(&self, caller: &Caller) -> DomainResult<()> {
        if caller.identity == self.requester || caller.grant.role == Role::Admin {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "only the requester ({:?}) or an admin may cancel change request {}",
                self.requester, self.id
            )))
        }
    }
}

fn check_role(caller: &Caller, needed: Role, action: &str) -> DomainResult<()> {
    if caller.grant.role >= needed {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "the alias's policy lets only a {needed} (or higher) {action} its change requests; \
             principal {:?} is a {}",
            caller.identity, caller.grant.role
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::Grant;

    fn caller(identity: &str, role: Role) -> Caller {
        Caller {
            identity: identity.into(),
            source: None,
            request_id: "r".into(),
            correlation_id: None,
            idempotency_key: None,
            deadline: None,
            grant: Grant {
                role,
                aliases: None,
                model_prefixes: None,
            },
        }
    }

    fn rules() -> PolicyRules {
        PolicyRules {
            protected: true,
            required_approvals: 1,
            approver_role: Role::Deployer,
            request_ttl_seconds: DEFAULT_REQUEST_TTL_SECONDS,
            gate: None,
            soak: Some(Soak {
                alias: AliasName::parse("a", "canary").unwrap(),
                seconds: 3600,
            }),
            rollback_requires_approval: false,
            require_signature: false,
        }
    }

    #[test]
    fn a_policy_requiring_a_signature_refuses_an_unsigned_candidate_naming_the_check() {
        let production = AliasName::production();
        let metrics = BTreeMap::new();
        let signed_rules = PolicyRules {
            soak: None,
            require_signature: true,
            ..rules()
        };
        let evidence = |standing| Evidence {
            candidate: (5, VersionStatus::Active, &metrics),
            candidate_signature: standing,
            current: None,
            soak_alias_holds: None,
            now: Utc::now(),
        };
        let trusted = evidence(SignatureStanding::Trusted);
        assert!(check_evidence(&production, &signed_rules, &trusted).is_ok());
        let unsigned = evidence(SignatureStanding::Unsigned);
        let refused = check_evidence(&production, &signed_rules, &unsigned).unwrap_err();
        assert!(matches!(refused, DomainError::FailedPrecondition(_)));
        assert!(
            refused.to_string().contains("no verified signature"),
            "{refused}"
        );
        let revoked = evidence(SignatureStanding::Distrusted(
            "no signer covers it".to_owned(),
        ));
        let refused = check_evidence(&production, &signed_rules, &revoked).unwrap_err();
        assert!(
            refused.to_string().contains(
                "no longer verifies against the signature trust file (no signer covers it)"
            ),
            "{refused}"
        );
        let lax = PolicyRules {
            require_signature: false,
            ..signed_rules
        };
        assert!(check_evidence(&production, &lax, &unsigned).is_ok());
        assert!(check_evidence(&production, &lax, &revoked).is_ok());
    }

    #[test]
    fn a_candidate_must_have_soaked_on_the_named_alias_long_enough() {
        let production = AliasName::production();
        let now = Utc::now();
        let metrics = BTreeMap::new();
        let evidence = |holds| Evidence {
            candidate: (5, VersionStatus::Active, &metrics),
            candidate_signature: SignatureStanding::Unsigned,
            current: None,
            soak_alias_holds: holds,
            now,
        };
        let hour = chrono::Duration::hours(1);
        assert!(check_evidence(&production, &rules(), &evidence(Some((5, now - hour)))).is_ok());
        let short = check_evidence(&production, &rules(), &evidence(Some((5, now - hour / 2))))
            .unwrap_err();
        assert!(short.to_string().contains("for 30m"), "{short}");
        let elsewhere = check_evidence(&production, &rules(), &evidence(Some((4, now - hour * 9))))
            .unwrap_err();
        assert!(elsewhere.to_string().contains("is not on alias \"canary\""));
        assert!(check_evidence(&production, &rules(), &evidence(None)).is_err());
    }

    #[test]
    fn the_requester_never_approves_and_each_principal_counts_once() {
        let now = Utc::now();
        let mut request = ChangeRequest {
            id: 7,
            model_name: ModelName::parse("m", "churn").unwrap(),
            alias: AliasName::production(),
            version: 5,
            from_version: Some(4),
            reason: "better".into(),
            requester: "alice".into(),
            state: RequestState::Pending,
            required_approvals: 2,
            approvals: Vec::new(),
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
            decided_at: None,
            decided_by: None,
            decision_note: String::new(),
        };
        let own = request
            .check_approver(&caller("alice", Role::Admin), Role::Deployer)
            .unwrap_err();
        assert!(matches!(own, DomainError::PermissionDenied(ref m) if m.contains("two-person")));
        assert!(
            request
                .check_approver(&caller("bob", Role::Trainer), Role::Deployer)
                .is_err()
        );
        assert!(
            request
                .check_approver(&caller("bob", Role::Deployer), Role::Admin)
                .is_err()
        );
        request.approvals.push(Approval {
            principal: "bob".into(),
            comment: String::new(),
            at: now,
        });
        assert!(
            request
                .check_approver(&caller("bob", Role::Deployer), Role::Deployer)
                .is_err()
        );
        assert!(
            request
                .check_approver(&caller("carol", Role::Deployer), Role::Deployer)
                .is_ok()
        );
        assert!(request.check_open(now).is_ok());
        assert!(request.check_open(request.expires_at).is_err());
        assert!(
            request
                .check_canceller(&caller("bob", Role::Deployer))
                .is_err()
        );
        assert!(
            request
                .check_canceller(&caller("root", Role::Admin))
                .is_ok()
        );
    }

    #[test]
    fn a_protected_alias_refuses_direct_moves_but_not_break_glass_by_an_admin() {
        let churn = ModelName::parse("m", "churn").unwrap();
        let policy = AliasPolicy {
            scope: PolicyScope::Model(churn.clone()),
            alias: AliasName::production(),
            rules: rules(),
            revision: 3,
            updated_by: "root".into(),
            updated_at: Utc::now(),
        };
        let deployer = caller("bob", Role::Deployer);
        let direct = |policy, action, emergency, caller| {
            check_direct_move(&churn, policy, action, emergency, caller)
        };
        let refused = direct(Some(&policy), DirectMove::Set, false, &deployer).unwrap_err();
        assert!(
            matches!(refused, DomainError::PolicyRefused { ref kind, ref subject, .. }
                if kind == "ALIAS_PROTECTED" && subject == "models/churn/aliases/production")
        );
        assert!(direct(Some(&policy), DirectMove::Rollback, false, &deployer).is_ok());
        assert!(matches!(
            direct(Some(&policy), DirectMove::Set, true, &deployer),
            Err(DomainError::PermissionDenied(_))
        ));
        let admin = caller("r", Role::Admin);
        assert!(direct(Some(&policy), DirectMove::Delete, true, &admin).is_ok());
        assert!(direct(None, DirectMove::Set, false, &deployer).is_ok());
    }

    #[test]
    fn an_inherited_policy_names_its_prefix_when_it_refuses() {
        let inherited = AliasPolicy {
            scope: PolicyScope::Prefix {
                prefix: ModelPrefix::parse("p", "fraud-").unwrap(),
            },
            alias: AliasName::production(),
            rules: rules(),
            revision: 2,
            updated_by: "root".into(),
            updated_at: Utc::now(),
        };
        let model = ModelName::parse("m", "fraud-cards").unwrap();
        let refused = check_direct_move(
            &model,
            Some(&inherited),
            DirectMove::Set,
            false,
            &caller("bob", Role::Deployer),
        )
        .unwrap_err();
        let DomainError::PolicyRefused {
            message, subject, ..
        } = refused
        else {
            panic!("not a policy refusal: {refused:?}");
        };
        assert_eq!(subject, "prefixes/fraud-/aliases/production");
        assert!(
            message.contains("\"fraud-cards\"")
                && message.contains("inherited from prefix \"fraud-\""),
            "{message}"
        );
    }

    #[test]
    fn a_model_inherits_from_each_of_its_prefixes() {
        let name = ModelName::parse("m", "fr-a").unwrap();
        assert_eq!(ModelPrefix::all_of(&name), ["f", "fr", "fr-", "fr-a"]);
        let prefix = ModelPrefix::parse("p", "fr-").unwrap();
        assert!(prefix.covers(&name));
        assert!(!prefix.covers(&ModelName::parse("m", "fr").unwrap()));
        assert!(ModelPrefix::parse("p", "Fr").is_err());
        assert!(ModelPrefix::parse("p", "").is_err());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(90), "1m30s");
        assert_eq!(duration_text(72 * 3600), "3d");
        assert_eq!(duration_text(9000), "2h30m");
    }
}
