//! How a command names one version: `NAME VERSION` or `NAME@ALIAS` (the
//! version the alias points at when the command runs, e.g. `churn@staging`
//! or `churn@latest`).

use model_registry_client::{Error, RegistryClient};

/// A version as named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionTarget {
    /// A version number of a model.
    Number(String, i64),
    /// Whatever version an alias of a model points at.
    Alias(String, String),
}

impl VersionTarget {
    /// Reads `NAME VERSION` or `NAME@ALIAS` (with no VERSION).
    pub fn parse(name: &str, version: Option<i64>) -> Result<Self, Error> {
        match (name.split_once('@'), version) {
            (Some((model, alias)), None) if !model.is_empty() && !alias.is_empty() => {
                Ok(Self::Alias(model.to_owned(), alias.to_owned()))
            }
            (Some(_), Some(_)) => Err(Error::InvalidInput(format!(
                "give either {name} or a version number, not both"
            ))),
            (None, Some(version)) => Ok(Self::Number(name.to_owned(), version)),
            _ => Err(Error::InvalidInput(format!(
                "name a version: NAME VERSION (churn 3) or NAME@ALIAS (churn@staging), not {name:?}"
            ))),
        }
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        match self {
            Self::Number(model, _) | Self::Alias(model, _) => model,
        }
    }

    /// The version number, asking the server where an alias points now.
    pub async fn resolve(&self, client: &RegistryClient) -> Result<i64, Error> {
        match self {
            Self::Number(_, version) => Ok(*version),
            Self::Alias(model, alias) => client
                .get_version_by_alias(model, alias)
                .await
                .map(|v| v.version()),
        }
    }
}

/// The model and alias a command follows: `NAME@ALIAS`, or `NAME` with
/// `--alias ALIAS` (production when neither names one).
pub fn alias_of(name: &str, alias: Option<&str>) -> Result<(String, String), Error> {
    match (name.split_once('@'), alias) {
        (Some((model, alias)), None) if !model.is_empty() && !alias.is_empty() => {
            Ok((model.to_owned(), alias.to_owned()))
        }
        (Some(_), Some(_)) => Err(Error::InvalidInput(format!(
            "give either {name} or --alias, not both"
        ))),
        (None, alias) => Ok((name.to_owned(), alias.unwrap_or("production").to_owned())),
        (Some(_), None) => Err(Error::InvalidInput(format!(
            "name an alias: NAME@ALIAS (churn@canary) or NAME --alias ALIAS, not {name:?}"
        ))),
    }
}

/// Reads a version number, or `@ALIAS` for the version another alias of the
/// same model points at (e.g. `modelreg alias set churn production @staging`).
pub fn parse_version_or_alias(text: &str) -> Result<VersionOrAlias, String> {
    match text.strip_prefix('@') {
        Some(alias) if !alias.is_empty() => Ok(VersionOrAlias::Alias(alias.to_owned())),
        Some(_) => Err("name the alias after @, e.g. @staging".to_owned()),
        None => text
            .parse::<i64>()
            .map(VersionOrAlias::Number)
            .map_err(|_| format!("{text:?} is neither a version number nor @ALIAS")),
    }
}

/// A version number or another alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionOrAlias {
    /// A version number.
    Number(i64),
    /// The version this alias points at.
    Alias(String),
}

impl VersionOrAlias {
    /// The version number, asking the server where an alias points now.
    pub async fn resolve(&self, client: &RegistryClient, model: &str) -> Result<i64, Error> {
        match self {
            Self::Number(version) => Ok(*version),
            Self::Alias(alias) => client
                .get_version_by_alias(model, alias)
                .await
                .map(|v| v.version()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_a_number_or_an_alias_never_both() {
        assert_eq!(
            VersionTarget::parse("churn", Some(3)).unwrap(),
            VersionTarget::Number("churn".into(), 3)
        );
        assert_eq!(
            VersionTarget::parse("churn@staging", None).unwrap(),
            VersionTarget::Alias("churn".into(), "staging".into())
        );
        assert!(VersionTarget::parse("churn@staging", Some(3)).is_err());
        assert!(VersionTarget::parse("churn", None).is_err());
        assert!(VersionTarget::parse("@staging", None).is_err());
        assert_eq!(
            parse_version_or_alias("@canary"),
            Ok(VersionOrAlias::Alias("canary".into()))
        );
        assert_eq!(parse_version_or_alias("7"), Ok(VersionOrAlias::Number(7)));
        assert!(parse_version_or_alias("seven").is_err());
    }

    #[test]
    fn an_alias_to_follow_is_name_at_alias_or_the_flag_and_production_by_default() {
        let of = |name: &str, alias: Option<&str>| alias_of(name, alias).ok();
        let pair = |m: &str, a: &str| Some((m.to_owned(), a.to_owned()));
        assert_eq!(of("churn@canary", None), pair("churn", "canary"));
        assert_eq!(of("churn", Some("canary")), pair("churn", "canary"));
        assert_eq!(of("churn", None), pair("churn", "production"));
        assert_eq!(of("churn@canary", Some("staging")), None);
        assert_eq!(of("churn@", None), None);
        assert_eq!(of("@canary", None), None);
    }
}
