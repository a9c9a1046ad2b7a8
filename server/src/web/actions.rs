//! The console's changes: each form posts here, is checked by [`Actor`]
//! (same origin, the session's form token, the role of the gRPC method it
//! stands for) and runs the use case the gRPC call runs, with the same
//! validation. Success sends the browser back to what changed (303); a
//! refusal is an error page saying why.

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::actor::Actor;
use super::render::model_href;
use super::{Console, WebError};
use crate::domain::alias::ExpectedCurrent;
use crate::domain::commands::{DecideRequest, RequestMove, RollbackAlias};
use crate::domain::{AliasName, DomainError, DomainResult, ModelName, Violations, validate};
use crate::registry::Decision;

/// The request-a-move form of a model page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    alias: String,
    version: String,
    reason: String,
    /// The version the alias pointed at on the page (`none`: nowhere).
    expected: String,
    confirm: String,
    csrf: String,
    request_id: String,
}

/// The rollback form of an alias on a model page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RollbackForm {
    reason: String,
    expected: String,
    confirm: String,
    csrf: String,
    request_id: String,
}

/// The approve, reject and cancel forms of a request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecideForm {
    comment: String,
    csrf: String,
    request_id: String,
}

/// `POST /models/{name}/requests`: asks for an alias move.
pub async fn request_move(
    actor: Actor,
    State(console): State<Console>,
    Path(name): Path<String>,
    Form(form): Form<MoveForm>,
) -> Result<Response, WebError> {
    let caller = actor
        .caller(
            &console,
            "CreateAliasChangeRequest",
            &form.csrf,
            &form.request_id,
        )
        .await?;
    let mut v = Violations::default();
    let model_name = v.check(ModelName::parse("model_name", &name));
    let alias = v.check(AliasName::movable("alias", form.alias.trim()));
    let version = v.check(number("version", &form.version));
    let reason = v.check(validate::reason(&form.reason));
    let expected = v.check(expected(&form.expected));
    v.check(confirmed(&form.confirm));
    let (Some(model_name), Some(alias), Some(version), Some(reason), Some(expected_current)) =
        (model_name, alias, version, reason, expected)
    else {
        return Err(v.into_error().into());
    };
    v.finish()?;
    let command = RequestMove {
        model_name,
        alias,
        version,
        reason,
        expected_current,
    };
    let made = console.registry.create_request(command, caller).await?;
    Ok(Redirect::to(&format!("/requests#request-{}", made.value.id)).into_response())
}

/// `POST /models/{name}/aliases/{alias}/rollback`: returns an alias to the
/// version it held before.
pub async fn rollback(
    actor: Actor,
    State(console): State<Console>,
    Path((name, alias)): Path<(String, String)>,
    Form(form): Form<RollbackForm>,
) -> Result<Response, WebError> {
    let caller = actor
        .caller(&console, "RollbackModelAlias", &form.csrf, &form.request_id)
        .await?;
    let mut v = Violations::default();
    let model_name = v.check(ModelName::parse("model_name", &name));
    let alias = v.check(AliasName::movable("alias", &alias));
    let reason = v.check(validate::reason(&form.reason));
    let expected = v.check(expected(&form.expected));
    v.check(confirmed(&form.confirm));
    let (Some(model_name), Some(alias), Some(reason), Some(expected_current)) =
        (model_name, alias, reason, expected)
    else {
        return Err(v.into_error().into());
    };
    v.finish()?;
    let here = format!("{}#aliases", model_href(model_name.as_str()));
    let command = RollbackAlias {
        model_name,
        alias,
        reason,
        expected_current,
        emergency: false,
    };
    console.registry.rollback_alias(command, caller).await?;
    Ok(Redirect::to(&here).into_response())
}

/// `POST /requests/{id}/{approve|reject|cancel}`: decides a request.
pub async fn decide(
    actor: Actor,
    State(console): State<Console>,
    Path((id, decision)): Path<(i64, String)>,
    Form(form): Form<DecideForm>,
) -> Result<Response, WebError> {
    let decision = match decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        "cancel" => Decision::Cancel,
        other => {
            return Err(DomainError::NotFound(format!(
                "a request is approved, rejected or cancelled, not {other:?}"
            ))
            .into());
        }
    };
    let caller = actor
        .caller(&console, decision.method(), &form.csrf, &form.request_id)
        .await?;
    let command = DecideRequest::parse(id, &form.comment, decision == Decision::Reject)?;
    let decided = console
        .registry
        .decide_request(command, decision, caller)
        .await?;
    Ok(Redirect::to(&format!("/requests#request-{}", decided.value.id)).into_response())
}

/// A version number typed into a form.
fn number(field: &str, text: &str) -> DomainResult<i64> {
    let parsed = text
        .trim()
        .parse::<i64>()
        .map_err(|_| DomainError::invalid(field, "must be a version number (1 or more)"))?;
    validate::version_number(field, parsed)
}

/// The alias's holder as the page showed it: `none` for nowhere, empty for
/// no check.
fn expected(text: &str) -> DomainResult<ExpectedCurrent> {
    match text.trim() {
        "" => Ok(None),
        "none" => Ok(Some(None)),
        number_text => Ok(Some(Some(number("expected", number_text)?))),
    }
}

/// A move from the console is made only once its form's box is ticked.
fn confirmed(confirm: &str) -> DomainResult<()> {
    if confirm == "yes" {
        return Ok(());
    }
    Err(DomainError::invalid(
        "confirm",
        "tick the box to confirm the move",
    ))
}
