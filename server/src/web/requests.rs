//! `/requests`: change requests, pending first. Each pending request shows
//! its candidate next to the alias's current holder (every metric with its
//! delta, the training facts, the soak on the policy's soak alias, who
//! asked and why) with the forms to decide it; decided requests follow,
//! newest first.

use std::collections::BTreeSet;

use axum::extract::{Query, State};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::actor::Viewer;
use super::query::PAGE_ROWS;
use super::render::{encode, layout, metric_text, model_href, moment, version_href};
use super::{Console, Reader, WebError};
use crate::domain::access::Role;
use crate::domain::commands::RequestQuery;
use crate::domain::governance::{AliasPolicy, ChangeRequest, PolicyScope, RequestState};
use crate::domain::page::RequestCursor;
use crate::domain::validate::MAX_REASON_CHARS;
use crate::domain::{AliasName, DomainError, ModelName, ModelVersion, VersionRef};

/// Pending requests shown in full (each costs a few reads).
const PENDING_SHOWN: usize = 20;

/// `/requests`: which requests.
#[derive(Debug, Default, Deserialize)]
pub struct RequestsParams {
    /// Only this model.
    #[serde(default)]
    pub model: String,
    /// The decided requests' page after this token.
    #[serde(default)]
    pub after: String,
}

/// What a pending request is judged on.
struct Evidence {
    candidate: Option<ModelVersion>,
    /// Why the candidate's signature no longer verifies, if it does not.
    candidate_distrust: Option<String>,
    current: Option<ModelVersion>,
    policy: Option<AliasPolicy>,
    /// The version the policy's soak alias points at, and since when.
    soak: Option<(i64, chrono::DateTime<Utc>)>,
}

/// `/requests`.
pub async fn requests(
    reader: Reader,
    State(console): State<Console>,
    Query(params): Query<RequestsParams>,
) -> Result<Markup, WebError> {
    let model = match params.model.trim() {
        "" => None,
        name => Some(ModelName::parse("model", name)?),
    };
    let viewer = Viewer::of(&console, &reader).await?;
    let query = |state: Option<RequestState>, page_size| RequestQuery {
        model_name: model.clone(),
        alias: None,
        state,
        requester: None,
        page_size,
        after: None,
    };
    let pending = console
        .registry
        .list_requests(query(Some(RequestState::Pending), PENDING_SHOWN))
        .await?;
    let more_pending = pending.more;
    let mut shown = Vec::new();
    for (request, _) in pending.items {
        let evidence = evidence(&console, &request).await?;
        shown.push((request, evidence));
    }
    let key = console.page_key().await?;
    let mut decided_query = query(None, PAGE_ROWS);
    decided_query.after = key.decode::<RequestCursor>(&decided_query, &params.after)?;
    let (decided, next) = console
        .registry
        .list_requests(decided_query.clone())
        .await?
        .split(&key, &decided_query);
    let decided: Vec<_> = decided
        .into_iter()
        .filter(|r| r.state != RequestState::Pending)
        .collect();
    Ok(layout(
        "Change requests",
        reader.signed_in_as(),
        None,
        html! {
            h1 { "Change requests" }
            @if let Some(model) = &model {
                p.facts { "Model " a href=(model_href(model.as_str())) { (model.as_str()) } " · " a href="/requests" { "every model" } }
            }
            section #pending {
                h2 { "Pending" }
                @if shown.is_empty() { p.empty { "Nothing waits for a decision." } }
                @for (request, evidence) in &shown { (pending_card(request, evidence, &viewer)) }
                @if more_pending { p.facts { "Showing the newest " (PENDING_SHOWN) " pending requests; filter by model to see others." } }
            }
            section #decided {
                h2 { "Decided" }
                (decided_table(&decided))
                @if let Some(next) = next {
                    nav.pages { a rel="next" href=(format!("/requests?model={}&after={}", encode(&params.model), encode(&next))) { "Earlier requests →" } }
                }
            }
        },
    ))
}

/// Reads what `request` is judged on, as things stand now.
async fn evidence(console: &Console, request: &ChangeRequest) -> Result<Evidence, WebError> {
    let registry = &console.registry;
    let name = &request.model_name;
    let version = |number| registry.get_version(VersionRef::Number(name.clone(), number));
    let candidate = optional(version(request.version).await)?;
    let (current, _) = registry
        .alias_state(name.clone(), request.alias.clone())
        .await?;
    let policy = optional(
        registry
            .get_policy(PolicyScope::Model(name.clone()), request.alias.clone())
            .await,
    )?;
    let soak = match policy.as_ref().and_then(|p| p.rules.soak.as_ref()) {
        Some(soak) => soak_of(console, name, &soak.alias).await?,
        None => None,
    };
    let candidate_distrust = match &candidate {
        Some(version) => super::signature::distrust(console, version).await?,
        None => None,
    };
    Ok(Evidence {
        candidate,
        candidate_distrust,
        current,
        policy,
        soak,
    })
}

