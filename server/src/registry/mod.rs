//! The use cases, written once for both databases: each is a function
//! generic over the store's [`Tx`] contract, holding the rules (access
//! checks, idempotency, alias rules, events) and no SQL. [`Registry`] is
//! what the gRPC service and the console call: it hands each use case to
//! the store, in a write transaction or on a reader.

mod aliases;
mod events;
mod freezes;
mod governance;
mod idempotent;
mod models;
mod policies;
mod sessions;
mod versions;
mod webhook_delivery;
mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::domain::commands::{
    AliasMoved, AttachSignature, BestVersionQuery, Caller, ChangeStatus, Committed, DecideRequest,
    DeleteAlias, DeletePolicy, EventQuery, FreezeCommand, ModelQuery, PolicyQuery, RequestMove,
    RequestQuery, RollbackAlias, SetAlias, SetPolicy, UnfreezeCommand, UpdateModel, UpdateVersion,
    VersionQuery,
};
use crate::domain::event::FeedBatch;
use crate::domain::governance::{AliasPolicy, ChangeRequest, Freeze, PolicyScope};
use crate::domain::page::{
    EventCursor, ModelCursor, Page, PageKey, PolicyCursor, RequestCursor, VersionCursor,
};
use crate::domain::session::{ConsoleSession, SessionKey};
use crate::domain::signature::{SignedFile, TrustCheck};
use crate::domain::{
    AliasName, ConsistencyToken, DomainResult, Event, FeedPosition, Model, ModelName, ModelVersion,
    NewVersion, VersionRef,
};
use crate::store::{Store, Tx, Work};
pub use freezes::Unfrozen;
pub use governance::Decision;
pub use policies::PolicyRemoved;
pub use webhook_delivery::{Backlog, LeasedWebhook, Record};
pub use webhooks::{CreatedWebhook, WebhookDeleted};

/// How long a sign-in or sign-out may wait for the database.
const SESSION_WRITE_TIME: Duration = Duration::from_secs(10);

/// The registry's use cases over one store. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    /// Whether a stored signature still verifies (the signature trust file
    /// as it is now), for policies requiring one.
    trust: Arc<dyn TrustCheck>,
    /// The key that signs page tokens, read (or created) once: the gRPC
    /// service and the console sign with the same key.
    page_key: Arc<tokio::sync::OnceCell<PageKey>>,
}

/// Declares a use case as [`Work`] the store can run: a struct holding the
/// arguments of the generic function that does it.
macro_rules! use_case {
    ($name:ident { $($field:ident: $ty:ty),* $(,)? } -> $output:ty = $run:path) => {
        struct $name {
            $($field: $ty),*
        }

        impl Work for $name {
            type Output = $output;

            fn run<T: Tx>(self, tx: &mut T) -> impl Future<Output = DomainResult<$output>> + Send {
                let Self { $($field),* } = self;
                $run(tx, $($field),*)
            }
        }
    };
}
pub(crate) use use_case;

