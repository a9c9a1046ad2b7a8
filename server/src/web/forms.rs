//! The model page's forms: ask for an alias move (a change request, which
//! others decide on the requests page) and roll an alias back. Each asks
//! for a reason and a ticked confirmation before it is sent.

use maud::{Markup, html};

use super::actor::Viewer;
use super::render::encode;
use super::requests::hidden_fields;
use super::{Console, WebError};
use crate::domain::ModelName;
use crate::domain::commands::PolicyQuery;
use crate::domain::governance::AliasPolicy;
use crate::domain::validate::MAX_REASON_CHARS;

/// The request-a-move form for the model's aliases that have a policy
/// (`governed`; only those take requests), offered to principals that may
/// make requests.
pub(super) fn request_move(model: &str, governed: &[AliasPolicy], viewer: &Viewer) -> Markup {
    if governed.is_empty() || !viewer.may("CreateAliasChangeRequest") {
        return html! {};
    }
    html! {
        section #request-move {
            h2 { "Ask for a move" }
            p.facts {
                "A change request, decided by someone else on the "
                a href=(format!("/requests?model={}", encode(model))) { "requests page" } "."
            }
            form.act.request method="post" action=(format!("/models/{}/requests", encode(model))) {
                (hidden_fields(viewer))
                label { "Alias "
                    select name="alias" required {
                        @for policy in governed {
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

/// The model's alias policies (a model has a few: one per governed alias).
pub(super) async fn governed_aliases(
    console: &Console,
    name: &ModelName,
) -> Result<Vec<AliasPolicy>, WebError> {
    let query = PolicyQuery {
        model_name: Some(name.clone()),
        page_size: 100,
        after: None,
    };
    let page = console.registry.list_policies(query).await?;
    Ok(page.items.into_iter().map(|(policy, _)| policy).collect())
}
