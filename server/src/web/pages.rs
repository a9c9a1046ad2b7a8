//! The console's pages: each handler reads what its page shows through the
//! store's queries and renders it with `maud`, which escapes every value
//! (a reason of `<script>…` is text).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::actor::Viewer;
use super::charts::{self, AliasMove, chosen_metric, metric_columns, metric_points};
use super::query::{EventsParams, ModelParams, ModelsParams, PAGE_ROWS};
use super::render::{
    alias_list, encode, events_table, key_values, layout, metric_text, model_href, moment, pairs,
    short_uri, version_href,
};
use super::{Console, Reader, WebError, forms};
use crate::domain::commands::{EventQuery, ModelQuery, VersionQuery, VersionView};
use crate::domain::page::{EventCursor, ModelCursor, VersionCursor, VersionOrder};
use crate::domain::{
    AliasName, Event, EventKind, Model, ModelName, ModelVersion, VersionRef, VersionStatus,
};

/// Versions drawn on the metric chart: the newest this many.
const CHARTED_VERSIONS: usize = 500;

/// Alias moves drawn on the timeline: the newest this many.
const CHARTED_MOVES: usize = 2_000;

type PageResult = Result<Markup, WebError>;

/// `/`: every model, by name.
pub async fn models(
    reader: Reader,
    State(console): State<Console>,
    Query(params): Query<ModelsParams>,
) -> PageResult {
    let key = console.page_key().await?;
    let mut query = ModelQuery {
        name_prefix: params.prefix.trim().to_owned(),
        page_size: PAGE_ROWS,
        after: None,
    };
    query.after = key.decode::<ModelCursor>(&query, &params.after)?;
    let page = console.registry.list_models(query.clone()).await?;
    let (models, next) = page.split(&key, &query);
    Ok(layout(
        "Models",
        reader.signed_in_as(),
        None,
        html! {
            h1 { "Models" }
            form.filters method="get" action="/" {
                label { "Name starts with " input type="search" name="prefix" value=(params.prefix); }
                button type="submit" { "Filter" }
            }
            @if models.is_empty() {
                p.empty { @if params.prefix.is_empty() { "No model is registered yet." } @else { "No model matches." } }
            } @else {
                table.sortable {
                    thead { tr { th { "Name" } th { "Description" } th { "Aliases" } th.num { "Versions" } th { "Last change" } } }
                    tbody {
                        @for model in &models {
                            tr {
                                td { a href=(model_href(model.name.as_str())) { (model.name.as_str()) } }
                                td { (model.description) }
                                td { (alias_list(model.name.as_str(), &model.aliases)) }
                                td.num { (model.version_count) }
                                td { (moment(model.updated_at)) }
                            }
                        }
                    }
                }
                @if let Some(next) = next {
                    nav.pages { a rel="next" href=(format!("/?prefix={}&after={}", encode(&params.prefix), encode(&next))) { "Next page →" } }
                }
            }
        },
    ))
}

