//! PostgreSQL (diesel-async's native connection, no libpq): its dialect
//! hooks, and the shared SQL of `sql/` compiled for it.

use chrono::NaiveDateTime;
use diesel::expression::SqlLiteral;
use diesel::sql_types::{BigInt, Bool, Integer, Text, Timestamp};
use diesel::{
    ExpressionMethods as _, OptionalExtension as _, QueryDsl as _, QueryableByName,
    SelectableHelper as _,
};
use diesel_async::RunQueryDsl;

use super::dialect::{AdvanceModel, Dialect};
use super::governance_rows::{PrefixPolicyRow, longest_prefix};
use super::rows::{
    AliasMoveState, KeyOutcome, LockedModel, MetricRow, ModelRow, NewEventRow, NewModelRow,
    RequestKeyRow, TagRow, VersionRow,
};
use super::schema::{
    events as event_rows, model_versions, models as model_rows, prefix_alias_policies,
    request_keys, version_metrics, version_tags,
};
use crate::domain::{DomainError, DomainResult, ModelPrefix};

/// The connection every shared statement runs on here.
pub type Conn = diesel_async::AsyncPgConnection;

// The same files as `sqlite.rs` loads: every statement is type-checked
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

/// The channel every replica listens on for new events (a trigger on
/// `events` notifies it; see the migration `announce_events`).
pub const EVENTS_CHANNEL: &str = "model_registry_events";

/// Key (first half) of the advisory locks that queue the changes to one
/// model.
pub const MODEL_LOCK_CLASS: i32 = 0x6d72_6567; // "mreg"
/// The advisory lock class that orders prefix-policy changes with model
/// creations (`Dialect::lock_prefix_policies`); outside the feed horizon's
/// class, as it holds no change back.
pub const PREFIX_POLICY_LOCK_CLASS: i32 = 0x6d72_7070; // "mrpp"

/// The 64-bit id of the 32-bit transaction id `xid` (what `pg_locks`
/// shows), given the next 64-bit id `next_xid` as of the statement's
/// snapshot: the 64-bit id nearest to it with those low bits. The nearest,
/// not the latest at or below: `pg_locks` is read after the snapshot was
/// taken, so a change may show an id handed out since, a little above
/// `next_xid` (taken for one an epoch back, the horizon fell by 2^32 and
/// held the whole feed back).
fn widen_xid(xid: i64, next_xid: i64) -> i64 {
    // The distance in 32-bit transaction-id arithmetic, within ±2^31.
    let distance = (xid as u32).wrapping_sub(next_xid as u32) as i32;
    next_xid + i64::from(distance)
}

tokio::task_local! {
    /// The model whose queue this task's transaction took for a batch of
    /// changes (`model_queues.rs`): each change's own call for it then
    /// costs nothing.
    static HOLDS_QUEUE_OF: String;
}

/// Runs `changes` in a transaction that already holds model `name`'s queue.
pub(super) async fn holding_queue_of<F: std::future::Future>(name: &str, changes: F) -> F::Output {
    HOLDS_QUEUE_OF.scope(name.to_owned(), changes).await
}

/// Whether this task's transaction holds model `name`'s queue already.
fn holds_queue_of(name: &str) -> bool {
    HOLDS_QUEUE_OF
        .try_with(|held| held == name)
        .unwrap_or(false)
}

/// The time of the latest event of the `models` row at hand, as a
/// correlated subquery of a statement on `models`.
fn last_event_at() -> SqlLiteral<diesel::sql_types::Nullable<Timestamp>> {
    diesel::dsl::sql(
        "(SELECT max(events.occurred_at) FROM events WHERE events.model_id = models.id)",
    )
}

/// A change wrote before taking its model's queue: a bug, refused loudly
/// (its events could reach the feed out of the model's order).
fn wrote_before_queue(name: &str) -> DomainError {
    DomainError::Internal(format!(
        "a change to model {name:?} wrote before taking the model's queue"
    ))
}

impl Dialect for Conn {
    /// PostgreSQL plans the metric-driven queries well as written.
    fn metric_version_id() -> SqlLiteral<Text> {
        diesel::dsl::sql("version_metrics.version_id")
    }