/// Where `alias` points and since when.
async fn soak_of(
    console: &Console,
    name: &ModelName,
    alias: &AliasName,
) -> Result<Option<(i64, chrono::DateTime<Utc>)>, WebError> {
    let (holder, event_id) = console
        .registry
        .alias_state(name.clone(), alias.clone())
        .await?;
    let Some(holder) = holder else {
        return Ok(None);
    };
    let since = console.registry.find_event(event_id).await?;
    Ok(since.map(|event| (holder.version, event.occurred_at)))
}

/// `Ok(None)` for a thing that is not there.
fn optional<T>(read: Result<T, DomainError>) -> Result<Option<T>, WebError> {
    match read {
        Ok(value) => Ok(Some(value)),
        Err(DomainError::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn pending_card(request: &ChangeRequest, evidence: &Evidence, viewer: &Viewer) -> Markup {
    let name = request.model_name.as_str();
    let now = Utc::now();
    let expired = now >= request.expires_at;
    let own = viewer.principal.name == request.requester;
    html! {
        article.request id=(format!("request-{}", request.id)) data-request=(request.id) {
            h3 {
                "#" (request.id) " · " a href=(model_href(name)) { (name) } " · "
                (request.alias.as_str()) " → " a href=(version_href(name, request.version)) { "version " (request.version) }
                " " span class=(if expired { "state expired" } else { "state pending" }) { @if expired { "EXPIRED" } @else { "PENDING" } }
            }
            p.asked { "Asked by " strong.requester { (request.requester) } " " (moment(request.created_at)) "; expires " (moment(request.expires_at)) "." }
            blockquote.reason { (request.reason) }
            p.facts {
                "Made while " (request.alias.as_str()) " pointed at " (describe(request.from_version)) "; "
                (request.approvals.len()) " of " (request.required_approvals) " approvals."
            }
            @if !request.approvals.is_empty() {
                ul.approvals { @for a in &request.approvals { li { strong { (a.principal) } " approved " (moment(a.at)) @if !a.comment.is_empty() { ": " q { (a.comment) } } } } }
            }
            (side_by_side(request, evidence, now))
            @if !expired {
                div.decide {
                    @if viewer.may("ApproveAliasChangeRequest") && !own {
                        form.act.approve method="post" action=(format!("/requests/{}/approve", request.id)) {
                            (hidden_fields(viewer))
                            label { "Comment " textarea name="comment" rows="2" maxlength=(MAX_REASON_CHARS) {} }
                            button type="submit" { "Approve" }
                        }
                        form.act.reject method="post" action=(format!("/requests/{}/reject", request.id)) {
                            (hidden_fields(viewer))
                            label { "Why reject " textarea name="comment" rows="2" maxlength=(MAX_REASON_CHARS) required {} }
                            button type="submit" { "Reject" }
                        }
                    }
                    @if own && viewer.may("CancelAliasChangeRequest") || viewer.principal.grant.role == Role::Admin {
                        form.act.cancel method="post" action=(format!("/requests/{}/cancel", request.id)) {
                            (hidden_fields(viewer))
                            input type="hidden" name="comment" value="";
                            button type="submit" { "Cancel request" }
                        }
                    }
                    @if own { p.facts { "You asked for this move: someone else must approve it." } }
                }
            }
        }
    }
}

/// One training fact of a version, as text.
type Fact = fn(&ModelVersion) -> String;

/// The candidate next to the alias's current holder.
fn side_by_side(
    request: &ChangeRequest,
    evidence: &Evidence,
    now: chrono::DateTime<Utc>,
) -> Markup {
    let candidate = evidence.candidate.as_ref();
    let current = evidence.current.as_ref();
    let metrics: BTreeSet<&String> = candidate
        .into_iter()
        .chain(current)
        .flat_map(|v| v.metrics.keys())
        .collect();
    let fact = |v: Option<&ModelVersion>, f: Fact| v.map(f).unwrap_or_default();
    let facts: [(&str, Fact); 8] = [
        ("Status", |v| v.status.as_str().to_owned()),
        ("Algorithm", |v| v.algorithm.clone()),
        ("Created by", |v| v.created_by.clone()),
        ("Train samples", |v| count(v.training.train_samples)),
        ("Test samples", |v| count(v.training.test_samples)),
        ("Features", |v| {
            let named = i64::try_from(v.training.feature_names.len()).unwrap_or(i64::MAX);
            count(v.training.feature_count.max(named))
        }),
        ("Dataset", |v| v.training.dataset_uri.clone()),
        ("Code version", |v| v.training.code_version.clone()),
    ];
    html! {
        table.compare {
            thead { tr {
                th {}
                th { "Now: " @match current { Some(v) => { "version " (v.version) }, None => { "nothing" } } }
                th { "Candidate: version " (request.version) @if candidate.is_none() { " (gone)" } }
                th.num { "Δ" }
            } }
            tbody {
                @for m in &metrics {
                    @let now_value = current.and_then(|v| v.metrics.get(*m)).copied();
                    @let new_value = candidate.and_then(|v| v.metrics.get(*m)).copied();
                    tr.metric data-metric=(m) {
                        th { (m) }
                        td.num { @if let Some(x) = now_value { (metric_text(x)) } }
                        td.num { @if let Some(x) = new_value { (metric_text(x)) } }
                        td.num.delta { @if let (Some(a), Some(b)) = (now_value, new_value) { (format!("{:+.4}", b - a)) } }
                    }
                }
                @for (label, read) in &facts {
                    tr { th { (label) } td { (fact(current, *read)) } td { (fact(candidate, *read)) } td {} }
                }
                tr.signature {
                    th { "Signature" }
                    td { (signature_text(current, None)) }
                    td { (signature_text(candidate, evidence.candidate_distrust.as_deref())) }
                    td {}
                }
                @if let Some(soak) = evidence.policy.as_ref().and_then(|p| p.rules.soak.as_ref()) {
                    tr.soak { th { "Soak on " (soak.alias.as_str()) } td {} td colspan="2" { (soak_text(request.version, soak.seconds, evidence.soak, now)) } }
                }
            }
        }
    }
}

/// A version's signature in the comparison: who signed it, and for the
/// candidate whether it still verifies (a policy requiring a signature
/// refuses one that does not).
fn signature_text(version: Option<&ModelVersion>, distrust: Option<&str>) -> Markup {
    let Some(version) = version else {
        return html! {};
    };
    match (&version.signature, distrust) {
        (None, _) => html! { "none" },
        (Some(s), None) => html! { "verified: " (s.signer) " (" (s.method.as_str()) " method)" },
        (Some(s), Some(why)) => html! {
            span.status.deprecated { "NO LONGER VERIFIES" }
            " signed by " (s.signer) " (" (s.method.as_str()) " method): " (why)
        },
    }
}

/// How long the candidate has been on the soak alias, against the minimum.
fn soak_text(
    candidate: i64,
    required: i64,
    holder: Option<(i64, chrono::DateTime<Utc>)>,
    now: chrono::DateTime<Utc>,
) -> String {
    match holder {
        Some((version, since)) if version == candidate => {
            let held = (now - since).num_seconds().max(0);
            let verdict = if held >= required {
                "enough"
            } else {
                "not yet enough"
            };
            format!(
                "{} of the {} required: {verdict}",
                duration(held),
                duration(required)
            )
        }
        _ => format!("not on it now ({} required)", duration(required)),
    }
}

/// Seconds as hours and minutes.
fn duration(seconds: i64) -> String {
    match (seconds / 3600, (seconds % 3600) / 60) {
        (0, 0) => format!("{seconds} s"),
        (0, minutes) => format!("{minutes} min"),
        (hours, minutes) => format!("{hours} h {minutes} min"),
    }
}

fn count(value: i64) -> String {
    if value > 0 {
        value.to_string()
    } else {
        String::new()
    }
}

fn describe(version: Option<i64>) -> String {
    version.map_or("nothing".to_owned(), |v| format!("version {v}"))
}

/// The fields every form of the console carries: the session's form token
/// and a fresh idempotency key (sending the form twice changes nothing twice).
pub fn hidden_fields(viewer: &Viewer) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(viewer.form_token);
        input type="hidden" name="request_id" value=(uuid::Uuid::new_v4().to_string());
    }
}

fn decided_table(requests: &[ChangeRequest]) -> Markup {
    html! {
        @if requests.is_empty() { p.empty { "None yet." } } @else {
            table.decided {
                thead { tr { th.num { "#" } th { "Model" } th { "Alias" } th.num { "Version" } th { "State" } th { "Asked by" } th { "Decided by" } th { "When" } th { "Why / note" } } }
                tbody {
                    @for r in requests {
                        tr id=(format!("request-{}", r.id)) {
                            td.num { (r.id) }
                            td { a href=(model_href(r.model_name.as_str())) { (r.model_name.as_str()) } }
                            td { (r.alias.as_str()) }
                            td.num { a href=(version_href(r.model_name.as_str(), r.version)) { (r.version) } }
                            td { span class=(format!("state {}", r.state.as_str().to_lowercase())) { (r.state.as_str()) } }
                            td { (r.requester) }
                            td { (r.decided_by.clone().unwrap_or_default()) }
                            td { @if let Some(at) = r.decided_at { (moment(at)) } }
                            td { (r.reason) @if !r.decision_note.is_empty() { br; em { (r.decision_note) } } }
                        }
                    }
                }
            }
        }
    }
}
