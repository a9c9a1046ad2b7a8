//! Who may change what: roles (reader < trainer < deployer < admin) and the
//! limits a principal's grant can carry (alias names, model-name prefixes).
//! The role needed by each RPC is checked before any handler runs (see
//! `auth::policy`); the limits are checked here, by every change, once the
//! model and alias it touches are known. Limits restrict changes only:
//! every principal reads everything.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::alias::AliasName;
use super::error::{DomainError, DomainResult};
use super::types::{ModelName, ModelPrefix};

/// A principal's role; each includes the rights of the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every read, and watching.
    Reader,
    /// + registering versions and editing their description and tags.
    Trainer,
    /// + moving, deleting and rolling back aliases; status changes.
    Deployer,
    /// + everything else (model description and tags).
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Self::Reader, Self::Trainer, Self::Deployer, Self::Admin];

    /// The role's name in the tokens file and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Trainer => "trainer",
            Self::Deployer => "deployer",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                format!("{text:?} is not a role: use reader, trainer, deployer or admin")
            })
    }
}

/// What a principal may do: its role, and optionally the only aliases it
/// may change and the only model-name prefixes it may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The principal's role.
    pub role: Role,
    /// When set, the only aliases the principal may move, delete or roll back.
    pub aliases: Option<BTreeSet<String>>,
    /// When set, the principal may change only models whose names start
    /// with one of these prefixes.
    pub model_prefixes: Option<Vec<String>>,
}

impl Grant {
    /// Everything, for a server running without authentication.
    pub fn unrestricted() -> Self {
        Self {
            role: Role::Admin,
            aliases: None,
            model_prefixes: None,
        }
    }
}

/// Who makes a change, in which request, with what grant: the actor and
/// request id of every event, `created_by` of a registered version, and the
/// limits every change checks. Taken from the request context
/// (authentication, headers), never from a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The authenticated principal, `anonymous` without authentication.
    pub identity: String,
    /// Where the principal came from when an identity provider's token
    /// named it: "ISSUER SUBJECT". Recorded with every event.
    pub source: Option<String>,
    /// The request id the change is recorded under (assigned by the server).
    pub request_id: String,
    /// The caller's own `x-request-id`, if it sent one: a correlation id
    /// recorded as given, never trusted as an identity or an approval.
    pub correlation_id: Option<String>,
    /// What the principal may do.
    pub grant: Grant,
    /// The request's idempotency key (its `request_id`), if it sent one.
    pub idempotency_key: Option<String>,
    /// When the call must be answered; a change not committed by then is
    /// not made.
    pub deadline: Option<std::time::Instant>,
}

impl Caller {
    /// Refuses with PERMISSION_DENIED a change of model `name` outside the
    /// principal's model prefixes.
    pub fn check_model(&self, name: &ModelName) -> DomainResult<()> {
        match &self.grant.model_prefixes {
            Some(prefixes)
                if !prefixes
                    .iter()
                    .any(|p| name.as_str().starts_with(p.as_str())) =>
            {
                Err(DomainError::PermissionDenied(format!(
                    "principal {:?} may change only models whose names start with {}; model \
                     {name:?} is not one of them",
                    self.identity,
                    quoted_list(prefixes.iter())
                )))
            }
            _ => Ok(()),
        }
    }

    /// Refuses with PERMISSION_DENIED a change to alias `alias` of every
    /// model named `prefix`…, unless all of them are within the
    /// principal's model prefixes (one of those starts `prefix`) and the
    /// alias within its alias limits.
    pub fn check_family(&self, prefix: &ModelPrefix, alias: &AliasName) -> DomainResult<()> {
        match &self.grant.model_prefixes {
            Some(prefixes)
                if !prefixes
                    .iter()
                    .any(|p| prefix.as_str().starts_with(p.as_str())) =>
            {
                return Err(DomainError::PermissionDenied(format!(
                    "principal {:?} may change only models whose names start with {}; the \
                     models named {prefix:?}… are not all among them",
                    self.identity,
                    quoted_list(prefixes.iter())
                )));
            }
            _ => {}
        }
        self.check_alias_limits(alias)
    }

