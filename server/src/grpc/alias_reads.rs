//! The reads the alias RPCs and the alias watches share: the version an
//! alias points at (now, or at a time), and an alias watch checked up front.

use model_registry_api::v1 as pb;
use tonic::Status;

use super::convert;
use super::service::RegistryService;
use super::watch::Updates;
use crate::domain::{AliasName, ConsistencyToken, DomainError, ModelName, Violations};

impl RegistryService {
    /// A watch of `alias` of `model_name`, refused up front when the model
    /// does not exist.
    pub(super) async fn alias_watch(
        &self,
        model_name: &str,
        alias: &str,
        after_event_id: i64,
    ) -> Result<Updates<pb::AliasUpdate>, Status> {
        let mut v = Violations::default();
        let model = v.check(ModelName::parse("model_name", model_name));
        let alias = v.check(if alias.is_empty() {
            Ok(AliasName::production())
        } else {
            AliasName::parse("alias", alias)
        });
        v.check(non_negative_event_id(after_event_id));
        let (Some(model), Some(alias)) = (model, alias) else {
            return Err(v.into_error().into());
        };
        v.finish()?;
        self.registry.get_model(model.clone()).await?;
        Ok(self.watches.alias(model, alias, after_event_id))
    }

    /// The version `alias` of `model_name` points at now, or at `as_of`.
    pub(super) async fn version_by_alias(
        &self,
        model_name: &str,
        alias: AliasName,
        as_of: Option<prost_types::Timestamp>,
        consistency_token: &str,
    ) -> Result<pb::ModelVersion, Status> {
        let name = ModelName::parse("model_name", model_name)?;
        let token = ConsistencyToken::parse("consistency_token", consistency_token)?;
        let version = match convert::optional_time("as_of", as_of)? {
            // From the trail, in the database: every commit is there.
            Some(at) => self.registry.get_by_alias_as_of(name, alias, at).await?,
            None => self.registry.get_by_alias(name, alias, token).await?,
        };
        Ok(convert::version_to_wire(version))
    }
}

pub(super) fn non_negative_event_id(id: i64) -> Result<(), DomainError> {
    if id < 0 {
        return Err(DomainError::invalid(
            "after_event_id",
            "must be 0 (from now on) or an event id",
        ));
    }
    Ok(())
}
