//! Governed promotion on the wire: alias policies and change requests,
//! wire -> command conversions and the handlers' bodies (the service's
//! trait methods call them).

use model_registry_api::v1 as pb;
use tonic::{Request, Response, Status};

use super::context::change_of;
use super::convert;
use super::pages;
use super::request_fields::metric_gate;
use super::requests::alias_change;
use super::service::RegistryService;
use crate::domain::access::Role;
use crate::domain::commands::{
    DecideRequest, DeletePolicy, FreezeCommand, PolicyQuery, RequestMove, RequestQuery, SetPolicy,
    UnfreezeCommand,
};
use crate::domain::governance::{
    DEFAULT_REQUEST_TTL_SECONDS, FreezeTarget, MAX_FREEZE_SECONDS, PolicyRules, PolicyScope, Soak,
};
use crate::domain::{
    AliasName, DomainError, DomainResult, ModelName, ModelPrefix, Violations, validate,
};
use crate::registry::Decision;

impl RegistryService {
    /// See `RegistryService.FreezeAlias`.
    pub(super) async fn answer_freeze_alias(
        &self,
        request: Request<pb::FreezeAliasRequest>,
    ) -> Result<Response<pb::FreezeAliasResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = FreezeCommand::try_from(request)?;
        let frozen = self.registry.freeze(command, caller).await?;
        Ok(Response::new(pb::FreezeAliasResponse {
            consistency_token: convert::token_to_wire(frozen.token),
            freeze: Some(convert::freeze_to_wire(frozen.value)),
        }))
    }

    /// See `RegistryService.UnfreezeAlias`.
    pub(super) async fn answer_unfreeze_alias(
        &self,
        request: Request<pb::UnfreezeAliasRequest>,
    ) -> Result<Response<pb::UnfreezeAliasResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let (model_name, alias, reason, _) =
            alias_change(&request.model_name, &request.alias, &request.reason, None)?;
        let command = UnfreezeCommand {
            model_name,
            target: FreezeTarget::Alias(alias),
            reason,
        };
        let done = self.registry.unfreeze(command, caller).await?;
        Ok(Response::new(pb::UnfreezeAliasResponse {
            consistency_token: convert::token_to_wire(done.token),
        }))
    }

    /// See `RegistryService.FreezeVersion`.
    pub(super) async fn answer_freeze_version(
        &self,
        request: Request<pb::FreezeVersionRequest>,
    ) -> Result<Response<pb::FreezeVersionResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let (model_name, version, reason) =
            version_change(&request.model_name, request.version, &request.reason)?;
        let command = FreezeCommand {
            model_name,
            target: FreezeTarget::Version(version),
            reason,
            duration_seconds: None,
        };
        let frozen = self.registry.freeze(command, caller).await?;
        Ok(Response::new(pb::FreezeVersionResponse {
            consistency_token: convert::token_to_wire(frozen.token),
            freeze: Some(convert::freeze_to_wire(frozen.value)),
        }))
    }

    /// See `RegistryService.UnfreezeVersion`.
    pub(super) async fn answer_unfreeze_version(
        &self,
        request: Request<pb::UnfreezeVersionRequest>,
    ) -> Result<Response<pb::UnfreezeVersionResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let (model_name, version, reason) =
            version_change(&request.model_name, request.version, &request.reason)?;
        let command = UnfreezeCommand {
            model_name,
            target: FreezeTarget::Version(version),
            reason,
        };
        let done = self.registry.unfreeze(command, caller).await?;
        Ok(Response::new(pb::UnfreezeVersionResponse {
            consistency_token: convert::token_to_wire(done.token),
        }))
    }

    /// See `RegistryService.SetAliasPolicy`.
    pub(super) async fn answer_set_alias_policy(
        &self,
        request: Request<pb::SetAliasPolicyRequest>,
    ) -> Result<Response<pb::SetAliasPolicyResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = SetPolicy::try_from(request)?;
        let set = self.registry.set_policy(command, caller).await?;
        Ok(Response::new(pb::SetAliasPolicyResponse {
            consistency_token: convert::token_to_wire(set.token),
            policy: Some(convert::policy_to_wire(set.value)),
        }))
    }

    /// See `RegistryService.GetAliasPolicy`.
    pub(super) async fn answer_get_alias_policy(
        &self,
        request: Request<pb::GetAliasPolicyRequest>,
    ) -> Result<Response<pb::GetAliasPolicyResponse>, Status> {
        let request = request.into_inner();
        let mut v = Violations::default();
        let fields = (
            v.check(policy_scope("", &request.model_name, &request.model_prefix)),
            v.check(AliasName::movable("alias", &request.alias)),
        );
        let (Some(scope), Some(alias)) = fields else {
            return Err(v.into_error().into());
        };
        let policy = self.registry.get_policy(scope, alias).await?;
        Ok(Response::new(pb::GetAliasPolicyResponse {
            policy: Some(convert::policy_to_wire(policy)),
        }))
    }

    /// See `RegistryService.ListAliasPolicies`.
    pub(super) async fn answer_list_alias_policies(
        &self,
        request: Request<pb::ListAliasPoliciesRequest>,
    ) -> Result<Response<pb::ListAliasPoliciesResponse>, Status> {
        let mut request = request.into_inner();
        let token = std::mem::take(&mut request.page_token);
        let mut query = PolicyQuery::try_from(request)?;
        let key = self.page_key().await?;
        query.after = key.decode(&query, &token)?;
        let page = self.registry.list_policies(query.clone()).await?;
        let (policies, next_page_token) =
            pages::respond(page, &key, &query, convert::policy_to_wire);
        Ok(Response::new(pb::ListAliasPoliciesResponse {
            policies,
            next_page_token,
        }))
    }

    /// See `RegistryService.DeleteAliasPolicy`.
    pub(super) async fn answer_delete_alias_policy(
        &self,
        request: Request<pb::DeleteAliasPolicyRequest>,
    ) -> Result<Response<pb::DeleteAliasPolicyResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = DeletePolicy::try_from(request)?;
        let removed = self.registry.delete_policy(command, caller).await?;
        Ok(Response::new(pb::DeleteAliasPolicyResponse {
            revision: removed.value.revision,
            consistency_token: convert::token_to_wire(removed.token),
        }))
    }

    /// See `RegistryService.CreateAliasChangeRequest`.
    pub(super) async fn answer_create_alias_change_request(
        &self,
        request: Request<pb::CreateAliasChangeRequestRequest>,
    ) -> Result<Response<pb::CreateAliasChangeRequestResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = RequestMove::try_from(request)?;
        let made = self.registry.create_request(command, caller).await?;
        Ok(Response::new(pb::CreateAliasChangeRequestResponse {
            consistency_token: convert::token_to_wire(made.token),
            change_request: Some(convert::request_to_wire(made.value)),
        }))
    }

    /// See `RegistryService.ApproveAliasChangeRequest`.
    pub(super) async fn answer_approve_alias_change_request(
        &self,
        request: Request<pb::ApproveAliasChangeRequestRequest>,
    ) -> Result<Response<pb::ApproveAliasChangeRequestResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = DecideRequest::parse(request.id, &request.comment, false)?;
        let decided = self
            .registry
            .decide_request(command, Decision::Approve, caller)
            .await?;
        Ok(Response::new(pb::ApproveAliasChangeRequestResponse {
            consistency_token: convert::token_to_wire(decided.token),
            change_request: Some(convert::request_to_wire(decided.value)),
        }))
    }

    /// See `RegistryService.RejectAliasChangeRequest`.
    pub(super) async fn answer_reject_alias_change_request(
        &self,
        request: Request<pb::RejectAliasChangeRequestRequest>,
    ) -> Result<Response<pb::RejectAliasChangeRequestResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = DecideRequest::parse(request.id, &request.comment, true)?;
        let decided = self
            .registry
            .decide_request(command, Decision::Reject, caller)
            .await?;
        Ok(Response::new(pb::RejectAliasChangeRequestResponse {
            consistency_token: convert::token_to_wire(decided.token),
            change_request: Some(convert::request_to_wire(decided.value)),
        }))
    }

    /// See `RegistryService.CancelAliasChangeRequest`.
    pub(super) async fn answer_cancel_alias_change_request(
        &self,
        request: Request<pb::CancelAliasChangeRequestRequest>,
    ) -> Result<Response<pb::CancelAliasChangeRequestResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = DecideRequest::parse(request.id, &request.comment, false)?;
        let decided = self
            .registry
            .decide_request(command, Decision::Cancel, caller)
            .await?;
        Ok(Response::new(pb::CancelAliasChangeRequestResponse {
            consistency_token: convert::token_to_wire(decided.token),
            change_request: Some(convert::request_to_wire(decided.value)),
        }))
    }

    /// See `RegistryService.GetAliasChangeRequest`.
    pub(super) async fn answer_get_alias_change_request(
        &self,
        request: Request<pb::GetAliasChangeRequestRequest>,
    ) -> Result<Response<pb::GetAliasChangeRequestResponse>, Status> {
        let id = request.into_inner().id;
        if id <= 0 {
            return Err(DomainError::invalid(
                "id",
                "must be a change request's number (1 or more)",
            )
            .into());
        }
        let found = self.registry.get_request(id).await?;
        Ok(Response::new(pb::GetAliasChangeRequestResponse {
            change_request: Some(convert::request_to_wire(found)),
        }))
    }

    /// See `RegistryService.ListAliasChangeRequests`.
    pub(super) async fn answer_list_alias_change_requests(
        &self,
        request: Request<pb::ListAliasChangeRequestsRequest>,
    ) -> Result<Response<pb::ListAliasChangeRequestsResponse>, Status> {
        let mut request = request.into_inner();
        let token = std::mem::take(&mut request.page_token);
        let mut query = RequestQuery::try_from(request)?;
        let key = self.page_key().await?;
        query.after = key.decode(&query, &token)?;
        let page = self.registry.list_requests(query.clone()).await?;
        let (change_requests, next_page_token) =
            pages::respond(page, &key, &query, convert::request_to_wire);
        Ok(Response::new(pb::ListAliasChangeRequestsResponse {
            change_requests,
            next_page_token,
        }))
    }
}

