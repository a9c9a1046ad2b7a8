//! Builders for the reads and changes that take options: each starts from a
//! [`RegistryClient`] method with the call's required arguments, takes its
//! options fluently, and is sent by awaiting it (or `.send().await`).
//!
//! ```no_run
//! # async fn example() -> Result<(), model_registry_client::Error> {
//! use model_registry_client::{ModelStatus, RegistryClient};
//!
//! let client = RegistryClient::connect("http://127.0.0.1:50051").await?;
//! let candidates = client
//!     .list_model_versions("churn")
//!     .status(ModelStatus::Active)
//!     .min_metric("auc", 0.9)
//!     .order_by_metric("auc")
//!     .limit(10)
//!     .await?;
//! let best = client.get_best_model_version("churn", "auc").await?;
//! let last_week = client
//!     .get_production_model("churn")
//!     .as_of(std::time::SystemTime::now() - std::time::Duration::from_secs(7 * 86_400))
//!     .await;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::time::SystemTime;

use model_registry_api::v1 as pb;

use crate::client::{RawClient, RegistryClient, new_request_id, version_of};
use crate::error::Result;
use crate::types::{BestVersion, Event, Model, ModelStatus, ModelVersion, Page};

/// Makes a builder awaitable: `builder.await` is `builder.send().await`.
macro_rules! awaitable {
    ($builder:ident => $output:ty) => {
        impl<'a> std::future::IntoFuture for $builder<'a> {
            type Output = Result<$output>;
            type IntoFuture =
                std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;

            fn into_future(self) -> Self::IntoFuture {
                Box::pin(self.send())
            }
        }
    };
}
pub(crate) use awaitable;

/// A pending read of the version an alias points at (`production`
/// included), now or at a past moment; see
/// [`RegistryClient::get_production_model`] and
/// [`RegistryClient::get_version_by_alias`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct AliasedVersion<'a> {
    client: &'a RegistryClient,
    request: pb::GetModelVersionByAliasRequest,
}

impl AliasedVersion<'_> {
    /// The version the alias pointed at at `at` (answered from the audit
    /// trail); NOT_FOUND if it pointed nowhere then.
    pub fn as_of(mut self, at: SystemTime) -> Self {
        self.request.as_of = Some(at.into());
        self
    }

    /// Sends the read, which includes every change this client has seen
    /// answered (its newest consistency token), whichever replica answers.
    pub async fn send(mut self) -> Result<ModelVersion> {
        self.request.consistency_token = self.client.consistency_token();
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.get_model_version_by_alias(r).await
            })
            .await?;
        version_of(response.model_version)
    }
}
awaitable!(AliasedVersion => ModelVersion);

/// A pending listing of a model's versions; see
/// [`RegistryClient::list_model_versions`]. Awaited, it follows pages up to
/// [`ListVersions::limit`] (every match by default); [`ListVersions::page`]
/// fetches one page.
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct ListVersions<'a> {
    client: &'a RegistryClient,
    request: pb::ListModelVersionsRequest,
    limit: Option<usize>,
}