/// `/models/{name}`: aliases, charts, versions and audit trail.
pub async fn model(
    reader: Reader,
    State(console): State<Console>,
    Path(name): Path<String>,
    Query(params): Query<ModelParams>,
) -> PageResult {
    let name = ModelName::parse("name", &name)?;
    let model = console.registry.get_model(name.clone()).await?;
    let status = params.status()?;
    let viewer = Viewer::of(&console, &reader).await?;
    let governance = forms::governance_of(&console, &name).await?;
    let key = console.page_key().await?;

    let moves = alias_moves(&console, &name).await?;
    let aliases = alias_rows(&console, &model, &moves).await?;
    let charted = charted_versions(&console, &name).await?;
    let metric = chosen_metric(&charted, &params.metric);
    let points = metric
        .as_deref()
        .map(|metric| metric_points(&charted, metric, &moves))
        .unwrap_or_default();

    // The versions table.
    let sort = params.sort.trim().to_owned();
    let mut versions_query = model_versions_query(name.clone(), PAGE_ROWS);
    versions_query.statuses = status.into_iter().collect();
    if !sort.is_empty() && sort != "version" {
        versions_query.order = VersionOrder::Metric(sort.clone());
        versions_query.descending = true;
    }
    versions_query.after = key.decode::<VersionCursor>(&versions_query, &params.after)?;
    let page = console
        .registry
        .list_versions(versions_query.clone())
        .await?;
    let (versions, next_versions) = page.split(&key, &versions_query);
    let metric_columns = metric_columns(&versions, &sort);

    // The audit trail.
    let mut events_query = model_events_query(name.clone());
    events_query.after = key.decode::<EventCursor>(&events_query, &params.events_after)?;
    let trail = console.registry.list_events(events_query.clone()).await?;
    let (events, next_events) = trail.split(&key, &events_query);

    let here = model_href(name.as_str());
    let link = |changes: &[(&str, &str)]| {
        let mut pairs: BTreeMap<&str, String> = BTreeMap::new();
        pairs.insert("status", params.status.clone());
        pairs.insert("sort", params.sort.clone());
        pairs.insert("metric", params.metric.clone());
        for (k, v) in changes {
            pairs.insert(k, (*v).to_owned());
        }
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        format!("{here}?{}", query.join("&"))
    };
    let all_metrics: BTreeSet<&String> = versions.iter().flat_map(|v| v.metrics.keys()).collect();

    Ok(layout(
        name.as_str(),
        reader.signed_in_as(),
        Some(&format!("{here}/live")),
        html! {
            nav.crumbs { a href="/" { "Models" } " / " (name.as_str()) }
            h1 { (name.as_str()) }
            @if !model.description.is_empty() { p.description { (model.description) } }
            @if !model.tags.is_empty() { p.tags { (pairs(&model.tags)) } }
            p.facts { (model.version_count) " versions · created " (moment(model.created_at)) " · last change " (moment(model.updated_at)) }

            section #aliases {
                h2 { "Aliases" }
                @if aliases.is_empty() {
                    p.empty { "No aliases yet: nothing of this model is in production, staging or canary." }
                } @else {
                    table {
                        thead { tr { th { "Alias" } th.num { "Version" } th { "Moved by" } th { "When" } th { "Why" } th {} } }
                        tbody {
                            @for row in &aliases {
                                tr data-alias=(row.alias) class=[row.emergency.then_some("emergency")] {
                                    td { (row.alias) @if row.emergency { " " strong.badge.emergency title="Moved by an admin past the alias's policy" { "EMERGENCY" } } }
                                    td.num { a href=(version_href(name.as_str(), row.version)) { (row.version) } }
                                    td { (row.actor) }
                                    td { @if let Some(at) = row.at { (moment(at)) } }
                                    td { (row.reason) }
                                    td { (forms::rollback(name.as_str(), &row.alias, row.version, &viewer)) }
                                }
                            }
                        }
                    }
                }
            }

            (forms::request_move(name.as_str(), &governance, &viewer))

            section #timeline {
                h2 { "Alias timeline" }
                (charts::alias_timeline(&moves, Utc::now()))
            }

            section #metric {
                h2 { "Metric across versions" }
                @if let Some(metric) = &metric {
                    form.filters method="get" action=(here) {
                        label { "Metric "
                            select name="metric" {
                                @for m in &all_metrics {
                                    option value=(m) selected[*m == metric] { (m) }
                                }
                                @if !all_metrics.contains(metric) { option value=(metric) selected { (metric) } }
                            }
                        }
                        input type="hidden" name="status" value=(params.status);
                        input type="hidden" name="sort" value=(params.sort);
                        button type="submit" { "Chart" }
                    }
                    (charts::metric_chart(metric, &points))
                } @else {
                    p.empty { "No version has a metric yet." }
                }
            }

            section #versions {
                h2 { "Versions" }
                form.filters method="get" action=(here) {
                    label { "Status "
                        select name="status" {
                            option value="" selected[status.is_none()] { "any" }
                            @for s in VersionStatus::ALL {
                                option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) }
                            }
                        }
                    }
                    label { "Order by "
                        select name="sort" {
                            option value="" selected[sort.is_empty()] { "version" }
                            @for m in &all_metrics {
                                option value=(m) selected[**m == sort] { (m) " (best first)" }
                            }
                            @if !sort.is_empty() && sort != "version" && !all_metrics.contains(&sort) {
                                option value=(sort) selected { (sort) " (best first)" }
                            }
                        }
                    }
                    input type="hidden" name="metric" value=(params.metric);
                    button type="submit" { "Show" }
                }
                @if versions.is_empty() {
                    p.empty { "No version matches." }
                } @else {
                    table.sortable.versions {
                        thead { tr {
                            th.num { "Version" } th { "Status" } th { "Algorithm" }
                            @for m in &metric_columns {
                                th.num { a href=(link(&[("sort", m.as_str())])) title="Order by this metric, best first" { (m) } }
                            }
                            th { "Aliases" } th { "Artifact" } th { "Created by" } th { "Created" }
                        } }
                        tbody {
                            @for v in &versions {
                                tr {
                                    td.num { a href=(version_href(name.as_str(), v.version)) { (v.version) } }
                                    td { span class=(format!("status {}", v.status.as_str().to_lowercase())) { (v.status.as_str()) } }
                                    td { (v.algorithm) }
                                    @for m in &metric_columns {
                                        td.num { @if let Some(value) = v.metrics.get(m) { span title=(value) { (metric_text(*value)) } } }
                                    }
                                    td { (v.aliases.join(", ")) }
                                    td.artifact { span title=(v.artifact.uri) { (short_uri(&v.artifact.uri)) } }
                                    td { (v.created_by) }
                                    td { (moment(v.created_at)) }
                                }
                            }
                        }
                    }
                    @if let Some(next) = next_versions {
                        nav.pages { a rel="next" href=(format!("{}#versions", link(&[("after", next.as_str())]))) { "Next versions →" } }
                    }
                }
            }

            section #trail {
                h2 { "Audit trail" } p.facts { "Newest first." }
                (events_table(&events, false))
                @if let Some(next) = next_events {
                    nav.pages { a rel="next" href=(format!("{}#trail", link(&[("events_after", next.as_str())]))) { "Earlier events →" } }
                }
                p { a href=(format!("/events?model={}", encode(name.as_str()))) { "Filter this model's events" } }
            }
        },
    ))
}

