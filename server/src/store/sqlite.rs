//! SQLite (bundled, WAL mode): its dialect hooks, and the shared SQL of
//! `sql/` compiled for it.

use chrono::NaiveDateTime;
use diesel::expression::SqlLiteral;
use diesel::sql_types::Text;
use diesel::{
    ExpressionMethods as _, OptionalExtension as _, QueryDsl as _, SelectableHelper as _,
};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

use super::dialect::{AdvanceModel, Dialect};
use super::governance_rows::{PrefixPolicyRow, longest_prefix};
use super::rows::{
    AliasMoveState, KeyOutcome, LockedModel, MetricRow, ModelRow, NewEventRow, NewModelRow,
    RequestKeyRow, TagRow, VersionRow,
};
use super::schema::{
    events as event_rows, model_versions, models as model_rows, prefix_alias_policies,
    version_metrics, version_tags,
};
use super::tx::{KeyTable as _, ModelTable as _};
use crate::domain::{DomainResult, ModelName, ModelPrefix};

/// The connection every shared statement runs on here.
pub type Conn = super::pools::SqliteConn;

// The same files as `postgres.rs` loads: every statement is type-checked
// against both databases.
#[macro_use]
#[path = "sql/aliases.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod aliases;
#[path = "sql/events.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod events;
#[path = "sql/governance.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod governance;
#[path = "sql/keys.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod keys;
#[path = "sql/listing.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod listing;
#[path = "sql/models.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod models;
#[path = "sql/sessions.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod sessions;
#[path = "sql/versions.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod versions;
#[path = "sql/webhooks.rs"]
#[expect(
    clippy::duplicate_mod,
    reason = "compiled once per database on purpose"
)]
mod webhooks;

impl Dialect for Conn {
    /// The unary `+` keeps SQLite's planner from driving the join from
    /// model_versions instead (with statistics it chose a scan of every
    /// version and a sort: 1.4 s at 200k versions against 0.4 ms;
    /// BENCHMARKS.md).
    fn metric_version_id() -> SqlLiteral<Text> {
        diesel::dsl::sql("+version_metrics.version_id")
    }

    /// SQLite has one writer, which commits events in id order: every
    /// event has tx 0, and none is ever held back.
    async fn feed_horizon(&mut self) -> DomainResult<i64> {
        Ok(i64::MAX)
    }

    /// SQLite has one writer: every change is queued already.
    async fn queue_for_model(&mut self, _name: &str) -> DomainResult<()> {
        Ok(())
    }

    /// SQLite has one writer: changes are ordered already.
    async fn lock_prefix_policies(&mut self, _exclusive: bool) -> DomainResult<()> {
        Ok(())
    }

    /// SQLite has one writer: only the insert.
    async fn queue_and_claim(&mut self, _name: &str, key: &RequestKeyRow) -> DomainResult<bool> {
        keys::claim_request_key(self, key).await
    }

    /// Two statements (SQLite's RETURNING cannot read other tables); an
    /// embedded database pays no round trip for the second.
    async fn lock_model_row(&mut self, name: &str) -> DomainResult<Option<LockedModel>> {
        let Some(row) = diesel::update(model_rows::table.filter(model_rows::name.eq(name)))
            .set(model_rows::next_version.eq(model_rows::next_version))
            .returning(ModelRow::as_returning())
            .get_result::<ModelRow>(self)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let last = event_rows::table
            .filter(event_rows::model_id.eq(row.id))
            .select(diesel::dsl::max(event_rows::occurred_at))
            .first::<Option<NaiveDateTime>>(self)
            .await?;
        Ok(Some(LockedModel::new(row, last)))
    }

    /// Two statements (SQLite cannot tell an upsert's insert from its
    /// update); an embedded database pays no round trip for the second.
    async fn upsert_and_lock_model(
        &mut self,
        new: NewModelRow<'_>,
    ) -> DomainResult<(LockedModel, bool)> {
        let name = ModelName::from_stored(new.name.to_owned());
        let created = diesel::insert_into(model_rows::table)
            .values(new)
            .on_conflict(model_rows::name)
            .do_nothing()
            .execute(self)
            .await?
            == 1;
        Ok((self.lock_model(&name).await?, created))
    }

