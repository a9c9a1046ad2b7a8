//! The `webhooks` and `webhook_deliveries` tables. Compiled once per
//! database (see `postgres.rs`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::webhook::WebhookState;
use crate::domain::webhook::{WebhookFilter, WebhookSecret};
use crate::domain::{DomainResult, FeedPosition};
use crate::store::rows::{to_db_time, to_json};
use crate::store::schema::{webhook_deliveries, webhook_retries, webhooks};
use crate::store::webhook_rows::{
    DeliveryRow, NewWebhookRow, Progress, RetryRow, SetAside, WebhookRow,
};
use crate::store::webhook_table::WebhookTable;

const ACTIVE: &str = "ACTIVE";

impl WebhookTable for Conn {
    async fn insert_webhook(&mut self, row: NewWebhookRow) -> DomainResult<i64> {
        Ok(diesel::insert_into(webhooks::table)
            .values(&row)
            .returning(webhooks::id)
            .get_result(self)
            .await?)
    }

    async fn webhook(&mut self, id: i64) -> DomainResult<Option<WebhookRow>> {
        Ok(webhooks::table
            .find(id)
            .select(WebhookRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn webhooks(&mut self) -> DomainResult<Vec<WebhookRow>> {
        Ok(webhooks::table
            .order(webhooks::id)
            .select(WebhookRow::as_select())
            .load(self)
            .await?)
    }

    async fn delete_webhook(&mut self, id: i64) -> DomainResult<bool> {
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
            .execute(self)
            .await?;
        diesel::delete(webhook_retries::table.filter(webhook_retries::webhook_id.eq(id)))
            .execute(self)
            .await?;
        Ok(diesel::delete(webhooks::table.find(id))
            .execute(self)
            .await?
            > 0)
    }

    async fn restart_webhook(&mut self, id: i64, cursor: FeedPosition) -> DomainResult<()> {
        diesel::update(webhooks::table.find(id))
            .set((
                webhooks::generation.eq(webhooks::generation + 1),
                webhooks::state.eq(ACTIVE),
                webhooks::failure.eq(""),
                webhooks::retrying_event_id.eq(None::<i64>),
                webhooks::retrying_since.eq(None::<chrono::NaiveDateTime>),
                webhooks::attempts.eq(0),
                webhooks::cursor_tx.eq(cursor.tx),
                webhooks::cursor_id.eq(cursor.id),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn update_webhook(
        &mut self,
        id: i64,
        url: &str,
        description: &str,
        ordered: bool,
        filter: &WebhookFilter,
    ) -> DomainResult<()> {
        diesel::update(webhooks::table.find(id))
            .set((
                webhooks::generation.eq(webhooks::generation + 1),
                webhooks::url.eq(url),
                webhooks::description.eq(description),
                webhooks::ordered.eq(ordered),
                webhooks::model_prefix.eq(&filter.model_prefix),
                webhooks::aliases.eq(to_json(&filter.aliases)?),
                webhooks::event_types.eq(to_json(&filter.kinds)?),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn rotate_webhook_secret(
        &mut self,
        id: i64,
        secret: &WebhookSecret,
        previous_until: Option<DateTime<Utc>>,
    ) -> DomainResult<()> {
        // The current secret moves to `previous_secret` in the same
        // statement (SET reads the row as it was).
        if previous_until.is_some() {
            diesel::update(webhooks::table.find(id))
                .set((
                    webhooks::generation.eq(webhooks::generation + 1),
                    webhooks::previous_secret.eq(webhooks::secret.nullable()),
                    webhooks::previous_secret_until.eq(previous_until.map(to_db_time)),
                    webhooks::secret.eq(secret.reveal()),
                ))
                .execute(self)
                .await?;
        } else {
            diesel::update(webhooks::table.find(id))
                .set((
                    webhooks::generation.eq(webhooks::generation + 1),
                    webhooks::previous_secret.eq(None::<String>),
                    webhooks::previous_secret_until.eq(None::<chrono::NaiveDateTime>),
                    webhooks::secret.eq(secret.reveal()),
                ))
                .execute(self)
                .await?;
        }
        Ok(())
    }

    async fn lease_webhooks(
        &mut self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> DomainResult<Vec<WebhookRow>> {
        // One UPDATE: on PostgreSQL a second replica's statement waits for
        // the first's row locks, then finds the lease taken and skips it.
        Ok(diesel::update(
            webhooks::table.filter(webhooks::state.eq(ACTIVE)).filter(
                webhooks::lease_holder
                    .is_null()
                    .or(webhooks::lease_holder.eq(holder))
                    .or(webhooks::lease_until.lt(to_db_time(now))),
            ),
        )
        .set((
            webhooks::lease_holder.eq(holder),
            webhooks::lease_until.eq(to_db_time(until)),
        ))
        .returning(WebhookRow::as_returning())
        .get_results(self)
        .await?)
    }

    async fn release_webhook_leases(&mut self, holder: &str) -> DomainResult<()> {
        diesel::update(webhooks::table.filter(webhooks::lease_holder.eq(holder)))
            .set((
                webhooks::lease_holder.eq(None::<String>),
                webhooks::lease_until.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn record_webhook_progress(
        &mut self,
        id: i64,
        holder: &str,
        generation: i64,
        progress: Progress,
    ) -> DomainResult<bool> {
        let leased = webhooks::table
            .find(id)
            .filter(webhooks::lease_holder.eq(holder))
            .filter(webhooks::generation.eq(generation))
            .filter(webhooks::state.eq(ACTIVE));
        let changed = match progress {
            Progress::Past {
                cursor,
                delivered_at,
            } => {
                diesel::update(leased)
                    .set((
                        webhooks::cursor_tx.eq(cursor.tx),
                        webhooks::cursor_id.eq(cursor.id),
                        webhooks::failure.eq(""),
                        webhooks::retrying_event_id.eq(None::<i64>),
                        webhooks::retrying_since.eq(None::<chrono::NaiveDateTime>),
                        webhooks::attempts.eq(0),
                        webhooks::last_delivered_at.eq(delivered_at.map(to_db_time)),
                    ))
                    .execute(self)
                    .await?
            }
            Progress::Failed {
                event_id,
                since,
                attempts,
                failure,
                failing,
            } => {
                let state = if failing {
                    WebhookState::Failing
                } else {
                    WebhookState::Active
                };
                diesel::update(leased)
                    .set((
                        webhooks::state.eq(state.as_str()),
                        webhooks::failure.eq(failure),
                        webhooks::retrying_event_id.eq(event_id),
                        webhooks::retrying_since.eq(to_db_time(since)),
                        webhooks::attempts.eq(attempts),
                    ))
                    .execute(self)
                    .await?
            }
        };
        Ok(changed > 0)
    }

    async fn log_webhook_deliveries(
        &mut self,
        rows: Vec<DeliveryRow>,
        keep: i64,
    ) -> DomainResult<()> {
        let Some(webhook_id) = <[DeliveryRow]>::first(&rows).map(|row| row.webhook_id) else {
            return Ok(());
        };
        let mut trim = false;
        for row in &rows {
            let id: i64 = diesel::insert_into(webhook_deliveries::table)
                .values(row)
                .returning(webhook_deliveries::id)
                .get_result(self)
                .await?;
            // Trimmed now and then, not on every attempt.
            trim |= id % 64 == 0;
        }
        if trim {
            let oldest_kept: Option<i64> = webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(webhook_id))
                .order(webhook_deliveries::id.desc())
                .offset(keep)
                .select(webhook_deliveries::id)
                .first(self)
                .await
                .optional()?;
            if let Some(oldest) = oldest_kept {
                diesel::delete(
                    webhook_deliveries::table
                        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
                        .filter(webhook_deliveries::id.le(oldest)),
                )
                .execute(self)
                .await?;
            }
        }
        Ok(())
    }

    async fn change_set_aside(&mut self, webhook_id: i64, change: SetAside) -> DomainResult<()> {
        match change {
            SetAside::Unchanged => {}
            SetAside::Keep(row) => {
                diesel::insert_into(webhook_retries::table)
                    .values(&row)
                    .on_conflict((webhook_retries::webhook_id, webhook_retries::event_id))
                    .do_update()
                    .set(&row)
                    .execute(self)
                    .await?;
            }
            SetAside::Drop(event_id) => {
                diesel::delete(webhook_retries::table.find((webhook_id, event_id)))
                    .execute(self)
                    .await?;
            }
        }
        Ok(())
    }

    async fn set_aside_due(&mut self, webhook_id: i64, now: DateTime<Utc>) -> DomainResult<()> {
        diesel::update(webhook_retries::table.filter(webhook_retries::webhook_id.eq(webhook_id)))
            .set(webhook_retries::next_at.eq(to_db_time(now)))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn set_aside_events(&mut self, webhook_id: i64) -> DomainResult<Vec<RetryRow>> {
        Ok(webhook_retries::table
            .filter(webhook_retries::webhook_id.eq(webhook_id))
            .order(webhook_retries::event_id)
            .select(RetryRow::as_select())
            .load(self)
            .await?)
    }

    async fn webhook_deliveries(&mut self, id: i64, limit: i64) -> DomainResult<Vec<DeliveryRow>> {
        Ok(webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(id))
            .order(webhook_deliveries::id.desc())
            .limit(limit)
            .select(DeliveryRow::as_select())
            .load(self)
            .await?)
    }
}