impl TryFrom<pb::SetAliasPolicyRequest> for SetPolicy {
    type Error = DomainError;

    fn try_from(request: pb::SetAliasPolicyRequest) -> DomainResult<Self> {
        let pb::SetAliasPolicyRequest {
            policy,
            reason,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
        } = request;
        let Some(policy) = policy else {
            return Err(DomainError::invalid("policy", "is required"));
        };
        let pb::AliasPolicy {
            model_name,
            model_prefix,
            alias,
            protected,
            required_approvals,
            approver_role,
            request_ttl_seconds,
            gate_metric,
            gate_min_delta,
            gate_lower_is_better,
            soak_alias,
            min_soak_seconds,
            rollback_requires_approval,
            require_signature,
            // The server's: who set which revision when.
            revision: _,
            updated_by: _,
            updated_at: _,
        } = policy;
        let mut v = Violations::default();
        let scope = v.check(policy_scope("policy.", &model_name, &model_prefix));
        let alias = v.check(AliasName::movable("policy.alias", &alias));
        let reason = v.check(validate::reason(&reason));
        let approver_role = match approver_role.as_str() {
            "" => Some(Role::Deployer),
            text => v.check(
                text.parse::<Role>()
                    .map_err(|why| DomainError::invalid("policy.approver_role", why)),
            ),
        };
        let gate = v.check(
            metric_gate(gate_metric, gate_min_delta, gate_lower_is_better)
                .map_err(|e| prefix_fields(e, "policy.")),
        );
        let soak = if soak_alias.is_empty() {
            if min_soak_seconds != 0 {
                v.add("policy.soak_alias", "is required with min_soak_seconds");
            }
            Some(None)
        } else {
            v.check(AliasName::parse("policy.soak_alias", &soak_alias))
                .map(|alias| {
                    Some(Soak {
                        alias,
                        seconds: min_soak_seconds,
                    })
                })
        };
        let (Some(scope), Some(alias), Some(reason), Some(approver_role), Some(gate), Some(soak)) =
            (scope, alias, reason, approver_role, gate, soak)
        else {
            return Err(v.into_error());
        };
        v.finish()?;
        let rules = PolicyRules {
            protected,
            required_approvals: u32::try_from(required_approvals.max(1)).unwrap_or(1),
            approver_role,
            request_ttl_seconds: if request_ttl_seconds == 0 {
                DEFAULT_REQUEST_TTL_SECONDS
            } else {
                request_ttl_seconds
            },
            gate,
            soak,
            rollback_requires_approval,
            require_signature,
        };
        if required_approvals < 0 {
            return Err(DomainError::invalid(
                "policy.required_approvals",
                "must be between 1 and 10",
            ));
        }
        rules.check(&alias)?;
        Ok(Self {
            scope,
            alias,
            rules,
            reason,
        })
    }
}