impl ListVersions<'_> {
    /// Only versions in `status` (repeat for several; ACTIVE and DEPRECATED
    /// when never called).
    pub fn status(mut self, status: ModelStatus) -> Self {
        self.request.statuses.push(status.to_proto());
        self
    }

    /// Only versions trained with `algorithm`.
    pub fn algorithm(mut self, algorithm: impl Into<String>) -> Self {
        self.request.algorithm = algorithm.into();
        self
    }

    /// Only versions tagged `key=value` (repeat: all must match).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.tags.insert(key.into(), value.into());
        self
    }

    /// Only versions whose `metric` is at least `min` (repeat: all must hold).
    pub fn min_metric(mut self, metric: impl Into<String>, min: f64) -> Self {
        self.request.min_metrics.insert(metric.into(), min);
        self
    }

    /// Only versions `alias` points at (repeat for any of several).
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.request.aliases.push(alias.into());
        self
    }

    /// Only versions that finished training after `at`.
    pub fn trained_after(mut self, at: SystemTime) -> Self {
        self.request.trained_after = Some(at.into());
        self
    }

    /// Only versions that finished training before `at`.
    pub fn trained_before(mut self, at: SystemTime) -> Self {
        self.request.trained_before = Some(at.into());
        self
    }

    /// Ordered by `metric`, best (highest) first; missing values last.
    pub fn order_by_metric(mut self, metric: impl Into<String>) -> Self {
        self.request.order_by = pb::VersionOrder::Metric as i32;
        self.request.order_metric = metric.into();
        self.request.descending = true;
        self
    }

    /// Ordered by when training finished, oldest first.
    pub fn order_by_trained_at(mut self) -> Self {
        self.request.order_by = pb::VersionOrder::TrainedAt as i32;
        self
    }

    /// Ordered by registration time, oldest first.
    pub fn order_by_created_at(mut self) -> Self {
        self.request.order_by = pb::VersionOrder::CreatedAt as i32;
        self
    }

    /// Reverses the order (lowest metric, newest first …).
    pub fn reverse(mut self) -> Self {
        self.request.descending = !self.request.descending;
        self
    }

    /// Every field of each version (metadata included), not the listing's
    /// basic view.
    pub fn full(mut self) -> Self {
        self.request.view = pb::VersionView::Full as i32;
        self
    }

    /// Versions per page asked of the server (it caps the page by size too).
    pub fn page_size(mut self, size: i32) -> Self {
        self.request.page_size = size;
        self
    }

    /// Continues a listing from a page token a previous page returned.
    pub fn page_token(mut self, token: impl Into<String>) -> Self {
        self.request.page_token = token.into();
        self
    }

    /// At most `limit` versions when awaited.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// One page and the token for the next.
    pub async fn page(self) -> Result<Page<ModelVersion>> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.list_model_versions(r).await
            })
            .await?;
        Ok(Page {
            items: response
                .model_versions
                .into_iter()
                .map(Into::into)
                .collect(),
            next_page_token: Some(response.next_page_token).filter(|t| !t.is_empty()),
        })
    }

    /// Every matching version, page after page, up to the limit.
    pub async fn send(self) -> Result<Vec<ModelVersion>> {
        every_page(
            self.client,
            self.request,
            self.limit.unwrap_or(usize::MAX),
            |mut raw, r| async move { raw.list_model_versions(r).await },
            |page| (page.model_versions, page.next_page_token),
            |request, token| request.page_token = token,
        )
        .await
    }
}
awaitable!(ListVersions => Vec<ModelVersion>);

/// A pending read of the best version by a metric; see
/// [`RegistryClient::get_best_model_version`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct GetBestVersion<'a> {
    client: &'a RegistryClient,
    request: pb::GetBestModelVersionRequest,
}

impl GetBestVersion<'_> {
    /// The metric is a loss: the lowest value wins.
    pub fn lowest(mut self) -> Self {
        self.request.lowest = true;
        self
    }

    /// Among versions in `status` (repeat for several; ACTIVE when never
    /// called).
    pub fn status(mut self, status: ModelStatus) -> Self {
        self.request.statuses.push(status.to_proto());
        self
    }

    /// Sends the read.
    pub async fn send(self) -> Result<BestVersion> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.get_best_model_version(r).await
            })
            .await?;
        Ok(BestVersion {
            version: version_of(response.model_version)?,
            value: response.value,
        })
    }
}
awaitable!(GetBestVersion => BestVersion);

/// A pending listing of models; see [`RegistryClient::list_models`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct ListModels<'a> {
    client: &'a RegistryClient,
    request: pb::ListModelsRequest,
}

impl ListModels<'_> {
    /// Only models whose name starts with `prefix`.
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.request.name_prefix = prefix.into();
        self
    }

    /// Every matching model, by name, page after page.
    pub async fn send(self) -> Result<Vec<Model>> {
        every_page(
            self.client,
            self.request,
            usize::MAX,
            |mut raw, r| async move { raw.list_models(r).await },
            |page| (page.models, page.next_page_token),
            |request, token| request.page_token = token,
        )
        .await
    }
}
awaitable!(ListModels => Vec<Model>);

