//! The `events` table: the audit trail, append-only. Compiled once per
//! database (see `postgres.rs`).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::commands::EventQuery;
use crate::domain::page::{EventCursor, Page};
use crate::domain::{AliasName, DomainResult, Event};
use crate::store::dialect::Dialect;
use crate::store::rows::{EventRow, NewEventRow, from_db_time, split_page, to_db_time};
use crate::store::schema::{events, models};
use crate::store::tx::EventTable;

impl EventTable for Conn {
    async fn append_events(&mut self, events: Vec<NewEventRow>) -> DomainResult<Vec<i64>> {
        self.before_appending_events().await?;
        let mut ids = Vec::with_capacity(events.len());
        // Row by row: diesel-async cannot batch-insert with RETURNING on
        // SQLite, and a change writes one or two events.
        for event in events {
            ids.push(
                diesel::insert_into(events::table)
                    .values(event)
                    .returning(events::id)
                    .get_result(self)
                    .await?,
            );
        }
        Ok(ids)
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
        Ok(events::table
            .filter(events::model_id.eq(model_id))
            .filter(events::alias.eq(alias.as_str()))
            .order_by(events::id.desc())
            .select(EventRow::as_select())
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
            .filter(events::occurred_at.le(to_db_time(at)))
            .order((events::occurred_at.desc(), events::id.desc()))
            .select(events::new_version)
            .first::<Option<i64>>(self)
            .await
            .optional()?
            .flatten())
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
            .select(events::alias.assume_not_null())
            .distinct()
            .order_by(events::alias.assume_not_null().asc())
            .load::<String>(self)
            .await?)
    }

    async fn last_event_time(&mut self, model_id: i64) -> DomainResult<Option<DateTime<Utc>>> {
        Ok(events::table
            .filter(events::model_id.eq(model_id))
            .select(diesel::dsl::max(events::occurred_at))
            .first::<Option<NaiveDateTime>>(self)
            .await?
            .map(from_db_time))
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
            .inner_join(models::table)
            .select((EventRow::as_select(), models::name))
            .limit(query.page_size as i64 + 1)
            .into_boxed();
        rows = if query.newest_first {
            rows.order_by(events::id.desc())
        } else {
            rows.order_by(events::id.asc())
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
            rows = if query.newest_first {
                rows.filter(events::id.lt(after.after_id))
            } else {
                rows.filter(events::id.gt(after.after_id))
            };
        }
        let loaded = rows.load::<(EventRow, String)>(self).await?;
        let (loaded, more) = split_page(loaded, query.page_size);
        let items = loaded
            .into_iter()
            .map(|(row, name)| {
                let cursor = EventCursor { after_id: row.id };
                row.into_domain(name).map(|event| (event, cursor))
            })
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Page { items, more })
    }

    async fn events_after(&mut self, after_id: i64, limit: usize) -> DomainResult<Vec<Event>> {
        events::table
            .inner_join(models::table)
            .filter(events::id.gt(after_id))
            .order_by(events::id.asc())
            .limit(limit as i64)
            .select((EventRow::as_select(), models::name))
            .load::<(EventRow, String)>(self)
            .await?
            .into_iter()
            .map(|(row, name)| row.into_domain(name))
            .collect()
    }

    async fn last_event_id(&mut self) -> DomainResult<i64> {
        Ok(events::table
            .select(diesel::dsl::max(events::id))
            .first::<Option<i64>>(self)
            .await?
            .unwrap_or(0))
    }
}