    /// The oldest transaction id among the changes running now, or the
    /// next id to be given out when none runs. A change takes its model's
    /// queue (an advisory lock of [`MODEL_LOCK_CLASS`]) before it has an
    /// id and keeps it until it ends, and PostgreSQL makes a commit visible
    /// before it releases locks; so a change with a smaller id than the
    /// horizon either still holds its queue (and is counted here) or had
    /// ended before this statement read the locks, and then every later
    /// statement sees its events. Only this database's changes count:
    /// other transactions on the cluster never hold the feed back.
    async fn feed_horizon(&mut self) -> DomainResult<i64> {
        #[derive(QueryableByName)]
        struct Horizon {
            #[diesel(sql_type = BigInt)]
            next_xid: i64,
            #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
            oldest_change: Option<i64>,
        }
        let horizon: Horizon = diesel::sql_query(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid, \
                    (SELECT min(own.transactionid::text::bigint) \
                     FROM pg_locks AS queue \
                     JOIN pg_locks AS own ON own.virtualtransaction = queue.virtualtransaction \
                         AND own.locktype = 'transactionid' AND own.mode = 'ExclusiveLock' \
                         AND own.granted \
                     WHERE queue.locktype = 'advisory' AND queue.granted \
                         AND queue.database = (SELECT oid FROM pg_database \
                                               WHERE datname = current_database()) \
                         AND queue.classid = $1::bigint::oid AND queue.objsubid = 2) \
                    AS oldest_change",
        )
        .bind::<BigInt, _>(i64::from(MODEL_LOCK_CLASS))
        .get_result(self)
        .await?;
        Ok(match horizon.oldest_change {
            Some(xid) => widen_xid(xid, horizon.next_xid).min(horizon.next_xid),
            None => horizon.next_xid,
        })
    }

    /// The row lock `lock_model` takes would queue changes too, but
    /// PostgreSQL re-checks every waiter of a hot row after each commit; an
    /// advisory lock wakes one waiter at a time, in order. Two names hashing
    /// alike only share a queue.
    ///
    /// The feed orders events by their transaction's id, and a transaction
    /// gets its id at its first write: taken before any write, the queue
    /// makes a model's changes take ids in the order they commit. A change
    /// that wrote first would break that silently, so it fails here.
    async fn queue_for_model(&mut self, name: &str) -> DomainResult<()> {
        if holds_queue_of(name) {
            return Ok(());
        }
        #[derive(QueryableByName)]
        struct Queued {
            #[diesel(sql_type = Bool)]
            wrote_before: bool,
        }
        let queued: Queued = diesel::sql_query(
            "SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS wrote_before \
             FROM (SELECT pg_advisory_xact_lock($1, hashtext($2))) AS queued",
        )
        .bind::<Integer, _>(MODEL_LOCK_CLASS)
        .bind::<Text, _>(name)
        .get_result(self)
        .await?;
        if queued.wrote_before {
            return Err(wrote_before_queue(name));
        }
        Ok(())
    }

    /// One statement: the queue (and its check, as above) is taken before
    /// the insert, which needs its rows, so the transaction id comes after
    /// the queue, and the claim costs no round trip of its own inside it.
    async fn queue_and_claim(&mut self, name: &str, key: &RequestKeyRow) -> DomainResult<bool> {
        if holds_queue_of(name) {
            return keys::claim_request_key(self, key).await;
        }
        #[derive(QueryableByName)]
        struct Claimed {
            #[diesel(sql_type = Bool)]
            wrote_before: bool,
            #[diesel(sql_type = BigInt)]
            claimed: i64,
        }
        let claimed: Claimed = diesel::sql_query(
            "WITH queued AS MATERIALIZED ( \
                 SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS wrote_before \
                 FROM (SELECT pg_advisory_xact_lock($1, hashtext($2))) AS locked \
             ), claimed AS ( \
                 INSERT INTO request_keys \
                     (principal, request_id, method, fingerprint, outcome, created_at) \
                 SELECT $3, $4, $5, $6, $7, $8 FROM queued WHERE NOT queued.wrote_before \
                 ON CONFLICT (principal, request_id) DO NOTHING \
                 RETURNING 1 \
             ) \
             SELECT queued.wrote_before, (SELECT count(*) FROM claimed) AS claimed FROM queued",
        )
        .bind::<Integer, _>(MODEL_LOCK_CLASS)
        .bind::<Text, _>(name)
        .bind::<Text, _>(&key.principal)
        .bind::<Text, _>(&key.request_id)
        .bind::<Text, _>(&key.method)
        .bind::<Text, _>(&key.fingerprint)
        .bind::<Text, _>(&key.outcome)
        .bind::<Timestamp, _>(key.created_at)
        .get_result(self)
        .await?;
        if claimed.wrote_before {
            return Err(wrote_before_queue(name));
        }
        Ok(claimed.claimed == 1)
    }