/// A pending listing of the audit trail, oldest first; see
/// [`RegistryClient::list_events`]. Awaited, it follows pages up to
/// [`ListEvents::limit`]; [`ListEvents::page`] fetches one page.
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct ListEvents<'a> {
    client: &'a RegistryClient,
    request: pb::ListEventsRequest,
    limit: Option<usize>,
}

impl ListEvents<'_> {
    /// Only events of `model_name`.
    pub fn model(mut self, model_name: impl Into<String>) -> Self {
        self.request.model_name = model_name.into();
        self
    }

    /// Only events of one version (needs [`ListEvents::model`]).
    pub fn version(mut self, version: i64) -> Self {
        self.request.version = Some(version);
        self
    }

    /// Only moves of one alias.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.request.alias = alias.into();
        self
    }

    /// Only events of `event_type` (repeat for several).
    pub fn event_type(mut self, event_type: crate::EventType) -> Self {
        self.request.types.push(event_type.to_proto());
        self
    }

    /// Only events at or after `at`.
    pub fn since(mut self, at: SystemTime) -> Self {
        self.request.since = Some(at.into());
        self
    }

    /// Only events before `at`.
    pub fn until(mut self, at: SystemTime) -> Self {
        self.request.until = Some(at.into());
        self
    }

    /// Events per page asked of the server.
    pub fn page_size(mut self, size: i32) -> Self {
        self.request.page_size = size;
        self
    }

    /// Continues a listing from a page token a previous page returned.
    pub fn page_token(mut self, token: impl Into<String>) -> Self {
        self.request.page_token = token.into();
        self
    }

    /// At most `limit` events when awaited.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// One page and the token for the next.
    pub async fn page(self) -> Result<Page<Event>> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.list_events(r).await
            })
            .await?;
        Ok(Page {
            items: response.events.into_iter().map(Into::into).collect(),
            next_page_token: Some(response.next_page_token).filter(|t| !t.is_empty()),
        })
    }

    /// Every matching event, page after page, up to the limit.
    pub async fn send(self) -> Result<Vec<Event>> {
        every_page(
            self.client,
            self.request,
            self.limit.unwrap_or(usize::MAX),
            |mut raw, r| async move { raw.list_events(r).await },
            |page| (page.events, page.next_page_token),
            |request, token| request.page_token = token,
        )
        .await
    }
}
awaitable!(ListEvents => Vec<Event>);

/// A pending change of a version's description and tags; see
/// [`RegistryClient::update_model_version`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct UpdateVersion<'a> {
    client: &'a RegistryClient,
    request: pb::UpdateModelVersionRequest,
}

impl UpdateVersion<'_> {
    /// Replaces the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.request.description = Some(description.into());
        self
    }

    /// Sets tag `key` to `value`.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.set_tags.insert(key.into(), value.into());
        self
    }

    /// Removes tag `key`.
    pub fn remove_tag(mut self, key: impl Into<String>) -> Self {
        self.request.remove_tags.push(key.into());
        self
    }

    /// Why (recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Replaces the generated request id.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request.request_id = request_id.into();
        self
    }

    /// Sends the change; returns the version as it is now.
    pub async fn send(self) -> Result<ModelVersion> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.update_model_version(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        version_of(response.model_version)
    }
}
awaitable!(UpdateVersion => ModelVersion);

/// A pending status change; see
/// [`RegistryClient::update_model_version_status`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct SetStatus<'a> {
    client: &'a RegistryClient,
    request: pb::UpdateModelVersionStatusRequest,
}

impl SetStatus<'_> {
    /// Why (required; recorded in the audit trail).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.request.reason = reason.into();
        self
    }

    /// Replaces the generated request id.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request.request_id = request_id.into();
        self
    }

    /// Sends the change; returns the version as it is now.
    pub async fn send(self) -> Result<ModelVersion> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.update_model_version_status(r).await
            })
            .await?;
        self.client
            .observe_consistency_token(&response.consistency_token);
        version_of(response.model_version)
    }
}
awaitable!(SetStatus => ModelVersion);