/// Renames the fields of an INVALID_ARGUMENT to their place in a nested
/// message.
fn prefix_fields(error: DomainError, prefix: &str) -> DomainError {
    match error {
        DomainError::InvalidArgument(violations) => DomainError::InvalidArgument(
            violations
                .into_iter()
                .map(|mut v| {
                    v.field = format!("{prefix}{}", v.field);
                    v
                })
                .collect(),
        ),
        other => other,
    }
}

impl TryFrom<pb::DeleteAliasPolicyRequest> for DeletePolicy {
    type Error = DomainError;

    fn try_from(request: pb::DeleteAliasPolicyRequest) -> DomainResult<Self> {
        let pb::DeleteAliasPolicyRequest {
            model_name,
            model_prefix,
            alias,
            reason,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
        } = request;
        let mut v = Violations::default();
        let fields = (
            v.check(policy_scope("", &model_name, &model_prefix)),
            v.check(AliasName::movable("alias", &alias)),
            v.check(validate::reason(&reason)),
        );
        let (Some(scope), Some(alias), Some(reason)) = fields else {
            return Err(v.into_error());
        };
        Ok(Self {
            scope,
            alias,
            reason,
        })
    }
}

/// Where a policy request points: `model_name` or `model_prefix` (fields
/// under `parent`), exactly one.
fn policy_scope(parent: &str, model_name: &str, model_prefix: &str) -> DomainResult<PolicyScope> {
    match (model_name.is_empty(), model_prefix.is_empty()) {
        (false, true) => {
            ModelName::parse(&format!("{parent}model_name"), model_name).map(PolicyScope::Model)
        }
        (true, false) => ModelPrefix::parse(&format!("{parent}model_prefix"), model_prefix)
            .map(|prefix| PolicyScope::Prefix { prefix }),
        (true, true) => Err(DomainError::invalid(
            format!("{parent}model_name"),
            "is required (or model_prefix, for a policy of every model named so)",
        )),
        (false, false) => Err(DomainError::invalid(
            format!("{parent}model_prefix"),
            "cannot be given with model_name: a policy is set on one model or on a prefix",
        )),
    }
}