    /// One statement: the event time as a correlated subquery.
    async fn lock_model_row(&mut self, name: &str) -> DomainResult<Option<LockedModel>> {
        Ok(
            diesel::update(model_rows::table.filter(model_rows::name.eq(name)))
                .set(model_rows::next_version.eq(model_rows::next_version))
                .returning((ModelRow::as_returning(), last_event_at()))
                .get_result::<(ModelRow, Option<NaiveDateTime>)>(self)
                .await
                .optional()?
                .map(|(row, last)| LockedModel::new(row, last)),
        )
    }

    /// One statement: an upsert whose conflict branch is the no-op update
    /// that locks the row; a row its own statement inserted has no `xmax`.
    async fn upsert_and_lock_model(
        &mut self,
        new: NewModelRow<'_>,
    ) -> DomainResult<(LockedModel, bool)> {
        let (row, created, last) = diesel::insert_into(model_rows::table)
            .values(new)
            .on_conflict(model_rows::name)
            .do_update()
            .set(model_rows::next_version.eq(model_rows::next_version))
            .returning((
                ModelRow::as_returning(),
                diesel::dsl::sql::<Bool>("models.xmax = 0"),
                last_event_at(),
            ))
            .get_result::<(ModelRow, bool, Option<NaiveDateTime>)>(self)
            .await?;
        let locked = LockedModel::new(row, last);
        Ok((locked, created))
    }