/// `/models/{name}/versions/{version}`: every field of one version.
pub async fn version(
    reader: Reader,
    State(console): State<Console>,
    Path((name, number)): Path<(String, i64)>,
) -> PageResult {
    let name = ModelName::parse("name", &name)?;
    let version = console
        .registry
        .get_version(VersionRef::Number(name.clone(), number))
        .await?;
    // A version's own events read as its story: oldest first.
    let mut query = model_events_query(name.clone());
    query.version = Some(number);
    query.newest_first = false;
    query.page_size = 500;
    let events: Vec<Event> = console
        .registry
        .list_events(query)
        .await?
        .items
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    let signature = super::signature::section(&console, &version).await?;
    let training = &version.training;
    let metadata = serde_json::to_string_pretty(&version.metadata).unwrap_or_default();
    let title = format!("{} version {}", name.as_str(), number);
    Ok(layout(
        &title,
        reader.signed_in_as(),
        None,
        html! {
            nav.crumbs { a href="/" { "Models" } " / " a href=(model_href(name.as_str())) { (name.as_str()) } " / version " (number) }
            h1 { (title) }
            dl.fields {
                dt { "Status" } dd { span class=(format!("status {}", version.status.as_str().to_lowercase())) { (version.status.as_str()) } }
                dt { "Aliases" } dd { @if version.aliases.is_empty() { "none" } @else { (version.aliases.join(", ")) } }
                dt { "Id" } dd { code { (version.id) } }
                dt { "Algorithm" } dd { (version.algorithm) }
                dt { "Artifact" } dd { code { (version.artifact.uri) } }
                @if !version.artifact.sha256.is_empty() { dt { "SHA-256" } dd { code { (version.artifact.sha256) } } }
                @if version.artifact.size_bytes > 0 { dt { "Size" } dd { (version.artifact.size_bytes) " bytes" } }
                @if !version.artifact.metadata_uri.is_empty() { dt { "Metadata file" } dd { code { (version.artifact.metadata_uri) } } }
                @if !version.description.is_empty() { dt { "Description" } dd { (version.description) } }
                dt { "Created" } dd { (moment(version.created_at)) " by " (version.created_by) }
                dt { "Updated" } dd { (moment(version.updated_at)) }
            }
            (signature)
            h2 { "Metrics" }
            (key_values(version.metrics.iter().map(|(k, v)| (k.as_str(), v.to_string()))))
            h2 { "Parameters" }
            (key_values(version.params.iter().map(|(k, v)| (k.as_str(), v.clone()))))
            h2 { "Tags" }
            (key_values(version.tags.iter().map(|(k, v)| (k.as_str(), v.clone()))))
            h2 { "Training" }
            dl.fields {
                @if let Some(at) = training.started_at { dt { "Started" } dd { (moment(at)) } }
                @if let Some(at) = training.finished_at { dt { "Finished" } dd { (moment(at)) } }
                @if training.duration_seconds > 0.0 { dt { "Duration" } dd { (training.duration_seconds) " s" } }
                @if training.train_samples > 0 { dt { "Train samples" } dd { (training.train_samples) } }
                @if training.test_samples > 0 { dt { "Test samples" } dd { (training.test_samples) } }
                @if training.feature_count > 0 || !training.feature_names.is_empty() {
                    dt { "Features" } dd { (training.feature_count.max(training.feature_names.len() as i64)) @if !training.feature_names.is_empty() { ": " (training.feature_names.join(", ")) } }
                }
                @if !training.dataset_uri.is_empty() { dt { "Dataset" } dd { code { (training.dataset_uri) } } }
                @if !training.code_version.is_empty() { dt { "Code version" } dd { code { (training.code_version) } } }
            }
            h2 { "Metadata" }
            @if version.metadata.is_empty() { p.empty { "None." } } @else { pre.metadata { (metadata) } }
            h2 { "Events" }
            (events_table(&events, false))
        },
    ))
}