use_case!(Register { new: NewVersion, caller: Caller } -> ModelVersion = versions::register);
use_case!(ChangeVersionStatus { command: ChangeStatus, caller: Caller } -> ModelVersion = versions::change_status);
use_case!(UpdateVersionDetails { command: UpdateVersion, caller: Caller } -> ModelVersion = versions::update_version);
use_case!(GetVersion { target: VersionRef } -> ModelVersion = versions::get_version);
use_case!(AttachVersionSignature { command: AttachSignature, caller: Caller } -> ModelVersion = versions::attach_signature);
use_case!(GetVersionSignature { target: VersionRef } -> (ModelVersion, Vec<SignedFile>, String) = versions::version_signature);
use_case!(ListVersions { query: VersionQuery } -> Page<ModelVersion, VersionCursor> = versions::list_versions);
use_case!(BestVersion { query: BestVersionQuery } -> (ModelVersion, f64) = versions::best_version);
use_case!(SetModelAlias { command: SetAlias, caller: Caller, trust: Arc<dyn TrustCheck> } -> AliasMoved = aliases::set_alias);
use_case!(RollbackModelAlias { command: RollbackAlias, caller: Caller, trust: Arc<dyn TrustCheck> } -> AliasMoved = aliases::rollback_alias);
use_case!(DeleteModelAlias { command: DeleteAlias, caller: Caller } -> i64 = aliases::delete_alias);
use_case!(GetByAlias { name: ModelName, alias: AliasName } -> ModelVersion = aliases::get_by_alias);
use_case!(GetByAliasAsOf { name: ModelName, alias: AliasName, at: DateTime<Utc> } -> ModelVersion = aliases::get_by_alias_as_of);
use_case!(AliasState { name: ModelName, alias: AliasName } -> (Option<ModelVersion>, i64) = aliases::alias_state);
use_case!(UpdateModelDetails { command: UpdateModel, caller: Caller } -> Model = models::update_model);
use_case!(GetModel { name: ModelName } -> Model = models::get_model);
use_case!(ListModels { query: ModelQuery } -> Page<Model, ModelCursor> = models::list_models);
use_case!(ListEvents { query: EventQuery } -> Page<Event, EventCursor> = events::list_events);
use_case!(ReadPageKey {} -> [u8; 32] = events::page_key);
use_case!(SetAliasPolicy { command: SetPolicy, caller: Caller } -> AliasPolicy = policies::set_policy);
use_case!(DeleteAliasPolicy { command: DeletePolicy, caller: Caller } -> PolicyRemoved = policies::delete_policy);
use_case!(GetAliasPolicy { scope: PolicyScope, alias: AliasName } -> AliasPolicy = policies::get_policy);
use_case!(ListAliasPolicies { query: PolicyQuery } -> Page<AliasPolicy, PolicyCursor> = policies::list_policies);
use_case!(CreateChangeRequest { command: RequestMove, caller: Caller, trust: Arc<dyn TrustCheck> } -> ChangeRequest = governance::create_request);
use_case!(DecideChangeRequest { command: DecideRequest, decision: Decision, caller: Caller, trust: Arc<dyn TrustCheck> } -> ChangeRequest = governance::decide);
use_case!(GetChangeRequest { id: i64 } -> ChangeRequest = governance::get_request);
use_case!(ListChangeRequests { query: RequestQuery } -> Page<ChangeRequest, RequestCursor> = governance::list_requests);
use_case!(FreezeOne { command: FreezeCommand, caller: Caller } -> Freeze = freezes::freeze);
use_case!(UnfreezeOne { command: UnfreezeCommand, caller: Caller } -> Unfrozen = freezes::unfreeze);
use_case!(StartSession { session: ConsoleSession } -> () = sessions::start_session);
use_case!(FindSession { id_digest: String, now: DateTime<Utc> } -> Option<ConsoleSession> = sessions::find_session);
use_case!(EndSession { id_digest: String } -> bool = sessions::end_session);

impl Registry {
    /// The use cases over `store`.
    pub fn new(store: Store, trust: Arc<dyn TrustCheck>) -> Self {
        Self {
            store,
            trust,
            page_key: Arc::default(),
        }
    }

    /// The store underneath (health checks and the change feed read it
    /// directly).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Registers a version (see `RegisterModel`).
    pub async fn register(
        &self,
        new: NewVersion,
        caller: Caller,
    ) -> DomainResult<Committed<ModelVersion>> {
        let deadline = caller.deadline;
        let model = Some(new.model_name.clone());
        self.commit(deadline, model, Register { new, caller }, |version| {
            version.model_name.clone()
        })
        .await
    }

    /// Runs a change, to model `model` when that is known before it runs
    /// (the store then commits it with the others to that model); before
    /// it is answered, this replica's cached reads of its model (named by
    /// `model_of` its answer) go.
    async fn commit<W: Work>(
        &self,
        deadline: Option<Instant>,
        model: Option<ModelName>,
        work: W,
        model_of: impl FnOnce(&W::Output) -> ModelName,
    ) -> DomainResult<Committed<W::Output>> {
        let (value, token) = self.store.change(deadline, model, work).await?;
        self.store.committed_change_of(&model_of(&value));
        Ok(Committed { value, token })
    }

