//! Which role each RPC needs. One table, checked before any handler runs;
//! a method missing from it needs `admin`, so a new RPC is closed until it
//! is given a role here.

use crate::domain::access::Role;

/// What calling a method takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, authenticated or not (health).
    Open,
    /// An authenticated principal with at least this role.
    Needs(Role),
}

const REGISTRY_SERVICE: &str = "/modelregistry.v1.RegistryService/";

/// The role each RegistryService method needs.
const POLICY: &[(&str, Role)] = &[
    ("GetModelVersion", Role::Reader),
    ("GetProductionModel", Role::Reader),
    ("GetModelVersionByAlias", Role::Reader),
    ("ListModelVersions", Role::Reader),
    ("GetBestModelVersion", Role::Reader),
    ("ListModels", Role::Reader),
    ("GetModel", Role::Reader),
    ("ListEvents", Role::Reader),
    ("RegisterModel", Role::Trainer),
    ("UpdateModelVersion", Role::Trainer),
    ("SetModelAlias", Role::Deployer),
    ("DeleteModelAlias", Role::Deployer),
    ("RollbackModelAlias", Role::Deployer),
    ("SetProductionModel", Role::Deployer),
    ("RollbackProductionModel", Role::Deployer),
    ("UpdateModelVersionStatus", Role::Deployer),
    ("UpdateModel", Role::Admin),
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
    let role = path
        .strip_prefix(REGISTRY_SERVICE)
        .and_then(|method| POLICY.iter().find(|(m, _)| *m == method))
        .map_or(Role::Admin, |(_, role)| *role);
    Access::Needs(role)
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
            assert!(
                POLICY.iter().any(|(m, _)| *m == method.name()),
                "{} has no role in the policy table",
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