/// `/events`: the whole trail, filtered.
pub async fn events(
    reader: Reader,
    State(console): State<Console>,
    Query(params): Query<EventsParams>,
) -> PageResult {
    let filters = params.filters()?;
    let key = console.page_key().await?;
    let mut query = EventQuery {
        model_name: filters.model,
        version: None,
        kinds: filters.kind.into_iter().collect(),
        alias: filters.alias,
        actor: filters.actor,
        newest_first: true,
        since: filters.since,
        until: filters.until,
        page_size: PAGE_ROWS,
        after: None,
    };
    query.after = key.decode::<EventCursor>(&query, &params.after)?;
    let page = console.registry.list_events(query.clone()).await?;
    let (events, next) = page.split(&key, &query);
    let filter_query = [
        ("model", &params.model),
        ("alias", &params.alias),
        ("type", &params.kind),
        ("actor", &params.actor),
        ("since", &params.since),
        ("until", &params.until),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}={}", encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    Ok(layout(
        "Events",
        reader.signed_in_as(),
        None,
        html! {
            h1 { "Events" }
            form.filters method="get" action="/events" {
                label { "Model " input type="text" name="model" value=(params.model); }
                label { "Alias " input type="text" name="alias" value=(params.alias); }
                label { "Type "
                    select name="type" {
                        option value="" { "any" }
                        @for kind in EventKind::ALL {
                            option value=(kind.as_str()) selected[params.kind.eq_ignore_ascii_case(kind.as_str())] { (kind.as_str()) }
                        }
                    }
                }
                label { "Actor " input type="text" name="actor" value=(params.actor); }
                label { "Since " input type="text" name="since" placeholder="2026-11-01" value=(params.since); }
                label { "Until " input type="text" name="until" placeholder="2026-12-01" value=(params.until); }
                button type="submit" { "Filter" }
            }
            (events_table(&events, true))
            @if let Some(next) = next {
                nav.pages { a rel="next" href=(format!("/events?{filter_query}&after={}", encode(&next))) { "Earlier events →" } }
            }
        },
    ))
}

