//! The `events` table: the audit trail, append-only. Compiled once per
//! database (see `postgres.rs`).
//!
//! # The feed's order
//!
//! Changes commit concurrently, so an event id drawn early can become
//! visible after a larger one: a reader that resumed "after id N" would
//! skip it forever. Filtering by "transaction finished" while still
//! resuming by id is not enough either (an old transaction can draw a
//! large id while a younger one's smaller id is held back). So the feed is
//! ordered by the writing transaction's id (`events.tx`, PostgreSQL's xid,
//! assigned at a transaction's first write), then the event id, and a
//! reader takes only events whose `tx` is below the horizon
//! (`Dialect::feed_horizon`), read in a statement before the events:
//!
//! - every change with an id below the horizon had ended when the horizon
//!   was read (it held its model's queue from before it had an id to its
//!   end), so every event it committed is visible to the next statement:
//!   nothing below the horizon is missing from the read;
//! - every change still running then, and every later one, has an id at or
//!   above the horizon (ids are handed out in increasing order), so every
//!   event that becomes visible later sorts after all that was read.
//!
//! The feed is therefore gap-free and only grows at its end, which makes
//! "everything after position P" exact across replicas and restarts. A
//! client names P by an event id; the server looks that event's position
//! up. Within one model the feed's order is the id order: a change takes
//! its model's queue before it writes, so its transaction id, like its
//! event ids, comes after those of the changes before it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Bool};

use crate::domain::commands::EventQuery;
use crate::domain::event::FeedBatch;
use crate::domain::page::{EventCursor, Page};
use crate::domain::{AliasName, DomainResult, Event, EventKind, FeedPosition, ModelName};
use crate::store::dialect::Dialect;
use crate::store::rows::{EventRow, KeyOutcome, NewEventRow, from_db_time, split_page, to_db_time};

/// `(events.tx, events.id) <op> (tx, id)`: one range of the feed-order
/// index in both databases.
macro_rules! position_compared {
    ($op:literal, $position:expr) => {{
        let position: FeedPosition = $position;
        sql::<Bool>(concat!("(events.tx, events.id) ", $op, " ("))
            .bind::<BigInt, _>(position.tx)
            .sql(", ")
            .bind::<BigInt, _>(position.id)
            .sql(")")
    }};
}
use crate::store::schema::{events, models};
use crate::store::tx::EventTable;

impl EventTable for Conn {
    async fn append_events(
        &mut self,
        outcome: Option<KeyOutcome>,
        events: Vec<NewEventRow>,
    ) -> DomainResult<Vec<i64>> {
        let written = self.settle_and_insert_events(outcome, events).await?;
        Ok(written
            .into_iter()
            .map(|(id, tx)| {
                crate::store::token::note(tx);
                id
            })
            .collect())
    }

    async fn event(&mut self, id: i64) -> DomainResult<EventRow> {
        Ok(events::table
            .find(id)
            .select(EventRow::as_select())
            .first::<EventRow>(self)
            .await?)
    }

    async fn latest_alias_event(
        &mut self,
        model_id: i64,
        alias: &AliasName,
    ) -> DomainResult<Option<EventRow>> {
        Ok(latest_alias_event_query!(model_id, alias.as_str())
            .first(self)
            .await
            .optional()?)
    }

    /// The alias's last event at or before `at`: one index range.
    async fn alias_version_at(
        &mut self,
        model_id: i64,
        alias: &AliasName,
        at: DateTime<Utc>,
    ) -> DomainResult<Option<i64>> {
        Ok(events::table
            .filter(events::model_id.eq(model_id))
            .filter(events::alias.eq(alias.as_str()))
            .filter(events::event_type.eq_any(EventKind::ALIAS_MOVES.map(|k| k.as_str())))
            .filter(events::occurred_at.le(to_db_time(at)))
            .order((events::occurred_at.desc(), events::id.desc()))
            .select(events::new_version)
            .first::<Option<i64>>(self)
            .await
            .optional()?
            .flatten())
    }

    /// One statement: the chain's pointers followed by primary key (the
    /// binds written by diesel, so both databases' placeholders fit).
    async fn rollback_chain_reaches(&mut self, start: i64, version: i64) -> DomainResult<bool> {
        Ok(diesel::select(
            sql::<Bool>(
                "EXISTS (WITH RECURSIVE chain (id, rollback_event_id, new_version) AS ( \
                 SELECT id, rollback_event_id, new_version FROM events WHERE id = ",
            )
            .bind::<BigInt, _>(start)
            .sql(
                " UNION ALL SELECT e.id, e.rollback_event_id, e.new_version \
                 FROM events e JOIN chain c ON e.id = c.rollback_event_id) \
                 SELECT 1 FROM chain WHERE new_version = ",
            )
            .bind::<BigInt, _>(version)
            .sql(")"),
        )
        .get_result::<bool>(self)
        .await?)
    }

    async fn aliases_that_held(
        &mut self,
        model_id: i64,
        version: i64,
    ) -> DomainResult<Vec<String>> {
        Ok(events::table
            .filter(events::model_id.eq(model_id))
            .filter(events::new_version.eq(version))
            .filter(events::alias.is_not_null())
            .filter(events::event_type.eq_any(EventKind::ALIAS_MOVES.map(|k| k.as_str())))
            .select(events::alias.assume_not_null())
            .distinct()
            .order_by(events::alias.assume_not_null().asc())
            .load::<String>(self)
            .await?)
    }

    async fn last_model_event_id(&mut self, model_id: i64) -> DomainResult<i64> {
        Ok(events::table
            .filter(events::model_id.eq(model_id))
            .select(diesel::dsl::max(events::id))
            .first::<Option<i64>>(self)
            .await?
            .unwrap_or(0))
    }

