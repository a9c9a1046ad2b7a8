//! Governed promotion: alias policies (admin) and change requests, as
//! builders that start from a [`RegistryClient`] method and are sent by
//! awaiting them.
//!
//! ```no_run
//! # async fn example() -> Result<(), model_registry_client::Error> {
//! use model_registry_client::{AliasPolicy, RegistryClient};
//!
//! let client = RegistryClient::connect("http://127.0.0.1:50051").await?;
//! // An admin protects production: two approvals, a day on canary first.
//! client
//!     .set_alias_policy(
//!         AliasPolicy::new("churn", "production")
//!             .protected()
//!             .required_approvals(2)
//!             .min_soak("canary", 86_400),
//!     )
//!     .reason("release process")
//!     .await?;
//! // A deployer asks; two others approve.
//! let request = client
//!     .request_alias_change("churn", "production", 7)
//!     .reason("won the canary")
//!     .await?;
//! client.approve_change_request(request.id()).comment("checked").await?;
//! # Ok(())
//! # }
//! ```

use model_registry_api::v1 as pb;

use crate::calls::{awaitable, every_page};
use crate::client::{RegistryClient, new_request_id};
use crate::error::{Error, Result};
use crate::types::{ChangeRequest, ChangeRequestState};

/// The rules to set on an alias; see [`RegistryClient::set_alias_policy`].
/// Unset rules take the server's defaults (one approval by a deployer,
/// requests open for 72 hours, no evidence required).
#[derive(Debug, Clone, PartialEq)]
pub struct AliasPolicy(pb::AliasPolicy);

impl AliasPolicy {
    /// A policy for `alias` of `model_name`.
    pub fn new(model_name: impl Into<String>, alias: impl Into<String>) -> Self {
        Self(pb::AliasPolicy {
            model_name: model_name.into(),
            alias: alias.into(),
            ..Default::default()
        })
    }

    /// A policy for `alias` of every model whose name starts with
    /// `prefix`, existing or registered later, that has none of its own
    /// for the alias (the longest matching prefix wins).
    pub fn for_prefix(prefix: impl Into<String>, alias: impl Into<String>) -> Self {
        Self(pb::AliasPolicy {
            model_prefix: prefix.into(),
            alias: alias.into(),
            ..Default::default()
        })
    }

    /// The alias moves only through approved change requests.
    pub fn protected(mut self) -> Self {
        self.0.protected = true;
        self
    }

    /// Approvals a request needs (never the requester's own).
    pub fn required_approvals(mut self, approvals: i32) -> Self {
        self.0.required_approvals = approvals;
        self
    }

    /// The role approvers must hold: `deployer` or `admin`.
    pub fn approver_role(mut self, role: impl Into<String>) -> Self {
        self.0.approver_role = role.into();
        self
    }

    /// How long a request stays open, in seconds.
    pub fn request_ttl_seconds(mut self, seconds: i64) -> Self {
        self.0.request_ttl_seconds = seconds;
        self
    }

    /// Evidence: the candidate beats the current version on `metric` by
    /// `min_delta` (lower wins with [`AliasPolicy::lower_is_better`]).
    pub fn gate(mut self, metric: impl Into<String>, min_delta: f64) -> Self {
        self.0.gate_metric = metric.into();
        self.0.gate_min_delta = min_delta;
        self
    }

    /// The gate's metric is a loss.
    pub fn lower_is_better(mut self) -> Self {
        self.0.gate_lower_is_better = true;
        self
    }

    /// Evidence: the candidate has been on `alias` for `seconds`.
    pub fn min_soak(mut self, alias: impl Into<String>, seconds: i64) -> Self {
        self.0.soak_alias = alias.into();
        self.0.min_soak_seconds = seconds;
        self
    }

    /// Rolling the alias back needs a change request too.
    pub fn rollback_requires_approval(mut self) -> Self {
        self.0.rollback_requires_approval = true;
        self
    }

    /// Evidence: the candidate carries a verified signature.
    pub fn require_signature(mut self) -> Self {
        self.0.require_signature = true;
        self
    }