/// An error page.
pub fn error(status: StatusCode, message: &str) -> Markup {
    layout(
        status.canonical_reason().unwrap_or("Error"),
        None,
        None,
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
            p.problem { (message) }
            p { a href="/" { "All models" } }
        },
    )
}

/// One alias of the aliases table: where it points and its last move.
struct AliasRow {
    alias: String,
    version: i64,
    actor: String,
    at: Option<DateTime<Utc>>,
    reason: String,
    emergency: bool,
}

/// Each alias's row, its last move taken from the timeline's moves (the
/// newest ones); only an alias not moved within them is looked up.
async fn alias_rows(
    console: &Console,
    model: &Model,
    moves: &[AliasMove],
) -> Result<Vec<AliasRow>, WebError> {
    let mut rows = Vec::with_capacity(model.aliases.len());
    for (alias, version) in &model.aliases {
        let (actor, at, reason, emergency) = match moves.iter().rev().find(|m| m.alias == *alias) {
            Some(last) => (
                last.actor.clone(),
                Some(last.at),
                last.reason.clone(),
                last.emergency,
            ),
            None => {
                let name = AliasName::movable("alias", alias)?;
                let (_, event_id) = console
                    .registry
                    .alias_state(model.name.clone(), name)
                    .await?;
                let last = console.registry.find_event(event_id).await?;
                match last {
                    Some(e) => (e.actor, Some(e.occurred_at), e.reason, e.emergency),
                    None => (String::new(), None, String::new(), false),
                }
            }
        };
        rows.push(AliasRow {
            alias: alias.clone(),
            version: *version,
            actor,
            at,
            reason,
            emergency,
        });
    }
    Ok(rows)
}

/// The model's alias moves for the timeline: the newest ones (up to the
/// chart's limit), in time order.
async fn alias_moves(console: &Console, name: &ModelName) -> Result<Vec<AliasMove>, WebError> {
    let mut query = model_events_query(name.clone());
    query.kinds = vec![
        EventKind::AliasSet,
        EventKind::AliasDeleted,
        EventKind::AliasRolledBack,
    ];
    query.page_size = 500;
    let mut moves = Vec::new();
    loop {
        let page = console.registry.list_events(query.clone()).await?;
        let last = page.items.last().map(|(_, cursor)| cursor.clone());
        moves.extend(page.items.into_iter().filter_map(|(event, _)| {
            Some(AliasMove {
                at: event.occurred_at,
                alias: event.alias?,
                version: event.new_version,
                actor: event.actor,
                reason: event.reason,
                emergency: event.emergency,
            })
        }));
        match last {
            Some(cursor) if page.more && moves.len() < CHARTED_MOVES => query.after = Some(cursor),
            _ => break,
        }
    }
    moves.reverse();
    Ok(moves)
}

/// The newest versions (up to the chart's limit), in version order: what
/// the metric chart draws and picks its default metric from.
async fn charted_versions(
    console: &Console,
    name: &ModelName,
) -> Result<Vec<ModelVersion>, WebError> {
    let mut query = model_versions_query(name.clone(), CHARTED_VERSIONS);
    query.descending = true;
    let mut versions: Vec<ModelVersion> = console
        .registry
        .list_versions(query)
        .await?
        .items
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    versions.reverse();
    Ok(versions)
}

/// Every version of one model by number, `page_size` at a time.
fn model_versions_query(name: ModelName, page_size: usize) -> VersionQuery {
    VersionQuery {
        model_name: Some(name),
        statuses: Vec::new(),
        algorithm: None,
        tags: BTreeMap::new(),
        min_metrics: BTreeMap::new(),
        trained_after: None,
        trained_before: None,
        holding_all: Vec::new(),
        holding_any: Vec::new(),
        holding_some_alias: false,
        order: VersionOrder::Version,
        descending: false,
        // Charts and tables show metrics and facts, never the bulk.
        view: VersionView::Basic,
        page_size,
        after: None,
    }
}

fn model_events_query(name: ModelName) -> EventQuery {
    EventQuery {
        model_name: Some(name),
        version: None,
        kinds: Vec::new(),
        alias: None,
        actor: None,
        newest_first: true,
        since: None,
        until: None,
        page_size: PAGE_ROWS,
        after: None,
    }
}
