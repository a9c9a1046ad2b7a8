//! The model page's forms: ask for an alias move (a change request, which
//! others decide on the requests page) and roll an alias back. Each asks
//! for a reason and a ticked confirmation before it is sent.

use maud::{Markup, html};

use super::actor::Viewer;
use super::render::encode;
use super::requests::hidden_fields;

/// The request-a-move form, offered to principals that may make requests.
pub(super) fn request_move(model: &str, aliases: &[&str], viewer: &Viewer) -> Markup {
    if !viewer.may("CreateAliasChangeRequest") {
        return html! {};
    }
    html! {
        section #request-move {
            h2 { "Ask for a move" }
            p.facts { "A request another principal approves on the " a href=(format!("/requests?model={}", encode(model))) { "requests page" } "; an alias without a policy needs one approval." }
            form.act.request method="post" action=(format!("/models/{}/requests", encode(model))) {
                (hidden_fields(viewer))
                label { "Alias " input type="text" name="alias" list="alias-names" required value="production"; }
                datalist #alias-names { @for alias in aliases { option value=(alias) {} } }
                label { "Version " input type="number" name="version" min="1" required; }
                label.wide { "Why " textarea name="reason" rows="2" maxlength="2000" required {} }
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
                label { "Why " input type="text" name="reason" maxlength="2000" required; }
                label.confirm { input type="checkbox" name="confirm" value="yes" required; " Return " (alias) " to the version it held before " (version) }
                button type="submit" { "Roll back" }
            }
        }
    }
}
