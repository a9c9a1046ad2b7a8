//! Which role each RPC needs. One table, checked before any handler runs;
//! a method missing from it needs `admin`, so a new RPC is closed until it
//! is given a role here.

use crate::domain::DomainError;
use crate::domain::access::Role;

/// What calling a method takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, authenticated or not (health).
    Open,
    /// An authenticated principal with at least this role.
    Needs(Role),
}

/// How a method's call runs, for deadlines: a read can be cut at its
/// deadline, a change must be allowed to say what became of it, a stream
/// lasts as long as its caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Reads state.
    Read,
    /// Changes state.
    Change,
    /// A server stream (watches, health watch, reflection).
    Stream,
}

const REGISTRY_SERVICE: &str = "/modelregistry.v1.RegistryService/";

/// The role each RegistryService method needs, and how it runs.
const POLICY: &[(&str, Role, CallKind)] = &[
    ("GetModelVersion", Role::Reader, CallKind::Read),
    ("GetVersionSignature", Role::Reader, CallKind::Read),
    ("GetProductionModel", Role::Reader, CallKind::Read),
    ("GetModelVersionByAlias", Role::Reader, CallKind::Read),
    ("ListModelVersions", Role::Reader, CallKind::Read),
    ("GetBestModelVersion", Role::Reader, CallKind::Read),
    ("ListModels", Role::Reader, CallKind::Read),
    ("GetModel", Role::Reader, CallKind::Read),
    ("ListEvents", Role::Reader, CallKind::Read),
    ("WatchModelAlias", Role::Reader, CallKind::Stream),
    ("WatchProductionModel", Role::Reader, CallKind::Stream),
    ("WatchEvents", Role::Reader, CallKind::Stream),
    ("RegisterModel", Role::Trainer, CallKind::Change),
    ("UpdateModelVersion", Role::Trainer, CallKind::Change),
    ("AttachSignature", Role::Trainer, CallKind::Change),
    ("SetModelAlias", Role::Deployer, CallKind::Change),
    ("DeleteModelAlias", Role::Deployer, CallKind::Change),
    ("RollbackModelAlias", Role::Deployer, CallKind::Change),
    ("SetProductionModel", Role::Deployer, CallKind::Change),
    ("RollbackProductionModel", Role::Deployer, CallKind::Change),
    ("UpdateModelVersionStatus", Role::Deployer, CallKind::Change),
    ("UpdateModel", Role::Admin, CallKind::Change),
    ("GetAliasPolicy", Role::Reader, CallKind::Read),
    ("ListAliasPolicies", Role::Reader, CallKind::Read),
    ("SetAliasPolicy", Role::Admin, CallKind::Change),
    ("DeleteAliasPolicy", Role::Admin, CallKind::Change),
    ("GetAliasChangeRequest", Role::Reader, CallKind::Read),
    ("ListAliasChangeRequests", Role::Reader, CallKind::Read),
    // Making and deciding requests needs the deployer role; the alias's
    // policy may ask more of approvers (checked by the use case).
    ("CreateAliasChangeRequest", Role::Deployer, CallKind::Change),
    (
        "ApproveAliasChangeRequest",
        Role::Deployer,
        CallKind::Change,
    ),
    ("RejectAliasChangeRequest", Role::Deployer, CallKind::Change),
    ("CancelAliasChangeRequest", Role::Deployer, CallKind::Change),
    ("FreezeAlias", Role::Admin, CallKind::Change),
    ("UnfreezeAlias", Role::Admin, CallKind::Change),
    ("FreezeVersion", Role::Admin, CallKind::Change),
    ("UnfreezeVersion", Role::Admin, CallKind::Change),
    // Webhooks see every event and hold secrets: admins only, reads too.
    ("CreateWebhook", Role::Admin, CallKind::Change),
    ("DeleteWebhook", Role::Admin, CallKind::Change),
    ("ResumeWebhook", Role::Admin, CallKind::Change),
    ("UpdateWebhook", Role::Admin, CallKind::Change),
    ("RotateWebhookSecret", Role::Admin, CallKind::Change),
    ("ReplayWebhook", Role::Admin, CallKind::Change),
    ("GetWebhook", Role::Admin, CallKind::Read),
    ("ListWebhooks", Role::Admin, CallKind::Read),
    ("ListWebhookDeliveries", Role::Admin, CallKind::Read),
];