    async fn list_events(
        &mut self,
        query: &EventQuery,
        model_id: Option<i64>,
    ) -> DomainResult<Page<Event, EventCursor>> {
        let mut rows = events::table
            .left_join(models::table)
            .select((EventRow::as_select(), models::name.nullable()))
            .limit(query.page_size as i64 + 1)
            .into_boxed();
        // One model's events are in feed order by id (one index range of
        // its own); the whole trail is in feed order by (tx, id), and read
        // oldest first only up to the horizon, so a caller paging forward
        // never steps over an event that commits late.
        let by_position = model_id.is_none();
        rows = match (by_position, query.newest_first) {
            (false, false) => rows.order_by(events::id.asc()),
            (false, true) => rows.order_by(events::id.desc()),
            (true, false) => rows
                .order_by((events::tx.asc(), events::id.asc()))
                .filter(events::tx.lt(self.feed_horizon().await?)),
            (true, true) => rows.order_by((events::tx.desc(), events::id.desc())),
        };
        if let Some(model_id) = model_id {
            rows = rows.filter(events::model_id.eq(model_id));
        }
        if let Some(version) = query.version {
            rows = rows.filter(events::version.eq(version));
        }
        if !query.kinds.is_empty() {
            let kinds: Vec<&'static str> = query.kinds.iter().map(|k| k.as_str()).collect();
            rows = rows.filter(events::event_type.eq_any(kinds));
        }
        if let Some(alias) = &query.alias {
            rows = rows.filter(events::alias.eq(alias.as_str().to_owned()));
        }
        if let Some(actor) = &query.actor {
            rows = rows.filter(events::actor.eq(actor.clone()));
        }
        if let Some(since) = query.since {
            rows = rows.filter(events::occurred_at.ge(to_db_time(since)));
        }
        if let Some(until) = query.until {
            rows = rows.filter(events::occurred_at.lt(to_db_time(until)));
        }
        if let Some(after) = &query.after {
            let position = FeedPosition {
                tx: after.after_tx,
                id: after.after_id,
            };
            rows = match (by_position, query.newest_first) {
                (false, false) => rows.filter(events::id.gt(after.after_id)),
                (false, true) => rows.filter(events::id.lt(after.after_id)),
                (true, false) => rows.filter(position_compared!(">", position)),
                (true, true) => rows.filter(position_compared!("<", position)),
            };
        }
        let loaded = rows.load::<(EventRow, Option<String>)>(self).await?;
        let (loaded, more) = split_page(loaded, query.page_size);
        let items = loaded
            .into_iter()
            .map(|(row, name)| {
                let cursor = EventCursor {
                    after_id: row.id,
                    after_tx: row.tx,
                };
                row.into_domain(name).map(|event| (event, cursor))
            })
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Page { items, more })
    }

    async fn events_after(&mut self, after: FeedPosition, limit: usize) -> DomainResult<FeedBatch> {
        // Events held back (committed, but above the horizon) come last in
        // this order; reading a few of them says whether any are.
        let horizon = self.feed_horizon().await?;
        let loaded = events::table
            .left_join(models::table)
            .filter(position_compared!(">", after))
            .order_by((events::tx.asc(), events::id.asc()))
            .limit(limit as i64 + 1)
            .select((EventRow::as_select(), models::name.nullable()))
            .load::<(EventRow, Option<String>)>(self)
            .await?;
        let mut batch = FeedBatch {
            horizon,
            ..FeedBatch::default()
        };
        for (row, name) in loaded {
            if row.tx >= horizon {
                // The first of them is the oldest: a transaction's events
                // and times follow its queue.
                batch.held_back_since = Some(from_db_time(row.occurred_at));
                break;
            }
            if batch.events.len() == limit {
                batch.more = true;
                break;
            }
            batch.events.push(row.into_domain(name)?);
        }
        Ok(batch)
    }

    async fn model_events_after(
        &mut self,
        model: &ModelName,
        after_id: i64,
        limit: usize,
    ) -> DomainResult<Vec<Event>> {
        events::table
            .inner_join(models::table)
            .filter(models::name.eq(model.as_str()))
            .filter(events::id.gt(after_id))
            .order_by(events::id.asc())
            .limit(limit as i64)
            .select((EventRow::as_select(), models::name))
            .load::<(EventRow, String)>(self)
            .await?
            .into_iter()
            .map(|(row, name)| row.into_domain(Some(name)))
            .collect()
    }

    async fn model_head(&mut self, model: &ModelName) -> DomainResult<i64> {
        Ok(events::table
            .inner_join(models::table)
            .filter(models::name.eq(model.as_str()))
            .select(diesel::dsl::max(events::id))
            .first::<Option<i64>>(self)
            .await?
            .unwrap_or(0))
    }

    async fn feed_head(&mut self) -> DomainResult<FeedPosition> {
        let horizon = self.feed_horizon().await?;
        Ok(events::table
            .filter(events::tx.lt(horizon))
            .order_by((events::tx.desc(), events::id.desc()))
            .select((events::tx, events::id))
            .first::<(i64, i64)>(self)
            .await
            .optional()?
            .map(|(tx, id)| FeedPosition { tx, id })
            .unwrap_or_default())
    }

    async fn find_event(&mut self, id: i64) -> DomainResult<Option<Event>> {
        events::table
            .left_join(models::table)
            .filter(events::id.eq(id))
            .select((EventRow::as_select(), models::name.nullable()))
            .first::<(EventRow, Option<String>)>(self)
            .await
            .optional()?
            .map(|(row, name)| row.into_domain(name))
            .transpose()
    }
}