    /// Changes a version's status.
    pub async fn change_status(
        &self,
        command: ChangeStatus,
        caller: Caller,
    ) -> DomainResult<Committed<ModelVersion>> {
        let deadline = caller.deadline;
        let model = command.target.model_name().cloned();
        let work = ChangeVersionStatus { command, caller };
        self.commit(deadline, model, work, |version| version.model_name.clone())
            .await
    }

    /// Changes a version's description and tags.
    pub async fn update_version(
        &self,
        command: UpdateVersion,
        caller: Caller,
    ) -> DomainResult<Committed<ModelVersion>> {
        let deadline = caller.deadline;
        let model = command.target.model_name().cloned();
        let work = UpdateVersionDetails { command, caller };
        self.commit(deadline, model, work, |version| version.model_name.clone())
            .await
    }

    /// Attaches a verified signature to a version.
    pub async fn attach_signature(
        &self,
        command: AttachSignature,
        caller: Caller,
    ) -> DomainResult<Committed<ModelVersion>> {
        let deadline = caller.deadline;
        let model = command.target.model_name().cloned();
        let work = AttachVersionSignature { command, caller };
        self.commit(deadline, model, work, |version| version.model_name.clone())
            .await
    }

    /// A version with its signature's files and bundle.
    pub async fn version_signature(
        &self,
        target: VersionRef,
    ) -> DomainResult<(ModelVersion, Vec<SignedFile>, String)> {
        self.store.read(GetVersionSignature { target }).await
    }

    /// Reads one version.
    pub async fn get_version(&self, target: VersionRef) -> DomainResult<ModelVersion> {
        self.store.read(GetVersion { target }).await
    }

    /// Lists versions.
    pub async fn list_versions(
        &self,
        query: VersionQuery,
    ) -> DomainResult<Page<ModelVersion, VersionCursor>> {
        self.store.read(ListVersions { query }).await
    }

    /// Finds the best version by a metric, with its value.
    pub async fn best_version(&self, query: BestVersionQuery) -> DomainResult<(ModelVersion, f64)> {
        self.store.read(BestVersion { query }).await
    }

    /// Points an alias at a version.
    pub async fn set_alias(
        &self,
        command: SetAlias,
        caller: Caller,
    ) -> DomainResult<Committed<AliasMoved>> {
        let deadline = caller.deadline;
        let model = Some(command.model_name.clone());
        let trust = self.trust.clone();
        let work = SetModelAlias {
            command,
            caller,
            trust,
        };
        self.commit(deadline, model, work, |moved| {
            moved.version.model_name.clone()
        })
        .await
    }

    /// Returns an alias to the version it held before.
    pub async fn rollback_alias(
        &self,
        command: RollbackAlias,
        caller: Caller,
    ) -> DomainResult<Committed<AliasMoved>> {
        let deadline = caller.deadline;
        let model = Some(command.model_name.clone());
        let trust = self.trust.clone();
        let work = RollbackModelAlias {
            command,
            caller,
            trust,
        };
        self.commit(deadline, model, work, |moved| {
            moved.version.model_name.clone()
        })
        .await
    }

    /// Removes an alias; returns the version it pointed at.
    pub async fn delete_alias(
        &self,
        command: DeleteAlias,
        caller: Caller,
    ) -> DomainResult<Committed<i64>> {
        let deadline = caller.deadline;
        let model = command.model_name.clone();
        let work = DeleteModelAlias { command, caller };
        self.commit(deadline, Some(model.clone()), work, |_| model)
            .await
    }

    /// Reads the version an alias points at (from the alias cache where
    /// the store keeps one), including at least the change `token` names.
    pub async fn get_by_alias(
        &self,
        name: ModelName,
        alias: AliasName,
        token: Option<ConsistencyToken>,
    ) -> DomainResult<ModelVersion> {
        self.store
            .read_alias(name, alias, token, |name, alias| GetByAlias { name, alias })
            .await
    }