    // diesel-async cannot batch-insert on SQLite; an embedded database
    // pays no round trip per row anyway.

    /// One statement after another.
    async fn insert_version_rows(
        &mut self,
        advance: AdvanceModel,
        row: &VersionRow,
        metrics: &[MetricRow<'_>],
        tags: &[TagRow<'_>],
    ) -> DomainResult<()> {
        advance.execute(self).await?;
        diesel::insert_into(model_versions::table)
            .values(row)
            .execute(self)
            .await?;
        self.insert_metric_rows(metrics).await?;
        self.insert_tag_rows(tags).await
    }

    /// One read after another.
    async fn read_alias_move(
        &mut self,
        model: &ModelRow,
        alias: &str,
        candidate: Option<i64>,
    ) -> DomainResult<AliasMoveState> {
        let (model_id, governed) = (model.id, model.governed);
        let policy = if governed {
            alias_policy_query!(model_id, alias)
                .first(self)
                .await
                .optional()?
        } else {
            None
        };
        let inherited = if governed && policy.is_none() {
            longest_prefix(
                inherited_policies_query!(ModelPrefix::all_of(&model.model_name()))
                    .filter(prefix_alias_policies::alias.eq(alias))
                    .load::<PrefixPolicyRow>(self)
                    .await?,
            )
        } else {
            None
        };
        let candidate = match candidate {
            Some(version) => version_row_query!(model_id, version)
                .first(self)
                .await
                .optional()?,
            None => None,
        };
        Ok(AliasMoveState {
            candidate,
            current: alias_row_query!(model_id, alias)
                .first(self)
                .await
                .optional()?,
            latest_event: latest_alias_event_query!(model_id, alias)
                .first(self)
                .await
                .optional()?,
            policy,
            inherited,
            freeze: if governed {
                alias_freeze_query!(model_id, alias)
                    .first(self)
                    .await
                    .optional()?
            } else {
                None
            },
        })
    }

    /// One statement after another, the events row by row (diesel-async
    /// cannot batch-insert with RETURNING on SQLite).
    async fn settle_and_insert_events(
        &mut self,
        outcome: Option<KeyOutcome>,
        events: Vec<NewEventRow>,
    ) -> DomainResult<Vec<(i64, i64)>> {
        if let Some(key) = outcome {
            self.settle_request_key(&key.principal, &key.request_id, key.outcome)
                .await?;
        }
        let mut written = Vec::with_capacity(events.len());
        for event in events {
            written.push(
                diesel::insert_into(event_rows::table)
                    .values(event)
                    .returning((event_rows::id, event_rows::tx))
                    .get_result::<(i64, i64)>(self)
                    .await?,
            );
        }
        Ok(written)
    }

    /// Row by row.
    async fn insert_metric_rows(&mut self, rows: &[MetricRow<'_>]) -> DomainResult<()> {
        for row in rows {
            diesel::insert_into(version_metrics::table)
                .values(row)
                .execute(self)
                .await?;
        }
        Ok(())
    }

    /// Row by row.
    async fn insert_tag_rows(&mut self, rows: &[TagRow<'_>]) -> DomainResult<()> {
        for row in rows {
            diesel::insert_into(version_tags::table)
                .values(row)
                .execute(self)
                .await?;
        }
        Ok(())
    }

    /// Rewrites the database header (its user_version, unchanged).
    async fn write_header(&mut self) -> DomainResult<()> {
        #[derive(diesel::QueryableByName)]
        struct Header {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            user_version: i32,
        }
        let header = diesel::sql_query("PRAGMA user_version")
            .get_result::<Header>(self)
            .await?;
        self.batch_execute(&format!("PRAGMA user_version = {}", header.user_version))
            .await?;
        Ok(())
    }
}
