//! Builders for the alias calls (`production` included) and for model
//! metadata: each starts from a [`RegistryClient`] method, takes its options
//! fluently, and is sent by awaiting it (or with `.send().await`).
//!
//! ```no_run
//! # async fn example() -> Result<(), model_registry_client::Error> {
//! use model_registry_client::RegistryClient;
//!
//! let client = RegistryClient::connect("http://127.0.0.1:50051").await?;
//! client
//!     .set_alias("churn", "canary", 3)
//!     .expect_current(2)
//!     .gate("auc", 0.01)
//!     .reason("5% of traffic on the retrained model")
//!     .send()
//!     .await?;
//! let canary = client.get_version_by_alias("churn", "canary").await?;
//! assert_eq!(canary.version(), 3);
//! # Ok(())
//! # }
//! ```

use model_registry_api::v1 as pb;

use crate::calls::awaitable;
use crate::client::{RegistryClient, new_request_id, version_of};
use crate::error::Result;
use crate::types::{AliasMove, AliasRollback, Model};

/// A pending `SetModelAlias`; see [`RegistryClient::set_alias`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct SetAlias<'a> {
    client: &'a RegistryClient,
    request: pb::SetModelAliasRequest,
}

impl<'a> SetAlias<'a> {
    pub(crate) fn new(client: &'a RegistryClient, request: pb::SetModelAliasRequest) -> Self {
        Self { client, request }
    }

    /// Replaces the generated request id (e.g. with a deployment's id, so a
    /// re-run of the same deployment never moves the alias twice).
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request.request_id = request_id.into();
        self
    }

    /// Why the alias moves (required; recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Compare-and-set: move only if the alias points at `version` now
    /// (0: only if the alias does not exist yet); ABORTED otherwise.
    pub fn expect_current(mut self, version: i64) -> Self {
        self.request.expected_current_version = Some(version);
        self
    }

    /// Metric gate: refuse (FAILED_PRECONDITION) unless the candidate's
    /// `metric` beats the alias's current version by at least `min_delta`.
    pub fn gate(mut self, metric: impl Into<String>, min_delta: f64) -> Self {
        self.request.gate_metric = metric.into();
        self.request.gate_min_delta = min_delta;
        self
    }

    /// The gate metric is a loss: lower values win.
    pub fn lower_is_better(mut self) -> Self {
        self.request.gate_lower_is_better = true;
        self
    }

    /// Break-glass (admins only): move an alias whose policy protects it,
    /// past the policy; the event is flagged.
    pub fn emergency(mut self) -> Self {
        self.request.emergency = true;
        self
    }

    /// Sends the move (retried on UNAVAILABLE under one request id, so it
    /// happens at most once).
    pub async fn send(self) -> Result<AliasMove> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.set_model_alias(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        Ok(AliasMove {
            version: version_of(response.model_version)?,
            previous_version: response.previous_version,
            unchanged: response.unchanged,
        })
    }
}
awaitable!(SetAlias => AliasMove);

/// A pending `DeleteModelAlias`; see [`RegistryClient::delete_alias`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct DeleteAlias<'a> {
    client: &'a RegistryClient,
    request: pb::DeleteModelAliasRequest,
}

impl DeleteAlias<'_> {
    /// Why (required; recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Compare-and-set: delete only if the alias points at `version` now.
    pub fn expect_current(mut self, version: i64) -> Self {
        self.request.expected_current_version = Some(version);
        self
    }

    /// Break-glass (admins only): delete a protected alias.
    pub fn emergency(mut self) -> Self {
        self.request.emergency = true;
        self
    }

    /// Sends the deletion; returns the version the alias pointed at.
    pub async fn send(self) -> Result<i64> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.delete_model_alias(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        Ok(response.previous_version)
    }
}
awaitable!(DeleteAlias => i64);

/// A pending `RollbackModelAlias`; see [`RegistryClient::rollback_alias`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct RollbackAlias<'a> {
    client: &'a RegistryClient,
    request: pb::RollbackModelAliasRequest,
}

impl RollbackAlias<'_> {
    /// Why (required; recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Compare-and-set: roll back only if the alias points at `version` now.
    pub fn expect_current(mut self, version: i64) -> Self {
        self.request.expected_current_version = Some(version);
        self
    }

    /// Break-glass (admins only): roll back a protected alias whose policy
    /// makes rollbacks need approval.
    pub fn emergency(mut self) -> Self {
        self.request.emergency = true;
        self
    }

    /// Sends the rollback.
    pub async fn send(self) -> Result<AliasRollback> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.rollback_model_alias(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        Ok(AliasRollback {
            version: version_of(response.model_version)?,
            rolled_back_version: response.rolled_back_version,
        })
    }
}
awaitable!(RollbackAlias => AliasRollback);

/// A pending `UpdateModel`; see [`RegistryClient::update_model`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct UpdateModel<'a> {
    client: &'a RegistryClient,
    request: pb::UpdateModelRequest,
}

impl UpdateModel<'_> {
    /// The new description of the model.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.request.description = Some(description.into());
        self
    }

    /// Adds or overwrites a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.tags.insert(key.into(), value.into());
        self
    }

    /// Removes a tag.
    pub fn remove_tag(mut self, key: impl Into<String>) -> Self {
        self.request.remove_tags.push(key.into());
        self
    }

    /// Why (optional; recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Sends the update; returns the model as it is now.
    pub async fn send(self) -> Result<Model> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.update_model(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        response
            .model
            .map(Model::from)
            .ok_or_else(|| crate::Error::InvalidInput("the server sent no model".to_owned()))
    }
}
awaitable!(UpdateModel => Model);

impl RegistryClient {
    /// Points `alias` of `model_name` at `version`; finish with
    /// [`SetAlias::reason`] and [`SetAlias::send`].
    pub fn set_alias(
        &self,
        model_name: impl Into<String>,
        alias: impl Into<String>,
        version: i64,
    ) -> SetAlias<'_> {
        SetAlias::new(
            self,
            pb::SetModelAliasRequest {
                model_name: model_name.into(),
                alias: alias.into(),
                version,
                request_id: new_request_id(),
                ..Default::default()
            },
        )
    }

    /// Removes `alias` from `model_name`.
    pub fn delete_alias(
        &self,
        model_name: impl Into<String>,
        alias: impl Into<String>,
    ) -> DeleteAlias<'_> {
        DeleteAlias {
            client: self,
            request: pb::DeleteModelAliasRequest {
                model_name: model_name.into(),
                alias: alias.into(),
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }

    /// Returns `alias` of `model_name` to the version it held before.
    pub fn rollback_alias(
        &self,
        model_name: impl Into<String>,
        alias: impl Into<String>,
    ) -> RollbackAlias<'_> {
        RollbackAlias {
            client: self,
            request: pb::RollbackModelAliasRequest {
                model_name: model_name.into(),
                alias: alias.into(),
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }

    /// Makes `version` the production version of `model_name`: the
    /// `production` alias, with every option of [`SetAlias`].
    pub fn set_production_model(
        &self,
        model_name: impl Into<String>,
        version: i64,
    ) -> SetAlias<'_> {
        self.set_alias(model_name, "production", version)
    }

    /// Returns production of `model_name` to the version before the current
    /// one.
    pub fn rollback_production_model(&self, model_name: impl Into<String>) -> RollbackAlias<'_> {
        self.rollback_alias(model_name, "production")
    }

    /// Changes the description and tags of `model_name`.
    pub fn update_model(&self, model_name: impl Into<String>) -> UpdateModel<'_> {
        UpdateModel {
            client: self,
            request: pb::UpdateModelRequest {
                model_name: model_name.into(),
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }
}
