//! `/webhooks` (admins): each subscription with its state, what it still
//! owes its receiver (the lag), the event it waits on and why, and its
//! latest delivery attempts.

use axum::extract::State;
use chrono::Utc;
use maud::{Markup, html};

use super::actor::Viewer;
use super::render::{layout, moment};
use super::session::Reader;
use super::{Console, WebError};
use crate::domain::DomainError;
use crate::domain::webhook::{Delivery, Webhook, WebhookState};
use crate::registry::Backlog;

/// Attempts shown per subscription.
const ATTEMPTS_SHOWN: i64 = 10;

/// `/webhooks`.
pub async fn webhooks(reader: Reader, State(console): State<Console>) -> Result<Markup, WebError> {
    let viewer = Viewer::of(&console, &reader).await?;
    if !viewer.may("ListWebhooks") {
        return Err(DomainError::PermissionDenied(format!(
            "webhook subscriptions are shown to admins only; {:?} is not one",
            viewer.principal.name
        ))
        .into());
    }
    let mut shown = Vec::new();
    for webhook in console.registry.list_webhooks().await? {
        let backlog = console.registry.webhook_backlog(&webhook).await?;
        let attempts = console
            .registry
            .webhook_deliveries(webhook.id, ATTEMPTS_SHOWN)
            .await?;
        shown.push((webhook, backlog, attempts));
    }
    Ok(layout(
        "Webhooks",
        reader.signed_in_as(),
        None,
        html! {
            h1 { "Webhooks" }
            @if shown.is_empty() {
                p.empty { "No subscriptions. Make one with " code { "modelreg webhook create URL" } "." }
            }
            @for (webhook, backlog, attempts) in &shown {
                (subscription(webhook, *backlog, attempts))
            }
        },
    ))
}

fn subscription(webhook: &Webhook, backlog: Backlog, attempts: &[Delivery]) -> Markup {
    let (state, class) = match webhook.state {
        WebhookState::Active => ("ACTIVE", "state applied"),
        WebhookState::Failing => ("FAILING", "state failed"),
    };
    let filter = &webhook.filter;
    html! {
        section.webhook id=(format!("webhook-{}", webhook.id)) {
            h2 { "Webhook " (webhook.id) " " span class=(class) { (state) } }
            dl {
                dt { "URL" } dd { code { (webhook.url) } }
                @if !webhook.description.is_empty() { dt { "For" } dd { (webhook.description) } }
                dt { "Events" }
                dd {
                    @if filter.model_prefix.is_empty() && filter.aliases.is_empty() && filter.kinds.is_empty() {
                        "every event"
                    } @else {
                        @if !filter.model_prefix.is_empty() { "models " code { (filter.model_prefix) "…" } " " }
                        @if !filter.aliases.is_empty() { "aliases " code { (filter.aliases.join(", ")) } " " }
                        @if !filter.kinds.is_empty() { "types " code { (filter.kinds.join(", ")) } }
                    }
                }
                dt { "Order" }
                dd {
                    @if webhook.ordered { "in order: a failing event holds up the later ones" }
                    @else { "unordered: a failing event is set aside and retried on its own" }
                }
                dt { "Delivered through" } dd.lag { "event " (webhook.cursor.id) }
                @if backlog.set_aside > 0 {
                    dt { "Set aside" } dd.failure { (backlog.set_aside) " failed event" @if backlog.set_aside != 1 { "s" } ", retried on their own" }
                }
                dt { "Lag" }
                dd.lag {
                    @match backlog.oldest {
                        None => "caught up",
                        Some(oldest) => {
                            (backlog.events) @if backlog.more { "+" }
                            @if backlog.events == 1 && !backlog.more { " event, " } @else { " events, " }
                            "the oldest "
                            ((Utc::now() - oldest).num_seconds().max(0)) " s old"
                        }
                    }
                }
                @if let Some(at) = webhook.last_delivered_at { dt { "Last delivered" } dd { (moment(at)) } }
                @if let Some(event) = webhook.retrying_event_id {
                    dt { "Waiting on" } dd.failure { "event " (event) ": " (webhook.failure) }
                }
                dt { "Created" } dd { (moment(webhook.created_at)) " by " (webhook.created_by) }
            }
            @if attempts.is_empty() {
                p.empty { "No delivery attempts yet." }
            } @else {
                table.deliveries {
                    thead { tr { th { "Attempted" } th.num { "Event" } th.num { "Attempt" } th.num { "Status" } th.num { "Latency" } th { "Outcome" } } }
                    tbody {
                        @for attempt in attempts {
                            tr {
                                td { (moment(attempt.attempted_at)) }
                                td.num { (attempt.event_id) }
                                td.num { (attempt.attempt) }
                                td.num { @match attempt.http_status { Some(status) => (status), None => "–" } }
                                td.num { (attempt.latency_ms) " ms" }
                                td { @if attempt.delivered { "delivered" } @else { (attempt.error) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
