//! What differs between the two databases, and only that: each backend
//! (`postgres.rs`, `sqlite.rs`) implements [`Dialect`] for its connection,
//! and the SQL shared by both (`sql/*.rs`) calls these hooks by trait, so a
//! backend missing one does not compile.

use std::future::Future;

use diesel::expression::SqlLiteral;
use diesel::sql_types::Text;

use super::rows::{
    AliasMoveState, KeyOutcome, LockedModel, MetricRow, ModelRow, NewEventRow, NewModelRow,
    RequestKeyRow, TagRow, VersionRow,
};
use super::schema::models;

/// The UPDATE that advances a model's next version number as a version is
/// inserted.
pub type AdvanceModel = diesel::dsl::Update<
    diesel::dsl::Find<models::table, i64>,
    (
        diesel::dsl::Eq<models::next_version, i64>,
        diesel::dsl::Eq<models::updated_at, chrono::NaiveDateTime>,
    ),
>;
use crate::domain::DomainResult;

/// The per-database parts of the shared SQL.
pub trait Dialect {
    /// The version a metric row belongs to, as the join key of queries
    /// driven by the metric index.
    fn metric_version_id() -> SqlLiteral<Text>;

    /// The feed's horizon: every transaction below it that could write
    /// events has finished, so a statement run after this one sees all
    /// their events (see `sql/events.rs`).
    fn feed_horizon(&mut self) -> impl Future<Output = DomainResult<i64>> + Send;

    /// Queues this change behind the other changes to model `name`: the
    /// first thing a change does, before it writes anything (so that its
    /// transaction's place in the feed comes after theirs).
    fn queue_for_model(&mut self, name: &str) -> impl Future<Output = DomainResult<()>> + Send;

    /// [`Dialect::queue_for_model`], then the insert of request key `key`
    /// unless its (principal, request_id) exists: true when it was inserted.
    fn queue_and_claim(
        &mut self,
        name: &str,
        key: &RequestKeyRow,
    ) -> impl Future<Output = DomainResult<bool>> + Send;

    /// Locks model `name`'s row until commit with a no-op UPDATE (PostgreSQL's
    /// row lock; SQLite's write lock) and reads its latest event's time;
    /// `None` when there is no such model.
    fn lock_model_row(
        &mut self,
        name: &str,
    ) -> impl Future<Output = DomainResult<Option<LockedModel>>> + Send;

    /// Inserts model `new` unless a model of its name exists, and locks the
    /// row (as `ModelTable::lock_model`): the row, and true when it was
    /// inserted.
    fn upsert_and_lock_model(
        &mut self,
        new: NewModelRow<'_>,
    ) -> impl Future<Output = DomainResult<(LockedModel, bool)>> + Send;

    /// Runs `advance` (the model's next version number), then inserts
    /// version `row` with its metric and tag rows.
    fn insert_version_rows(
        &mut self,
        advance: AdvanceModel,
        row: &VersionRow,
        metrics: &[MetricRow<'_>],
        tags: &[TagRow<'_>],
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// What an alias move reads first (see `AliasTable::alias_move_state`).
    fn read_alias_move(
        &mut self,
        model: &ModelRow,
        alias: &str,
        candidate: Option<i64>,
    ) -> impl Future<Output = DomainResult<AliasMoveState>> + Send;

    /// Takes the lock that orders prefix-policy changes (`exclusive`) with
    /// model creations (shared), until the transaction ends.
    fn lock_prefix_policies(
        &mut self,
        exclusive: bool,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Records `outcome` under its request key, if any, then inserts
    /// `events`: their (id, transaction) in order.
    fn settle_and_insert_events(
        &mut self,
        outcome: Option<KeyOutcome>,
        events: Vec<NewEventRow>,
    ) -> impl Future<Output = DomainResult<Vec<(i64, i64)>>> + Send;

    /// Inserts a version's metric rows.
    fn insert_metric_rows(
        &mut self,
        rows: &[MetricRow<'_>],
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Inserts a version's tag rows.
    fn insert_tag_rows(
        &mut self,
        rows: &[TagRow<'_>],
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The smallest write that needs free space.
    fn write_header(&mut self) -> impl Future<Output = DomainResult<()>> + Send;
}