impl TryFrom<pb::ListAliasPoliciesRequest> for PolicyQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListAliasPoliciesRequest) -> DomainResult<Self> {
        let pb::ListAliasPoliciesRequest {
            model_name,
            prefixes,
            page_size,
            // The handler reads it: a page token is signed for its query.
            page_token: _,
        } = request;
        let mut v = Violations::default();
        let fields = (
            v.check(convert::optional_model_name(&model_name)),
            v.check(validate::page_size(page_size)),
        );
        let (Some(model_name), Some(page_size)) = fields else {
            return Err(v.into_error());
        };
        if prefixes && model_name.is_some() {
            return Err(DomainError::invalid(
                "prefixes",
                "cannot be given with model_name: list one model's policies in force, or the \
                 policies set on prefixes",
            ));
        }
        Ok(Self {
            model_name,
            prefixes,
            page_size,
            after: None,
        })
    }
}

impl TryFrom<pb::CreateAliasChangeRequestRequest> for RequestMove {
    type Error = DomainError;

    fn try_from(request: pb::CreateAliasChangeRequestRequest) -> DomainResult<Self> {
        let pb::CreateAliasChangeRequestRequest {
            model_name,
            alias,
            version,
            reason,
            expected_current_version,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
        } = request;
        let mut v = Violations::default();
        let version = v.check(validate::version_number("version", version));
        let change = v.check(alias_change(
            &model_name,
            &alias,
            &reason,
            expected_current_version,
        ));
        let (Some(version), Some((model_name, alias, reason, expected_current))) =
            (version, change)
        else {
            return Err(v.into_error());
        };
        Ok(Self {
            model_name,
            alias,
            version,
            reason,
            expected_current,
        })
    }
}