    /// Reads the version an alias pointed at at `at`.
    pub async fn get_by_alias_as_of(
        &self,
        name: ModelName,
        alias: AliasName,
        at: DateTime<Utc>,
    ) -> DomainResult<ModelVersion> {
        self.store.read(GetByAliasAsOf { name, alias, at }).await
    }

    /// The version an alias points at now with the id of the event that put
    /// it there (`None`: the alias points nowhere), for watches.
    pub async fn alias_state(
        &self,
        name: ModelName,
        alias: AliasName,
    ) -> DomainResult<(Option<ModelVersion>, i64)> {
        self.store.read(AliasState { name, alias }).await
    }

    /// Changes a model's description and tags.
    pub async fn update_model(
        &self,
        command: UpdateModel,
        caller: Caller,
    ) -> DomainResult<Committed<Model>> {
        let deadline = caller.deadline;
        let model = Some(command.model_name.clone());
        let work = UpdateModelDetails { command, caller };
        self.commit(deadline, model, work, |model| model.name.clone())
            .await
    }

    /// Reads one model.
    pub async fn get_model(&self, name: ModelName) -> DomainResult<Model> {
        self.store.read(GetModel { name }).await
    }

    /// Lists models.
    pub async fn list_models(&self, query: ModelQuery) -> DomainResult<Page<Model, ModelCursor>> {
        self.store.read(ListModels { query }).await
    }

    /// Lists events.
    pub async fn list_events(&self, query: EventQuery) -> DomainResult<Page<Event, EventCursor>> {
        self.store.read(ListEvents { query }).await
    }

    /// Up to `limit` events after `after`, in feed order.
    pub async fn events_after(&self, after: FeedPosition, limit: usize) -> DomainResult<FeedBatch> {
        self.store.events_after(after, limit).await
    }

    /// Up to `limit` events of model `model` after id `after_id`, in order.
    pub async fn model_events_after(
        &self,
        model: &ModelName,
        after_id: i64,
        limit: usize,
    ) -> DomainResult<Vec<Event>> {
        self.store.model_events_after(model, after_id, limit).await
    }

    /// The newest event id of model `model` (0: none).
    pub async fn model_head(&self, model: &ModelName) -> DomainResult<i64> {
        self.store.model_head(model).await
    }

    /// The feed's newest position: every event to come sorts after it.
    pub async fn feed_head(&self) -> DomainResult<FeedPosition> {
        self.store.feed_head().await
    }

    /// The event with id `id`, if there is one.
    pub async fn find_event(&self, id: i64) -> DomainResult<Option<Event>> {
        self.store.find_event(id).await
    }

    /// Sets a policy on a model or a prefix (a new revision, unless it is
    /// unchanged).
    pub async fn set_policy(
        &self,
        command: SetPolicy,
        caller: Caller,
    ) -> DomainResult<Committed<AliasPolicy>> {
        let deadline = caller.deadline;
        let model = command.scope.model().cloned();
        let work = SetAliasPolicy { command, caller };
        self.commit_governance(deadline, model, work).await
    }

    /// Removes a policy set on a model or a prefix.
    pub async fn delete_policy(
        &self,
        command: DeletePolicy,
        caller: Caller,
    ) -> DomainResult<Committed<PolicyRemoved>> {
        let deadline = caller.deadline;
        let model = command.scope.model().cloned();
        let work = DeleteAliasPolicy { command, caller };
        self.commit_governance(deadline, model, work).await
    }

    /// Runs a policy change: to a model, or to a prefix (no model's cached
    /// reads change: a policy governs moves, not what an alias reads).
    async fn commit_governance<W: Work>(
        &self,
        deadline: Option<Instant>,
        model: Option<ModelName>,
        work: W,
    ) -> DomainResult<Committed<W::Output>> {
        match model {
            Some(model) => {
                self.commit(deadline, Some(model.clone()), work, |_| model)
                    .await
            }
            None => {
                let (value, token) = self.store.change(deadline, None, work).await?;
                Ok(Committed { value, token })
            }
        }
    }

    /// Reads a policy: a model's in force, or one set on a prefix.
    pub async fn get_policy(
        &self,
        scope: PolicyScope,
        alias: AliasName,
    ) -> DomainResult<AliasPolicy> {
        self.store.read(GetAliasPolicy { scope, alias }).await
    }