    /// The generated message.
    pub fn raw(&self) -> &pb::AliasPolicy {
        &self.0
    }

    /// The policy's revision (set by the server).
    pub fn revision(&self) -> i64 {
        self.0.revision
    }

    /// The model-name prefix the policy is set on (for a model's policy
    /// read back, the prefix it inherits it from), if it is set on one.
    pub fn model_prefix(&self) -> Option<&str> {
        Some(self.0.model_prefix.as_str()).filter(|prefix| !prefix.is_empty())
    }

    /// The policy in the canonical protobuf JSON mapping.
    pub fn to_json(&self) -> std::result::Result<serde_json::Value, crate::json::JsonError> {
        crate::json::to_json(&self.0)
    }
}

impl From<pb::AliasPolicy> for AliasPolicy {
    fn from(policy: pb::AliasPolicy) -> Self {
        Self(policy)
    }
}

/// A pending `SetAliasPolicy`; see [`RegistryClient::set_alias_policy`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct SetAliasPolicy<'a> {
    client: &'a RegistryClient,
    request: pb::SetAliasPolicyRequest,
}

impl SetAliasPolicy<'_> {
    /// Why (required; recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Sends it; returns the policy in force (with its revision).
    pub async fn send(self) -> Result<AliasPolicy> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.set_alias_policy(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        response
            .policy
            .map(AliasPolicy)
            .ok_or_else(|| Error::InvalidInput("the server sent no policy".to_owned()))
    }
}
awaitable!(SetAliasPolicy => AliasPolicy);

/// A pending `DeleteAliasPolicy`; see [`RegistryClient::delete_alias_policy`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct DeleteAliasPolicy<'a> {
    client: &'a RegistryClient,
    request: pb::DeleteAliasPolicyRequest,
}

impl DeleteAliasPolicy<'_> {
    /// Why (required; recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Sends it; returns the revision removed.
    pub async fn send(self) -> Result<i64> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.delete_alias_policy(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        Ok(response.revision)
    }
}
awaitable!(DeleteAliasPolicy => i64);

/// A pending `CreateAliasChangeRequest`; see
/// [`RegistryClient::request_alias_change`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct RequestAliasChange<'a> {
    client: &'a RegistryClient,
    request: pb::CreateAliasChangeRequestRequest,
}

impl RequestAliasChange<'_> {
    /// Why (required; shown to approvers and recorded).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Compare-and-set now: the alias points at `version` (0: nowhere).
    pub fn expect_current(mut self, version: i64) -> Self {
        self.request.expected_current_version = Some(version);
        self
    }

    /// Replaces the generated request id.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request.request_id = request_id.into();
        self
    }

    /// Sends it; returns the request, PENDING.
    pub async fn send(self) -> Result<ChangeRequest> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.create_alias_change_request(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        request_of(response.change_request)
    }
}
awaitable!(RequestAliasChange => ChangeRequest);

/// What a decider does to a request.
#[derive(Debug, Clone, Copy)]
enum Decision {
    Approve,
    Reject,
    Cancel,
}

/// A pending approval, rejection or cancellation of a change request; see
/// [`RegistryClient::approve_change_request`] and its siblings.
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct DecideChangeRequest<'a> {
    client: &'a RegistryClient,
    decision: Decision,
    id: i64,
    comment: String,
    request_id: String,
}