impl TryFrom<pb::ListAliasChangeRequestsRequest> for RequestQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListAliasChangeRequestsRequest) -> DomainResult<Self> {
        let pb::ListAliasChangeRequestsRequest {
            model_name,
            alias,
            state,
            requester,
            page_size,
            // The handler reads it: a page token is signed for its query.
            page_token: _,
        } = request;
        let mut v = Violations::default();
        let fields = (
            v.check(convert::optional_model_name(&model_name)),
            v.check(if alias.is_empty() {
                Ok(None)
            } else {
                AliasName::movable("alias", &alias).map(Some)
            }),
            v.check(convert::request_state_filter(state)),
            v.check(validate::page_size(page_size)),
        );
        let (Some(model_name), Some(alias), Some(state), Some(page_size)) = fields else {
            return Err(v.into_error());
        };
        Ok(Self {
            model_name,
            alias,
            state,
            requester: (!requester.is_empty()).then_some(requester),
            page_size,
            after: None,
        })
    }
}

impl TryFrom<pb::FreezeAliasRequest> for FreezeCommand {
    type Error = DomainError;

    fn try_from(request: pb::FreezeAliasRequest) -> DomainResult<Self> {
        let pb::FreezeAliasRequest {
            model_name,
            alias,
            reason,
            duration_seconds,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
        } = request;
        let mut v = Violations::default();
        let change = v.check(alias_change(&model_name, &alias, &reason, None));
        if !(0..=MAX_FREEZE_SECONDS).contains(&duration_seconds) {
            v.add(
                "duration_seconds",
                "must be between 0 (until unfrozen) and 90 days",
            );
        }
        let Some((model_name, alias, reason, _)) = change else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(Self {
            model_name,
            target: FreezeTarget::Alias(alias),
            reason,
            duration_seconds: (duration_seconds > 0).then_some(duration_seconds),
        })
    }
}

/// The fields of a change to one version by number: model, version, reason.
fn version_change(
    model_name: &str,
    version: i64,
    reason: &str,
) -> DomainResult<(ModelName, i64, String)> {
    let mut v = Violations::default();
    let fields = (
        v.check(ModelName::parse("model_name", model_name)),
        v.check(validate::version_number("version", version)),
        v.check(validate::reason(reason)),
    );
    let (Some(model_name), Some(version), Some(reason)) = fields else {
        return Err(v.into_error());
    };
    Ok((model_name, version, reason))
}
