//! The contract between the use cases (`server/src/registry/`) and the SQL: one
//! trait per table family, each implemented once per database
//! (`store/sql/*.rs`, compiled for PostgreSQL and for SQLite), so the
//! compiler checks that both backends implement every primitive. The
//! primitives hold no rules (no access checks, no idempotency, no alias
//! logic): each is a statement or two, and rules call them in order.
//!
//! Every method returns a `Send` future, so a use case generic over [`Tx`]
//! runs on any task.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};

use super::governance_rows::{
    ChangeRequestRow, FreezeRow, NewChangeRequestRow, PolicyRow, PrefixPolicyRow,
    RequestDecisionRow,
};
use super::rows::{
    AliasMoveState, AliasRow, EventRow, KeyOutcome, LockedModel, ModelRow, NewEventRow,
    RequestKeyRow, SessionRow, VersionRow,
};
pub use super::webhook_table::WebhookTable;
use crate::domain::commands::{EventQuery, ModelQuery, PolicyQuery, RequestQuery, VersionQuery};
use crate::domain::event::FeedBatch;
use crate::domain::governance::{AliasPolicy, ChangeRequest};
use crate::domain::page::{EventCursor, ModelCursor, Page, VersionCursor};
use crate::domain::page::{PolicyCursor, RequestCursor};
use crate::domain::signature::{SignedFile, VerifiedSignature};
use crate::domain::{
    AliasName, ChangeQueue, DomainResult, Event, FeedPosition, Model, ModelName, ModelPrefix,
    ModelVersion, NewVersion, VersionRef, VersionStatus,
};

/// A connection of either database: inside a write transaction when a
/// change runs, on a reader when a read does. Implemented by both backends'
/// connections; every use case is generic over it.
pub trait Tx:
    ModelTable
    + VersionTable
    + AliasTable
    + EventTable
    + KeyTable
    + SessionTable
    + GovernanceTable
    + WebhookTable
    + Send
{
}

impl<T> Tx for T where
    T: ModelTable
        + VersionTable
        + AliasTable
        + EventTable
        + KeyTable
        + SessionTable
        + GovernanceTable
        + WebhookTable
        + Send
{
}

/// A unit of work the store runs on one connection of whichever database
/// it has: a change inside one write transaction (`Store::write`), a read
/// on a reader (`Store::read`). Lets a use case written once, generic over
/// [`Tx`], be handed to the store without naming the backend.
pub trait Work: Send + 'static {
    /// What the work answers.
    type Output: Send + 'static;

    /// Runs the work on `tx`.
    fn run<T: Tx>(self, tx: &mut T) -> impl Future<Output = DomainResult<Self::Output>> + Send;
}

/// The `models` table.
pub trait ModelTable {
    /// A model by name, NOT_FOUND when there is none.
    fn find_model(
        &mut self,
        name: &ModelName,
    ) -> impl Future<Output = DomainResult<ModelRow>> + Send;