impl DecideChangeRequest<'_> {
    /// What the decider says (required for a rejection).
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = comment.into();
        self
    }

    /// Sends it; returns the request as it now stands (an approval that
    /// completes it: APPLIED, or FAILED with the reason).
    pub async fn send(self) -> Result<ChangeRequest> {
        let (id, comment, request_id) = (self.id, self.comment, self.request_id);
        let (change_request, token) = match self.decision {
            Decision::Approve => {
                let request = pb::ApproveAliasChangeRequestRequest {
                    id,
                    comment,
                    request_id,
                };
                let r = self
                    .client
                    .retried(request, |mut raw, r| async move {
                        raw.approve_alias_change_request(r).await
                    })
                    .await?;
                (r.change_request, r.consistency_token)
            }
            Decision::Reject => {
                let request = pb::RejectAliasChangeRequestRequest {
                    id,
                    comment,
                    request_id,
                };
                let r = self
                    .client
                    .retried(request, |mut raw, r| async move {
                        raw.reject_alias_change_request(r).await
                    })
                    .await?;
                (r.change_request, r.consistency_token)
            }
            Decision::Cancel => {
                let request = pb::CancelAliasChangeRequestRequest {
                    id,
                    comment,
                    request_id,
                };
                let r = self
                    .client
                    .retried(request, |mut raw, r| async move {
                        raw.cancel_alias_change_request(r).await
                    })
                    .await?;
                (r.change_request, r.consistency_token)
            }
        };
        self.client.observe_consistency_token(&token);
        request_of(change_request)
    }
}
awaitable!(DecideChangeRequest => ChangeRequest);

/// A pending listing of change requests, newest first; see
/// [`RegistryClient::change_requests`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct ListChangeRequests<'a> {
    client: &'a RegistryClient,
    request: pb::ListAliasChangeRequestsRequest,
    limit: Option<usize>,
}

impl ListChangeRequests<'_> {
    /// Only requests of `model_name`.
    pub fn model(mut self, model_name: impl Into<String>) -> Self {
        self.request.model_name = model_name.into();
        self
    }

    /// Only requests to move `alias`.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.request.alias = alias.into();
        self
    }

    /// Only requests in `state`.
    pub fn state(mut self, state: ChangeRequestState) -> Self {
        self.request.state = state.to_proto();
        self
    }

    /// Only requests made by `principal`.
    pub fn requester(mut self, principal: impl Into<String>) -> Self {
        self.request.requester = principal.into();
        self
    }

    /// At most `limit` requests.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Every matching request, page after page, up to the limit.
    pub async fn send(self) -> Result<Vec<ChangeRequest>> {
        every_page(
            self.client,
            self.request,
            self.limit.unwrap_or(usize::MAX),
            |mut raw, r| async move { raw.list_alias_change_requests(r).await },
            |page| (page.change_requests, page.next_page_token),
            |request, token| request.page_token = token,
        )
        .await
    }
}
awaitable!(ListChangeRequests => Vec<ChangeRequest>);

/// What a freeze holds still.
#[derive(Debug, Clone)]
enum FreezeTarget {
    Alias(String),
    Version(i64),
}

/// A pending freeze or unfreeze of an alias or a version (admin); see
/// [`RegistryClient::freeze_alias`] and its siblings.
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct Freeze<'a> {
    client: &'a RegistryClient,
    model_name: String,
    target: FreezeTarget,
    freeze: bool,
    reason: String,
    duration_seconds: i64,
    request_id: String,
}

impl Freeze<'_> {
    /// Why (required; recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// An alias freeze that ends by itself after `seconds`.
    pub fn for_seconds(mut self, seconds: i64) -> Self {
        self.duration_seconds = seconds;
        self
    }

    /// Sends it.
    pub async fn send(self) -> Result<()> {
        let Self {
            client,
            model_name,
            target,
            freeze,
            reason,
            duration_seconds,
            request_id,
        } = self;
        let token = match (target, freeze) {
            (FreezeTarget::Alias(alias), true) => {
                let request = pb::FreezeAliasRequest {
                    model_name,
                    alias,
                    reason,
                    duration_seconds,
                    request_id,
                };
                client
                    .retried(
                        request,
                        |mut raw, r| async move { raw.freeze_alias(r).await },
                    )
                    .await?
                    .consistency_token
            }
            (FreezeTarget::Alias(alias), false) => {
                let request = pb::UnfreezeAliasRequest {
                    model_name,
                    alias,
                    reason,
                    request_id,
                };
                client
                    .retried(
                        request,
                        |mut raw, r| async move { raw.unfreeze_alias(r).await },
                    )
                    .await?
                    .consistency_token
            }
            (FreezeTarget::Version(version), true) => {
                let request = pb::FreezeVersionRequest {
                    model_name,
                    version,
                    reason,
                    request_id,
                };
                client
                    .retried(
                        request,
                        |mut raw, r| async move { raw.freeze_version(r).await },
                    )
                    .await?
                    .consistency_token
            }
            (FreezeTarget::Version(version), false) => {
                let request = pb::UnfreezeVersionRequest {
                    model_name,
                    version,
                    reason,
                    request_id,
                };
                client
                    .retried(request, |mut raw, r| async move {
                        raw.unfreeze_version(r).await
                    })
                    .await?
                    .consistency_token
            }
        };
        client.observe_consistency_token(&token);
        Ok(())
    }
}
awaitable!(Freeze => ());