/// What calling the method at `path` (`/package.Service/Method`) takes.
/// Reflection is open when it is served at all (`--no-reflection` removes
/// it).
pub fn required_access(path: &str) -> Access {
    if path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
    {
        return Access::Open;
    }
    let role = entry(path).map_or(Role::Admin, |(_, role, _)| *role);
    Access::Needs(role)
}

/// Refuses `principal` when its role is below `role`, what the method at
/// `path` needs (the console's forms check the method they stand for).
pub fn check_role(principal: &super::Principal, role: Role, path: &str) -> Result<(), DomainError> {
    if principal.grant.role >= role {
        return Ok(());
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    Err(DomainError::PermissionDenied(format!(
        "principal {:?} has the role {}, but {name} needs the role {role} (or above)",
        principal.name, principal.grant.role
    )))
}

/// The full path of RegistryService's method `method`.
pub fn registry_method(method: &str) -> String {
    format!("{REGISTRY_SERVICE}{method}")
}

/// How the method at `path` runs; unknown methods count as changes (their
/// deadline leaves room to report an outcome).
pub fn call_kind(path: &str) -> CallKind {
    if path.starts_with("/grpc.health.v1.Health/Watch") || path.contains(".ServerReflection/") {
        return CallKind::Stream;
    }
    if path.starts_with("/grpc.health.v1.Health/") {
        return CallKind::Read;
    }
    entry(path).map_or(CallKind::Change, |(_, _, kind)| *kind)
}

/// The method's name as metrics label it: a RegistryService method
/// (`RegisterModel`), `Health/Check` or `Health/Watch`, `ServerReflection`,
/// or `unknown` for anything else, so a caller inventing paths cannot
/// inflate the number of series.
pub fn method_label(path: &str) -> &'static str {
    if let Some((method, _, _)) = entry(path) {
        return method;
    }
    match path {
        "/grpc.health.v1.Health/Check" => "Health/Check",
        "/grpc.health.v1.Health/Watch" => "Health/Watch",
        _ if path.contains(".ServerReflection/") => "ServerReflection",
        _ => "unknown",
    }
}

fn entry(path: &str) -> Option<&'static (&'static str, Role, CallKind)> {
    path.strip_prefix(REGISTRY_SERVICE)
        .and_then(|method| POLICY.iter().find(|(m, _, _)| *m == method))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn every_registry_method_has_a_role_in_the_table() {
        let set = prost_types::FileDescriptorSet::decode(model_registry_api::FILE_DESCRIPTOR_SET)
            .unwrap();
        let service = set
            .file
            .iter()
            .flat_map(|f| &f.service)
            .find(|s| s.name() == "RegistryService")
            .unwrap();
        for method in &service.method {
            let kind = if method.server_streaming() {
                CallKind::Stream
            } else if method.name().starts_with("Get") || method.name().starts_with("List") {
                CallKind::Read
            } else {
                CallKind::Change
            };
            assert!(
                POLICY
                    .iter()
                    .any(|(m, _, k)| *m == method.name() && *k == kind),
                "{} has no role in the policy table, or the wrong kind",
                method.name()
            );
        }
        assert_eq!(service.method.len(), POLICY.len(), "no stale entries");
    }

    #[test]
    fn health_is_open_and_unknown_methods_need_admin() {
        assert_eq!(
            required_access("/grpc.health.v1.Health/Check"),
            Access::Open
        );
        assert_eq!(
            required_access("/modelregistry.v1.RegistryService/GetModel"),
            Access::Needs(Role::Reader)
        );
        assert_eq!(
            required_access("/modelregistry.v1.RegistryService/DropEverything"),
            Access::Needs(Role::Admin)
        );
        assert_eq!(
            required_access("/other.Service/Call"),
            Access::Needs(Role::Admin)
        );
    }
}