    /// Lists alias policies.
    pub async fn list_policies(
        &self,
        query: PolicyQuery,
    ) -> DomainResult<Page<AliasPolicy, PolicyCursor>> {
        self.store.read(ListAliasPolicies { query }).await
    }

    /// Makes a change request.
    pub async fn create_request(
        &self,
        command: RequestMove,
        caller: Caller,
    ) -> DomainResult<Committed<ChangeRequest>> {
        let deadline = caller.deadline;
        let model = Some(command.model_name.clone());
        let trust = self.trust.clone();
        let work = CreateChangeRequest {
            command,
            caller,
            trust,
        };
        self.commit(deadline, model, work, |request| request.model_name.clone())
            .await
    }

    /// Approves, rejects or cancels a change request (the approval that
    /// completes it applies the move).
    pub async fn decide_request(
        &self,
        command: DecideRequest,
        decision: Decision,
        caller: Caller,
    ) -> DomainResult<Committed<ChangeRequest>> {
        let deadline = caller.deadline;
        let work = DecideChangeRequest {
            command,
            decision,
            caller,
            trust: self.trust.clone(),
        };
        self.commit(deadline, None, work, |request| request.model_name.clone())
            .await
    }

    /// Reads a change request.
    pub async fn get_request(&self, id: i64) -> DomainResult<ChangeRequest> {
        self.store.read(GetChangeRequest { id }).await
    }

    /// Lists change requests, newest first.
    pub async fn list_requests(
        &self,
        query: RequestQuery,
    ) -> DomainResult<Page<ChangeRequest, RequestCursor>> {
        self.store.read(ListChangeRequests { query }).await
    }

    /// Freezes an alias or a version.
    pub async fn freeze(
        &self,
        command: FreezeCommand,
        caller: Caller,
    ) -> DomainResult<Committed<Freeze>> {
        let deadline = caller.deadline;
        let model = command.model_name.clone();
        let work = FreezeOne { command, caller };
        self.commit(deadline, Some(model.clone()), work, |_| model)
            .await
    }

    /// Ends a freeze.
    pub async fn unfreeze(
        &self,
        command: UnfreezeCommand,
        caller: Caller,
    ) -> DomainResult<Committed<Unfrozen>> {
        let deadline = caller.deadline;
        let model = command.model_name.clone();
        let work = UnfreezeOne { command, caller };
        self.commit(deadline, Some(model.clone()), work, |_| model)
            .await
    }

    /// Stores a console session started at sign-in.
    pub async fn start_session(&self, session: ConsoleSession) -> DomainResult<()> {
        self.store
            .write(
                Some(Instant::now() + SESSION_WRITE_TIME),
                StartSession { session },
            )
            .await
    }

    /// The console session of a cookie's secret digest, unless it ended.
    pub async fn session(&self, id_digest: String) -> DomainResult<Option<ConsoleSession>> {
        let now = crate::domain::time::now();
        self.store.read(FindSession { id_digest, now }).await
    }

    /// Ends a console session (sign-out); whether it was there.
    pub async fn end_session(&self, id_digest: String) -> DomainResult<bool> {
        self.store
            .write(
                Some(Instant::now() + SESSION_WRITE_TIME),
                EndSession { id_digest },
            )
            .await
    }

    /// The key that signs console session cookies (shared by every
    /// replica, derived from the page-token key).
    pub async fn session_key(&self) -> DomainResult<SessionKey> {
        Ok(SessionKey::new(
            self.page_key().await?.derive("console session cookie v1"),
        ))
    }

    /// The key that signs page tokens (created on first use, shared by
    /// every replica, read once per process).
    pub async fn page_key(&self) -> DomainResult<PageKey> {
        self.page_key
            .get_or_try_init(|| async {
                let deadline = Some(Instant::now() + Duration::from_secs(10));
                let key = self.store.write(deadline, ReadPageKey {}).await?;
                Ok(PageKey::new(key))
            })
            .await
            .cloned()
    }
}
