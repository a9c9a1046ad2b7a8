//! How the console's pages look: the frame every page shares, the events
//! table, and how times, numbers, links and names are written.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use maud::{DOCTYPE, Markup, html};

use crate::domain::Event;

/// The page frame: header, navigation (with who is signed in, if anyone),
/// main content, assets.
pub(super) fn layout(
    title: &str,
    signed_in_as: Option<&str>,
    live: Option<&str>,
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Model Registry" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Model Registry" }
                    nav { a href="/" { "Models" } a href="/requests" { "Requests" } a href="/events" { "Events" } a href="/webhooks" { "Webhooks" } }
                    @if let Some(principal) = signed_in_as {
                        form.signout method="post" action="/logout" {
                            span.whoami { "Signed in as " strong.principal { (principal) } }
                            " "
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main data-live=[live] { (content) }
            }
        }
    }
}

pub(super) fn events_table(events: &[Event], with_model: bool) -> Markup {
    html! {
        @if events.is_empty() {
            p.empty { "No events." }
        } @else {
            table.events {
                thead { tr {
                    th.num { "Id" } th { "When" } th { "Type" }
                    @if with_model { th { "Model" } }
                    th.num { "Version" } th { "Change" } th { "Actor" } th { "Reason" }
                } }
                tbody {
                    @for e in events {
                        tr class=[e.emergency.then_some("emergency")] {
                            td.num { (e.id) }
                            td { (moment(e.occurred_at)) }
                            td {
                                (e.kind.as_str())
                                @if e.emergency { " " strong.badge.emergency title="An admin moved a protected alias past its policy" { "EMERGENCY" } }
                                @if let Some(id) = e.change_request_id { " " a.request href=(format!("/requests#request-{id}")) { "request #" (id) } }
                            }
                            @if with_model {
                                td {
                                    @if let Some(prefix) = &e.model_prefix {
                                        span.prefix title="A policy set on every model named so" { (prefix.as_str()) "…" }
                                    } @else if let Some(id) = e.webhook_id {
                                        span.webhook title="A webhook subscription" { "webhook " (id) }
                                    } @else {
                                        a href=(model_href(e.model_name.as_str())) { (e.model_name.as_str()) }
                                    }
                                }
                            }
                            td.num { @if let Some(v) = e.version { a href=(version_href(e.model_name.as_str(), v)) { (v) } } }
                            td { (change(e)) }
                            td title=[e.actor_source.as_deref()] { (e.actor) }
                            td { (e.reason) }
                        }
                    }
                }
            }
        }
    }
}

/// What an event changed, in a few words.
pub(super) fn change(e: &Event) -> String {
    let version = |v: Option<i64>| v.map_or("none".to_owned(), |v| v.to_string());
    match (&e.alias, e.previous_status, e.new_status) {
        (Some(alias), _, _) => format!(
            "{alias}: {} → {}",
            version(e.previous_version),
            version(e.new_version)
        ),
        (None, Some(before), Some(after)) => format!("{before} → {after}"),
        _ => String::new(),
    }
}

/// A time for people: ISO 8601 to the second, in UTC in the page (the
/// browser rewrites it to its own offset, e.g. `2026-01-18T19:44:59+01:00`;
/// six moves in one minute stay apart), the exact UTC time on hover.
pub(super) fn moment(at: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(SecondsFormat::Millis, true))
            title=(format!("{} UTC", at.format("%Y-%m-%dT%H:%M:%S%.3fZ"))) {
            (at.format("%Y-%m-%dT%H:%M:%SZ"))
        }
    }
}

/// An artifact URI for a table cell: its last path segment after an
/// ellipsis when long (the whole URI is the tooltip and on the version's
/// page).
pub(super) fn short_uri(uri: &str) -> String {
    const SHOWN: usize = 48;
    if uri.chars().count() <= SHOWN {
        return uri.to_owned();
    }
    let tail: String = uri
        .chars()
        .rev()
        .take(SHOWN - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// A metric for a table cell: four decimals, always, so a column's points
/// line up (the exact value is the cell's tooltip and on the version's page).
pub(super) fn metric_text(value: f64) -> String {
    if value.is_finite() && value.abs() < 1e6 && (value == 0.0 || value.abs() >= 1e-3) {
        format!("{value:.4}")
    } else {
        format!("{value:e}")
    }
}

pub(super) fn alias_list(model: &str, aliases: &BTreeMap<String, i64>) -> Markup {
    html! {
        @for (index, (alias, version)) in aliases.iter().enumerate() {
            @if index > 0 { ", " }
            (alias) " → " a href=(version_href(model, *version)) { (version) }
        }
    }
}

pub(super) fn pairs(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

pub(super) fn key_values<'a>(items: impl Iterator<Item = (&'a str, String)>) -> Markup {
    let items: Vec<(&str, String)> = items.collect();
    html! {
        @if items.is_empty() { p.empty { "None." } } @else {
            table.kv { tbody { @for (k, v) in &items { tr { th { (k) } td { (v) } } } } }
        }
    }
}

pub(super) fn model_href(name: &str) -> String {
    format!("/models/{}", encode(name))
}

pub(super) fn version_href(name: &str, version: i64) -> String {
    format!("/models/{}/versions/{version}", encode(name))
}

/// Percent-encodes a query or path component.
pub(super) fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