/// Follows a listing page after page (each page retried on its own) until
/// its last page or `limit` items, converting each item to this crate's type.
pub(crate) async fn every_page<Req, Resp, Raw, T, F, Fut>(
    client: &RegistryClient,
    mut request: Req,
    limit: usize,
    call: F,
    split: impl Fn(Resp) -> (Vec<Raw>, String),
    set_token: impl Fn(&mut Req, String),
) -> Result<Vec<T>>
where
    Req: Clone,
    T: From<Raw>,
    F: Fn(RawClient, Req) -> Fut,
    Fut: Future<Output = std::result::Result<tonic::Response<Resp>, tonic::Status>>,
{
    let mut items = Vec::new();
    loop {
        let (page, token) = split(client.retried(request.clone(), &call).await?);
        items.extend(page.into_iter().map(T::from));
        if token.is_empty() || items.len() >= limit {
            items.truncate(limit);
            return Ok(items);
        }
        set_token(&mut request, token);
    }
}

impl RegistryClient {
    /// The version `production` of `model_name` points at (add
    /// [`AliasedVersion::as_of`] for a past moment);
    /// [`crate::Error::is_not_found`] when there is none.
    pub fn get_production_model(&self, model_name: impl Into<String>) -> AliasedVersion<'_> {
        self.get_version_by_alias(model_name, "production")
    }

    /// The version `alias` of `model_name` points at (`latest`: the highest
    /// ACTIVE version); [`crate::Error::is_not_found`] when it points nowhere.
    pub fn get_version_by_alias(
        &self,
        model_name: impl Into<String>,
        alias: impl Into<String>,
    ) -> AliasedVersion<'_> {
        AliasedVersion {
            client: self,
            request: pb::GetModelVersionByAliasRequest {
                model_name: model_name.into(),
                alias: alias.into(),
                as_of: None,
                consistency_token: String::new(),
            },
        }
    }

    /// The versions of `model_name`, filtered and ordered (by version
    /// number unless told otherwise).
    pub fn list_model_versions(&self, model_name: impl Into<String>) -> ListVersions<'_> {
        ListVersions {
            client: self,
            request: pb::ListModelVersionsRequest {
                model_name: model_name.into(),
                ..Default::default()
            },
            limit: None,
        }
    }

    /// The ACTIVE version of `model_name` with the highest `metric` (or the
    /// lowest, with [`GetBestVersion::lowest`]), and that value.
    pub fn get_best_model_version(
        &self,
        model_name: impl Into<String>,
        metric: impl Into<String>,
    ) -> GetBestVersion<'_> {
        GetBestVersion {
            client: self,
            request: pb::GetBestModelVersionRequest {
                model_name: model_name.into(),
                metric: metric.into(),
                ..Default::default()
            },
        }
    }

    /// Every model, by name.
    pub fn list_models(&self) -> ListModels<'_> {
        ListModels {
            client: self,
            request: pb::ListModelsRequest {
                page_size: 500,
                ..Default::default()
            },
        }
    }

    /// The audit trail, oldest first (every model unless filtered).
    pub fn list_events(&self) -> ListEvents<'_> {
        ListEvents {
            client: self,
            request: pb::ListEventsRequest::default(),
            limit: None,
        }
    }

    /// Changes the description and tags of one version.
    pub fn update_model_version(
        &self,
        model_name: impl Into<String>,
        version: i64,
    ) -> UpdateVersion<'_> {
        UpdateVersion {
            client: self,
            request: pb::UpdateModelVersionRequest {
                model_name: model_name.into(),
                version,
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }

    /// Moves one version to `status` through the status machine (give a
    /// [`SetStatus::reason`]).
    pub fn update_model_version_status(
        &self,
        model_name: impl Into<String>,
        version: i64,
        status: ModelStatus,
    ) -> SetStatus<'_> {
        SetStatus {
            client: self,
            request: pb::UpdateModelVersionStatusRequest {
                model_name: model_name.into(),
                version,
                status: status.to_proto(),
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }
}