    /// Refuses with PERMISSION_DENIED `what` (a change that reaches beyond
    /// any model, such as a webhook subscription, which sees every event)
    /// to a principal limited to some models or aliases.
    pub fn check_unlimited(&self, what: &str) -> DomainResult<()> {
        if self.grant.model_prefixes.is_some() || self.grant.aliases.is_some() {
            return Err(DomainError::PermissionDenied(format!(
                "principal {:?} is limited to some models or aliases; {what} needs an admin \
                 without limits",
                self.identity
            )));
        }
        Ok(())
    }

    /// Refuses with PERMISSION_DENIED a change of alias `alias` of model
    /// `name` outside the principal's limits.
    pub fn check_alias(&self, name: &ModelName, alias: &AliasName) -> DomainResult<()> {
        self.check_model(name)?;
        self.check_alias_limits(alias)
    }

    fn check_alias_limits(&self, alias: &AliasName) -> DomainResult<()> {
        match &self.grant.aliases {
            Some(aliases) if !aliases.contains(alias.as_str()) => {
                Err(DomainError::PermissionDenied(format!(
                    "principal {:?} may change only the aliases {}, not {alias:?}",
                    self.identity,
                    quoted_list(aliases.iter())
                )))
            }
            _ => Ok(()),
        }
    }
}

impl Caller {
    /// Refuses with PERMISSION_DENIED a status change, by a principal
    /// limited to some aliases, of a version an alias outside its limits
    /// rests on: one it points at or pointed at before (`aliases_held`:
    /// every version an alias held is a target of its rollback chain), or
    /// the version `latest` resolves to before or after the change
    /// (`moves_latest`). An unlimited principal may change any status.
    pub fn check_status_change(
        &self,
        version: i64,
        aliases_held: &[String],
        moves_latest: bool,
    ) -> DomainResult<()> {
        let Some(allowed) = &self.grant.aliases else {
            return Ok(());
        };
        let latest = moves_latest.then(|| AliasName::LATEST.to_owned());
        let outside = aliases_held
            .iter()
            .chain(latest.as_ref())
            .find(|alias| !allowed.contains(alias.as_str()));
        match outside {
            Some(alias) => Err(DomainError::PermissionDenied(format!(
                "principal {:?} may change only the aliases {}, and the status of version \
                 {version} decides what alias {alias:?} points at or can roll back to; ask a \
                 principal who may change {alias:?}",
                self.identity,
                quoted_list(allowed.iter())
            ))),
            None => Ok(()),
        }
    }
}

fn quoted_list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items
        .map(|item| format!("{item:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(aliases: Option<&[&str]>, prefixes: Option<&[&str]>) -> Caller {
        Caller {
            identity: "release-bot".into(),
            source: None,
            request_id: "r".into(),
            correlation_id: None,
            idempotency_key: None,
            deadline: None,
            grant: Grant {
                role: Role::Deployer,
                aliases: aliases.map(|a| a.iter().map(|s| (*s).to_owned()).collect()),
                model_prefixes: prefixes.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
            },
        }
    }

    fn model(name: &str) -> ModelName {
        ModelName::parse("model_name", name).unwrap()
    }

    fn alias(name: &str) -> AliasName {
        AliasName::parse("alias", name).unwrap()
    }

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Reader < Role::Trainer && Role::Trainer < Role::Deployer);
        assert!(Role::Deployer < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn alias_limits_allow_only_the_named_aliases() {
        let limited = caller(Some(&["staging", "canary"]), None);
        assert!(
            limited
                .check_alias(&model("churn"), &alias("staging"))
                .is_ok()
        );
        let refused = limited
            .check_alias(&model("churn"), &alias("production"))
            .unwrap_err();
        assert!(
            matches!(&refused, DomainError::PermissionDenied(m) if m.contains("\"production\""))
        );
        assert!(
            caller(None, None)
                .check_alias(&model("churn"), &alias("production"))
                .is_ok()
        );
    }

    #[test]
    fn model_prefixes_limit_every_change() {
        let limited = caller(None, Some(&["churn", "fraud-"]));
        assert!(limited.check_model(&model("churn-eu")).is_ok());
        assert!(limited.check_model(&model("fraud-cards")).is_ok());
        assert!(matches!(
            limited.check_model(&model("ranking")),
            Err(DomainError::PermissionDenied(_))
        ));
        assert!(matches!(
            limited.check_alias(&model("ranking"), &alias("staging")),
            Err(DomainError::PermissionDenied(_))
        ));
    }
}