fn request_of(request: Option<pb::AliasChangeRequest>) -> Result<ChangeRequest> {
    request
        .map(ChangeRequest::from)
        .ok_or_else(|| Error::InvalidInput("the server sent no change request".to_owned()))
}

impl RegistryClient {
    /// Sets an alias's policy (admin); a new revision unless unchanged.
    pub fn set_alias_policy(&self, policy: AliasPolicy) -> SetAliasPolicy<'_> {
        SetAliasPolicy {
            client: self,
            request: pb::SetAliasPolicyRequest {
                policy: Some(policy.0),
                reason: String::new(),
                request_id: new_request_id(),
            },
        }
    }

    /// Removes an alias's policy (admin).
    pub fn delete_alias_policy(
        &self,
        model_name: impl Into<String>,
        alias: impl Into<String>,
    ) -> DeleteAliasPolicy<'_> {
        DeleteAliasPolicy {
            client: self,
            request: pb::DeleteAliasPolicyRequest {
                model_name: model_name.into(),
                alias: alias.into(),
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }

    /// Removes the policy set on model-name prefix `prefix` (admin).
    pub fn delete_prefix_policy(
        &self,
        prefix: impl Into<String>,
        alias: impl Into<String>,
    ) -> DeleteAliasPolicy<'_> {
        DeleteAliasPolicy {
            client: self,
            request: pb::DeleteAliasPolicyRequest {
                model_prefix: prefix.into(),
                alias: alias.into(),
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }

    /// The policy in force for `alias` of `model_name`: its own, or the
    /// one it inherits from a prefix ([`AliasPolicy::model_prefix`]);
    /// [`crate::Error::is_not_found`] when it has none.
    pub async fn alias_policy(&self, model_name: &str, alias: &str) -> Result<AliasPolicy> {
        self.get_alias_policy(pb::GetAliasPolicyRequest {
            model_name: model_name.to_owned(),
            alias: alias.to_owned(),
            ..Default::default()
        })
        .await
    }

    /// The policy set on model-name prefix `prefix` for `alias`;
    /// [`crate::Error::is_not_found`] when there is none.
    pub async fn prefix_policy(&self, prefix: &str, alias: &str) -> Result<AliasPolicy> {
        self.get_alias_policy(pb::GetAliasPolicyRequest {
            model_prefix: prefix.to_owned(),
            alias: alias.to_owned(),
            ..Default::default()
        })
        .await
    }

    async fn get_alias_policy(&self, request: pb::GetAliasPolicyRequest) -> Result<AliasPolicy> {
        let response = self
            .retried(request, |mut raw, r| async move {
                raw.get_alias_policy(r).await
            })
            .await?;
        response
            .policy
            .map(AliasPolicy)
            .ok_or_else(|| Error::InvalidInput("the server sent no policy".to_owned()))
    }

    /// Every model's own policies by model and alias; with `model_name`,
    /// that model's policies in force (its own and those it inherits).
    pub async fn alias_policies(&self, model_name: Option<&str>) -> Result<Vec<AliasPolicy>> {
        self.list_alias_policies(pb::ListAliasPoliciesRequest {
            model_name: model_name.unwrap_or_default().to_owned(),
            ..Default::default()
        })
        .await
    }

    /// The policies set on model-name prefixes, by prefix and alias.
    pub async fn prefix_policies(&self) -> Result<Vec<AliasPolicy>> {
        self.list_alias_policies(pb::ListAliasPoliciesRequest {
            prefixes: true,
            ..Default::default()
        })
        .await
    }

    async fn list_alias_policies(
        &self,
        request: pb::ListAliasPoliciesRequest,
    ) -> Result<Vec<AliasPolicy>> {
        every_page(
            self,
            request,
            usize::MAX,
            |mut raw, r| async move { raw.list_alias_policies(r).await },
            |page| (page.policies, page.next_page_token),
            |request, token| request.page_token = token,
        )
        .await
    }

    /// Asks for `alias` of `model_name` to point at `version`.
    pub fn request_alias_change(
        &self,
        model_name: impl Into<String>,
        alias: impl Into<String>,
        version: i64,
    ) -> RequestAliasChange<'_> {
        RequestAliasChange {
            client: self,
            request: pb::CreateAliasChangeRequestRequest {
                model_name: model_name.into(),
                alias: alias.into(),
                version,
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }

    fn decide(&self, decision: Decision, id: i64) -> DecideChangeRequest<'_> {
        DecideChangeRequest {
            client: self,
            decision,
            id,
            comment: String::new(),
            request_id: new_request_id(),
        }
    }

    /// Approves change request `id` (never one's own).
    pub fn approve_change_request(&self, id: i64) -> DecideChangeRequest<'_> {
        self.decide(Decision::Approve, id)
    }

    /// Rejects change request `id` (add the required `.comment(…)`).
    pub fn reject_change_request(&self, id: i64) -> DecideChangeRequest<'_> {
        self.decide(Decision::Reject, id)
    }

    /// Withdraws change request `id` (its requester, or an admin).
    pub fn cancel_change_request(&self, id: i64) -> DecideChangeRequest<'_> {
        self.decide(Decision::Cancel, id)
    }

    /// Change request `id`.
    pub async fn change_request(&self, id: i64) -> Result<ChangeRequest> {
        let request = pb::GetAliasChangeRequestRequest { id };
        let response = self
            .retried(request, |mut raw, r| async move {
                raw.get_alias_change_request(r).await
            })
            .await?;
        request_of(response.change_request)
    }

    fn hold(&self, model_name: String, target: FreezeTarget, freeze: bool) -> Freeze<'_> {
        Freeze {
            client: self,
            model_name,
            target,
            freeze,
            reason: String::new(),
            duration_seconds: 0,
            request_id: new_request_id(),
        }
    }

    /// Freezes `alias` of `model_name` (admin): no move at all until
    /// unfrozen (or [`Freeze::for_seconds`] pass).
    pub fn freeze_alias(
        &self,
        model_name: impl Into<String>,
        alias: impl Into<String>,
    ) -> Freeze<'_> {
        self.hold(model_name.into(), FreezeTarget::Alias(alias.into()), true)
    }

    /// Ends the freeze of `alias` of `model_name` (admin).
    pub fn unfreeze_alias(
        &self,
        model_name: impl Into<String>,
        alias: impl Into<String>,
    ) -> Freeze<'_> {
        self.hold(model_name.into(), FreezeTarget::Alias(alias.into()), false)
    }

    /// Freezes `version` of `model_name` (admin): no status or metadata
    /// change until unfrozen.
    pub fn freeze_version(&self, model_name: impl Into<String>, version: i64) -> Freeze<'_> {
        self.hold(model_name.into(), FreezeTarget::Version(version), true)
    }

    /// Ends the freeze of `version` of `model_name` (admin).
    pub fn unfreeze_version(&self, model_name: impl Into<String>, version: i64) -> Freeze<'_> {
        self.hold(model_name.into(), FreezeTarget::Version(version), false)
    }

    /// Change requests, newest first, with filters.
    pub fn change_requests(&self) -> ListChangeRequests<'_> {
        ListChangeRequests {
            client: self,
            request: pb::ListAliasChangeRequestsRequest::default(),
            limit: None,
        }
    }
}