    /// Inserts model `name` unless it exists, and locks its row until
    /// commit (after its queue): the row, and true when it was created.
    fn create_and_lock_model(
        &mut self,
        name: &ModelName,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<(LockedModel, bool)>> + Send;

    /// Queues this transaction behind the other changes to model `name`,
    /// until commit: a change's first statement, before it writes anything.
    fn queue_for_changes(
        &mut self,
        queue: ChangeQueue<'_>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The name of the model version `id` belongs to, if there is one.
    fn model_of_version(
        &mut self,
        id: &str,
    ) -> impl Future<Output = DomainResult<Option<ModelName>>> + Send;

    /// Locks model `name`'s row until commit (after its queue), and reads
    /// the time of its latest event in the same statement; NOT_FOUND when
    /// there is none.
    fn lock_model(
        &mut self,
        name: &ModelName,
    ) -> impl Future<Output = DomainResult<LockedModel>> + Send;

    /// Stores a model's description and tags and its change time.
    fn save_model_details(
        &mut self,
        model: &mut ModelRow,
        description: Option<String>,
        tags: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Sets a model's change time.
    fn touch_model(
        &mut self,
        model_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// A model with its aliases and latest ACTIVE version.
    fn model_with_aliases(
        &mut self,
        row: ModelRow,
    ) -> impl Future<Output = DomainResult<Model>> + Send;

    /// One page of models by name, with their aliases.
    fn list_models(
        &mut self,
        query: &ModelQuery,
    ) -> impl Future<Output = DomainResult<Page<Model, ModelCursor>>> + Send;
}

/// The `model_versions` table and its metric and tag rows.
pub trait VersionTable {
    /// Version `version` of model `model_id`.
    fn version_row(
        &mut self,
        model_id: i64,
        version: i64,
    ) -> impl Future<Output = DomainResult<Option<VersionRow>>> + Send;

    /// The version with id `id`.
    fn version_row_by_id(
        &mut self,
        id: &str,
    ) -> impl Future<Output = DomainResult<Option<VersionRow>>> + Send;

    /// One version with its model's name and the aliases it holds.
    fn find_version(
        &mut self,
        target: &VersionRef,
    ) -> impl Future<Output = DomainResult<Option<ModelVersion>>> + Send;

    /// The version principal `principal` registered under idempotency key
    /// `request_id` before request keys existed, with its model's name.
    fn version_by_request_id(
        &mut self,
        principal: &str,
        request_id: &str,
    ) -> impl Future<Output = DomainResult<Option<(VersionRow, String)>>> + Send;

    /// Inserts `row` (version `row.version` of `model`), its metrics and
    /// tags, and advances the model's next version number.
    fn insert_version(
        &mut self,
        model: &ModelRow,
        row: &VersionRow,
        new: &NewVersion,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Stores a version's status and change time.
    fn save_version_status(
        &mut self,
        row: &mut VersionRow,
        status: VersionStatus,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Stores a version's description and tags (its tag rows too) and its
    /// change time.
    fn save_version_details(
        &mut self,
        row: &mut VersionRow,
        description: Option<String>,
        tags: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Attaches a verified signature to a version, replacing any.
    fn save_signature(
        &mut self,
        row: &mut VersionRow,
        signature: &VerifiedSignature,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The files and bundle of version `version_id`'s signature, if any.
    fn signature_details(
        &mut self,
        version_id: &str,
    ) -> impl Future<Output = DomainResult<Option<(Vec<SignedFile>, String)>>> + Send;

    /// The highest ACTIVE version of model `model_id` (the alias `latest`).
    fn latest_active_version(
        &mut self,
        model_id: i64,
    ) -> impl Future<Output = DomainResult<Option<i64>>> + Send;

    /// The highest version of model `model_id` registered by `at` whose
    /// status at `at` was ACTIVE.
    fn latest_active_version_at(
        &mut self,
        model_id: i64,
        at: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<Option<i64>>> + Send;

    /// A version row read with the aliases it holds.
    fn with_aliases(
        &mut self,
        row: VersionRow,
        model_name: String,
    ) -> impl Future<Output = DomainResult<ModelVersion>> + Send;

    /// One page of versions (of model `model_id` when given) with filters,
    /// ordering and keyset pagination.
    fn list_versions(
        &mut self,
        query: &VersionQuery,
        model_id: Option<i64>,
    ) -> impl Future<Output = DomainResult<Page<ModelVersion, VersionCursor>>> + Send;

    /// The version of model `model_id` in one of `statuses` with the
    /// highest (or lowest) value of `metric`, newest first among equals.
    fn best_version(
        &mut self,
        model_id: i64,
        metric: &str,
        statuses: &[VersionStatus],
        lowest: bool,
    ) -> impl Future<Output = DomainResult<Option<(VersionRow, f64)>>> + Send;
}

/// The `aliases` table.
pub trait AliasTable {
    /// The row of `alias` of model `model_id`, if it exists.
    fn alias_row(
        &mut self,
        model_id: i64,
        alias: &AliasName,
    ) -> impl Future<Output = DomainResult<Option<AliasRow>>> + Send;

    /// The version `candidate` of model `model` (when given), the row of
    /// `alias`, its latest move, and (when the model is governed) its policy
    /// and its freeze: what an alias move reads first (on PostgreSQL, in one
    /// round trip).
    fn alias_move_state(
        &mut self,
        model: &ModelRow,
        alias: &AliasName,
        candidate: Option<i64>,
    ) -> impl Future<Output = DomainResult<AliasMoveState>> + Send;

    /// Points `alias` at `version`, naming the event that moved it.
    fn point_alias(
        &mut self,
        model_id: i64,
        alias: &AliasName,
        version: i64,
        event_id: i64,
        exists: bool,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Removes `alias` of model `model_id`.
    fn remove_alias(
        &mut self,
        model_id: i64,
        alias: &AliasName,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The aliases version `version` of model `model_id` holds, sorted.
    fn aliases_of_version(
        &mut self,
        model_id: i64,
        version: i64,
    ) -> impl Future<Output = DomainResult<Vec<String>>> + Send;

    /// The version `alias` of model `name` points at, with the aliases it
    /// holds, in one statement; `None` when the alias (or the model) does
    /// not exist.
    fn version_by_alias(
        &mut self,
        name: &ModelName,
        alias: &AliasName,
    ) -> impl Future<Output = DomainResult<Option<ModelVersion>>> + Send;
}

/// The `events` table: the audit trail, append-only.
pub trait EventTable {
    /// Records `outcome` under its request key (when the change claimed
    /// one) and appends events, returning their ids in order: the last
    /// statements of every change (on PostgreSQL, sent together; a trigger
    /// queues the notification replicas wake on).
    fn append_events(
        &mut self,
        outcome: Option<KeyOutcome>,
        events: Vec<NewEventRow>,
    ) -> impl Future<Output = DomainResult<Vec<i64>>> + Send;

    /// Event `id`.
    fn event(&mut self, id: i64) -> impl Future<Output = DomainResult<EventRow>> + Send;

    /// The latest event of `alias` of model `model_id`.
    fn latest_alias_event(
        &mut self,
        model_id: i64,
        alias: &AliasName,
    ) -> impl Future<Output = DomainResult<Option<EventRow>>> + Send;

    /// The version `alias` of model `model_id` pointed at at `at`, by its
    /// last event then (`None`: no event, or it was deleted).
    fn alias_version_at(
        &mut self,
        model_id: i64,
        alias: &AliasName,
        at: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<Option<i64>>> + Send;

    /// Every alias that has pointed at version `version` of model
    /// `model_id`, by the trail (sorted, once each).
    fn aliases_that_held(
        &mut self,
        model_id: i64,
        version: i64,
    ) -> impl Future<Output = DomainResult<Vec<String>>> + Send;

    /// Whether the rollback chain that starts at event `start` (an alias's
    /// latest move's `rollback_event_id`) reaches version `version`: the
    /// versions successive rollbacks return the alias to.
    fn rollback_chain_reaches(
        &mut self,
        start: i64,
        version: i64,
    ) -> impl Future<Output = DomainResult<bool>> + Send;

    /// The id of the latest event of model `model_id` (0: none).
    fn last_model_event_id(
        &mut self,
        model_id: i64,
    ) -> impl Future<Output = DomainResult<i64>> + Send;

    /// One page of events (of model `model_id` when given).
    fn list_events(
        &mut self,
        query: &EventQuery,
        model_id: Option<i64>,
    ) -> impl Future<Output = DomainResult<Page<Event, EventCursor>>> + Send;

    /// Up to `limit` events after `after` in feed order, every one below the
    /// horizon (see `sql/events.rs`).
    fn events_after(
        &mut self,
        after: FeedPosition,
        limit: usize,
    ) -> impl Future<Output = DomainResult<FeedBatch>> + Send;

    /// Up to `limit` events of model `model` after id `after_id`, in id
    /// order (its feed order; no horizon is needed within a model, whose
    /// changes commit one at a time in id order).
    fn model_events_after(
        &mut self,
        model: &ModelName,
        after_id: i64,
        limit: usize,
    ) -> impl Future<Output = DomainResult<Vec<Event>>> + Send;

    /// The newest event id of model `model` (0: none, or no such model).
    fn model_head(&mut self, model: &ModelName) -> impl Future<Output = DomainResult<i64>> + Send;

    /// The feed's newest position below the horizon: every event still to
    /// come sorts after it.
    fn feed_head(&mut self) -> impl Future<Output = DomainResult<FeedPosition>> + Send;

    /// The event with id `id`, if there is one.
    fn find_event(&mut self, id: i64) -> impl Future<Output = DomainResult<Option<Event>>> + Send;
}

/// The `request_keys` and `server_secrets` tables, and the health checks.
pub trait KeyTable {
    /// Queues this transaction behind the other changes to model `model`
    /// (as `ModelTable::queue_for_changes`), then inserts `key` unless its
    /// (principal, request_id) exists, in one round trip: `None` when it was
    /// inserted, the first row otherwise. A second call with the same key
    /// waits here for the first one's transaction to end.
    fn queue_and_claim_request_key(
        &mut self,
        queue: ChangeQueue<'_>,
        key: RequestKeyRow,
    ) -> impl Future<Output = DomainResult<Option<RequestKeyRow>>> + Send;

    /// Records the outcome of a change under the key it claimed.
    fn settle_request_key(
        &mut self,
        principal: &str,
        request_id: &str,
        outcome: String,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The stored secret `name`; stores `fresh` first when there is none
    /// (the first of several racing replicas wins).
    fn secret(
        &mut self,
        name: &str,
        fresh: String,
    ) -> impl Future<Output = DomainResult<String>> + Send;

    /// Checks that the database answers.
    fn check_alive(&mut self) -> impl Future<Output = DomainResult<()>> + Send;

    /// The smallest write that needs free space (SQLite; nothing on
    /// PostgreSQL), to learn whether a full disk has room again.
    fn probe_write(&mut self) -> impl Future<Output = DomainResult<()>> + Send;
}

/// The `console_sessions` table: signed-in browsers of the console.
pub trait SessionTable {
    /// Stores a new session.
    fn insert_session(
        &mut self,
        session: SessionRow,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The session whose secret has digest `id_digest`, if it was started
    /// and not ended (expired ones included: the caller checks the time).
    fn session(
        &mut self,
        id_digest: &str,
    ) -> impl Future<Output = DomainResult<Option<SessionRow>>> + Send;

    /// Ends the session `id_digest`; whether there was one.
    fn delete_session(
        &mut self,
        id_digest: &str,
    ) -> impl Future<Output = DomainResult<bool>> + Send;

    /// Deletes the sessions expired before `now`; how many there were.
    fn delete_expired_sessions(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<usize>> + Send;
}

/// The `alias_policies` and `change_requests` tables: governed promotion.
pub trait GovernanceTable {
    /// The policy of `alias` of model `model_id`, if it has one.
    fn alias_policy(
        &mut self,
        model_id: i64,
        alias: &AliasName,
    ) -> impl Future<Output = DomainResult<Option<PolicyRow>>> + Send;

    /// Stores a policy (inserted, or replacing the one it revises).
    fn save_alias_policy(
        &mut self,
        row: PolicyRow,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Removes the policy of `alias` of model `model_id`.
    fn delete_alias_policy(
        &mut self,
        model_id: i64,
        alias: &AliasName,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// One page of policies by model name and alias.
    fn list_alias_policies(
        &mut self,
        query: &PolicyQuery,
    ) -> impl Future<Output = DomainResult<Page<AliasPolicy, PolicyCursor>>> + Send;

    /// Marks model `model_id` governed: its alias moves read policies and
    /// freezes from now on.
    fn mark_governed(&mut self, model_id: i64) -> impl Future<Output = DomainResult<()>> + Send;

    /// The policy set on prefix `prefix` for `alias`, if there is one.
    fn prefix_policy(
        &mut self,
        prefix: &ModelPrefix,
        alias: &AliasName,
    ) -> impl Future<Output = DomainResult<Option<PrefixPolicyRow>>> + Send;

    /// The policies model `model` inherits: those set on any prefix of its
    /// name (for `alias` only, when given), longest prefix first.
    fn inherited_policies(
        &mut self,
        model: &ModelName,
        alias: Option<&AliasName>,
    ) -> impl Future<Output = DomainResult<Vec<PrefixPolicyRow>>> + Send;

    /// Stores a prefix policy (inserted, or replacing the one it revises).
    fn save_prefix_policy(
        &mut self,
        row: PrefixPolicyRow,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Removes the policy set on `prefix` for `alias`.
    fn delete_prefix_policy(
        &mut self,
        prefix: &ModelPrefix,
        alias: &AliasName,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// One page of the policies set on prefixes, by prefix and alias.
    fn list_prefix_policies(
        &mut self,
        query: &PolicyQuery,
    ) -> impl Future<Output = DomainResult<Page<AliasPolicy, PolicyCursor>>> + Send;

    /// Marks every model named `prefix`… governed (see `mark_governed`).
    fn mark_family_governed(
        &mut self,
        prefix: &ModelPrefix,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Orders this change with the changes to prefix policies: `exclusive`
    /// for one of them; shared for a model's creation, which then sees
    /// every prefix policy committed before it, while a prefix policy
    /// committed after it sees the new model (PostgreSQL; SQLite has one
    /// writer already).
    fn order_with_prefix_policies(
        &mut self,
        exclusive: bool,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Inserts a change request; its id.
    fn insert_change_request(
        &mut self,
        row: NewChangeRequestRow,
    ) -> impl Future<Output = DomainResult<i64>> + Send;

    /// The open requests (pending, not expired at `now`) to move `alias` of
    /// model `model_id`, newest first, at most `limit`: (id, version).
    fn open_requests_of_alias(
        &mut self,
        model_id: i64,
        alias: &AliasName,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = DomainResult<Vec<(i64, i64)>>> + Send;

    /// Change request `id` with its model's name.
    fn change_request(
        &mut self,
        id: i64,
    ) -> impl Future<Output = DomainResult<Option<(ChangeRequestRow, String)>>> + Send;

    /// Stores an approval or a decision of change request `id`.
    fn save_request_decision(
        &mut self,
        id: i64,
        decision: RequestDecisionRow,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The freeze of `alias` (non-empty) or of `version` (non-zero) of
    /// model `model_id`, if there is one (expired ones included).
    fn freeze(
        &mut self,
        model_id: i64,
        alias: &str,
        version: i64,
    ) -> impl Future<Output = DomainResult<Option<FreezeRow>>> + Send;

    /// Stores a freeze (replacing an expired one).
    fn save_freeze(&mut self, row: FreezeRow) -> impl Future<Output = DomainResult<()>> + Send;

    /// Removes a freeze.
    fn delete_freeze(
        &mut self,
        model_id: i64,
        alias: &str,
        version: i64,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// One page of change requests, newest first, as they stand at `now`.
    fn list_change_requests(
        &mut self,
        query: &RequestQuery,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<Page<ChangeRequest, RequestCursor>>> + Send;
}
