//! The model page's forms: ask for an alias move (a change request, which
//! others decide on the requests page) and roll an alias back. Each asks
//! for a reason and a ticked confirmation before it is sent.

use maud::{Markup, html};

use super::actor::Viewer;
use super::render::encode;
use super::requests::hidden_fields;
use super::{Console, WebError};
use crate::domain::ModelName;
use crate::domain::commands::{PolicyQuery, RequestQuery};
use crate::domain::governance::{AliasPolicy, PolicyScope, RequestState};
use crate::domain::validate::MAX_REASON_CHARS;

/// What the model page says of the model's governed aliases.
pub(super) struct Governance {
    /// The model's alias policies (only these aliases take requests).
    policies: Vec<AliasPolicy>,
    /// Its open change requests, counted up to [`OPEN_COUNTED`].
    open_requests: usize,
}

/// Open requests the model page counts before it says "more than".
const OPEN_COUNTED: usize = 50;

/// The model's governed aliases, their open requests, and the form to ask
/// for a move (to principals that may make requests).
pub(super) fn request_move(model: &str, governance: &Governance, viewer: &Viewer) -> Markup {
    if governance.policies.is_empty() {
        return html! {};
    }
    let requests_href = format!("/requests?model={}", encode(model));
    html! {
        section #request-move {
            h2 { "Change requests" }
            p.facts.open-requests {
                a href=(requests_href) {
                    @match governance.open_requests {
                        0 => { "No open change request" },
                        1 => { "1 open change request" },
                        n if n > OPEN_COUNTED => { "More than " (OPEN_COUNTED) " open change requests" },
                        n => { (n) " open change requests" },
                    }
                }
                " for "
                (governance.policies.iter().map(policy_label).collect::<Vec<_>>().join(", "))
                ": decided by someone other than who asked."
            }
            @if viewer.may("CreateAliasChangeRequest") {
                h3 { "Ask for a move" }
                form.act.request method="post" action=(format!("/models/{}/requests", encode(model))) {
                    (hidden_fields(viewer))
                    label { "Alias "
                        select name="alias" required {
                            @for policy in &governance.policies {
                                option value=(policy.alias.as_str()) selected[policy.alias.as_str() == "production"] {
                                    (policy.alias.as_str()) " (" (policy.rules.required_approvals) " approval" @if policy.rules.required_approvals != 1 { "s" } ")"
                                }
                            }
                        }
                    }
                    label { "Version " input type="number" name="version" min="1" required; }
                    label.wide { "Why " textarea name="reason" rows="2" maxlength=(MAX_REASON_CHARS) required {} }
                    label.confirm { input type="checkbox" name="confirm" value="yes" required; " I have checked the candidate" }
                    button type="submit" { "Ask for the move" }
                }
            }
        }
    }
}

/// A governed alias, and where its policy comes from when it is inherited.
fn policy_label(policy: &AliasPolicy) -> String {
    match &policy.scope {
        PolicyScope::Model(_) => policy.alias.as_str().to_owned(),
        PolicyScope::Prefix { prefix } => {
            format!("{} (policy of every model named {prefix}…)", policy.alias)
        }
    }
}

/// The rollback form of one alias that points at `version` now.
pub(super) fn rollback(model: &str, alias: &str, version: i64, viewer: &Viewer) -> Markup {
    if !viewer.may("RollbackModelAlias") || alias == "latest" {
        return html! {};
    }
    html! {
        details.rollback {
            summary { "Roll back…" }
            form.act.rollback method="post" action=(format!("/models/{}/aliases/{}/rollback", encode(model), encode(alias))) {
                (hidden_fields(viewer))
                input type="hidden" name="expected" value=(version);
                label { "Why " input type="text" name="reason" maxlength=(MAX_REASON_CHARS) required; }
                label.confirm { input type="checkbox" name="confirm" value="yes" required; " Return " (alias) " to the version it held before " (version) }
                button type="submit" { "Roll back" }
            }
        }
    }
}

/// The model's alias policies (a model has a few: one per governed alias)
/// and, when it has any, how many requests are open.
pub(super) async fn governance_of(
    console: &Console,
    name: &ModelName,
) -> Result<Governance, WebError> {
    let query = PolicyQuery {
        model_name: Some(name.clone()),
        prefixes: false,
        page_size: 100,
        after: None,
    };
    let page = console.registry.list_policies(query).await?;
    let policies: Vec<AliasPolicy> = page.items.into_iter().map(|(policy, _)| policy).collect();
    if policies.is_empty() {
        return Ok(Governance {
            policies,
            open_requests: 0,
        });
    }
    let open = console
        .registry
        .list_requests(RequestQuery {
            model_name: Some(name.clone()),
            alias: None,
            state: Some(RequestState::Pending),
            requester: None,
            page_size: OPEN_COUNTED,
            after: None,
        })
        .await?;
    let open_requests = open.items.len() + usize::from(open.more);
    Ok(Governance {
        policies,
        open_requests,
    })
}