    /// Pipelined: the four statements are sent together and run in the
    /// order sent (diesel-async sends each as its future is first polled,
    /// and `try_join!` polls them in order; statement preparation queues on
    /// a fair lock, so a statement that needs preparing first still goes
    /// out before the next), one round trip instead of four.
    async fn insert_version_rows(
        &mut self,
        advance: AdvanceModel,
        row: &VersionRow,
        metrics: &[MetricRow<'_>],
        tags: &[TagRow<'_>],
    ) -> DomainResult<()> {
        let conn: &Conn = self;
        let version = diesel::insert_into(model_versions::table).values(row);
        tokio::try_join!(
            advance.execute(&mut &*conn),
            version.execute(&mut &*conn),
            async {
                match metrics {
                    [] => Ok(0),
                    rows => {
                        diesel::insert_into(version_metrics::table)
                            .values(rows)
                            .execute(&mut &*conn)
                            .await
                    }
                }
            },
            async {
                match tags {
                    [] => Ok(0),
                    rows => {
                        diesel::insert_into(version_tags::table)
                            .values(rows)
                            .execute(&mut &*conn)
                            .await
                    }
                }
            },
        )?;
        Ok(())
    }

    /// The reads pipelined: one round trip. A governed model's alias also
    /// reads its own policy, the policies it may inherit and its freeze.
    async fn read_alias_move(
        &mut self,
        model: &ModelRow,
        alias: &str,
        candidate: Option<i64>,
    ) -> DomainResult<AliasMoveState> {
        let (model_id, governed) = (model.id, model.governed);
        let conn: &Conn = self;
        let (candidate, current, latest_event, policy, inherited, freeze) = tokio::try_join!(
            async {
                match candidate {
                    Some(version) => version_row_query!(model_id, version)
                        .first(&mut &*conn)
                        .await
                        .optional(),
                    None => Ok(None),
                }
            },
            async {
                alias_row_query!(model_id, alias)
                    .first(&mut &*conn)
                    .await
                    .optional()
            },
            async {
                latest_alias_event_query!(model_id, alias)
                    .first(&mut &*conn)
                    .await
                    .optional()
            },
            async {
                if !governed {
                    return Ok(None);
                }
                alias_policy_query!(model_id, alias)
                    .first(&mut &*conn)
                    .await
                    .optional()
            },
            async {
                if !governed {
                    return Ok(Vec::new());
                }
                inherited_policies_query!(ModelPrefix::all_of(&model.model_name()))
                    .filter(prefix_alias_policies::alias.eq(alias))
                    .load::<PrefixPolicyRow>(&mut &*conn)
                    .await
            },
            async {
                if !governed {
                    return Ok(None);
                }
                alias_freeze_query!(model_id, alias)
                    .first(&mut &*conn)
                    .await
                    .optional()
            },
        )?;
        Ok(AliasMoveState {
            candidate,
            current,
            latest_event,
            inherited: policy
                .is_none()
                .then(|| longest_prefix(inherited))
                .flatten(),
            policy,
            freeze,
        })
    }

    /// A prefix policy's change takes the lock alone; model creations
    /// share it.
    async fn lock_prefix_policies(&mut self, exclusive: bool) -> DomainResult<()> {
        let statement = if exclusive {
            "SELECT pg_advisory_xact_lock($1, 0)::text AS locked"
        } else {
            "SELECT pg_advisory_xact_lock_shared($1, 0)::text AS locked"
        };
        diesel::sql_query(statement)
            .bind::<Integer, _>(PREFIX_POLICY_LOCK_CLASS)
            .execute(self)
            .await?;
        Ok(())
    }

    /// Pipelined as `insert_version_rows`: the outcome's update and one
    /// insert of every event, one round trip. A multi-row insert takes its
    /// ids from the sequence row by row, so sorting the ids gives the
    /// events' order.
    async fn settle_and_insert_events(
        &mut self,
        outcome: Option<KeyOutcome>,
        events: Vec<NewEventRow>,
    ) -> DomainResult<Vec<(i64, i64)>> {
        let conn: &Conn = self;
        let insert = diesel::insert_into(event_rows::table)
            .values(events)
            .returning((event_rows::id, event_rows::tx));
        let mut written = match &outcome {
            Some(key) => {
                let settle =
                    diesel::update(request_keys::table.find((&key.principal, &key.request_id)))
                        .set(request_keys::outcome.eq(&key.outcome));
                let (_, written) = tokio::try_join!(
                    settle.execute(&mut &*conn),
                    insert.get_results::<(i64, i64)>(&mut &*conn),
                )?;
                written
            }
            None => insert.get_results::<(i64, i64)>(&mut &*conn).await?,
        };
        written.sort_unstable();
        Ok(written)
    }

    /// One statement for all of a version's metrics.
    async fn insert_metric_rows(&mut self, rows: &[MetricRow<'_>]) -> DomainResult<()> {
        if !rows.is_empty() {
            diesel::insert_into(version_metrics::table)
                .values(rows)
                .execute(self)
                .await?;
        }
        Ok(())
    }

    /// One statement for all of a version's tags.
    async fn insert_tag_rows(&mut self, rows: &[TagRow<'_>]) -> DomainResult<()> {
        if !rows.is_empty() {
            diesel::insert_into(version_tags::table)
                .values(rows)
                .execute(self)
                .await?;
        }
        Ok(())
    }

    /// PostgreSQL never reports a full disk as such (see `Store::ping`).
    async fn write_header(&mut self) -> DomainResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::widen_xid;

    #[test]
    fn a_transaction_id_is_widened_to_the_nearest_with_its_low_bits() {
        let epoch = 3_i64 << 32;
        // Handed out before the snapshot.
        assert_eq!(widen_xid(16_100, epoch + 16_107), epoch + 16_100);
        // Handed out since the snapshot: just above it, not an epoch back.
        assert_eq!(widen_xid(16_108, epoch + 16_107), epoch + 16_108);
        // Across a wrap of the low 32 bits, both ways.
        assert_eq!(widen_xid(0xffff_fff0, epoch + 5), epoch - 16);
        assert_eq!(widen_xid(3, epoch - 2), epoch + 3);
    }
}
