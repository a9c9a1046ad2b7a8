//! The sign-in pages: the login page (a token, or the identity providers
//! the tokens file offers) and the page a provider's sign-in lands on.

use maud::{DOCTYPE, Markup, html};

use super::render::{encode, layout};
use crate::auth::oidc::SignInProvider;

/// The login page, with what went wrong last time.
pub fn login(problem: Option<&str>, providers: &[SignInProvider]) -> Markup {
    layout(
        "Sign in",
        None,
        None,
        html! {
            h1 { "Sign in" }
            p { "This registry requires signing in. Any role may read the console; deployers may also ask for, decide and roll back alias moves here." }
            @if let Some(problem) = problem { p.problem role="alert" { (problem) } }
            @if !providers.is_empty() {
                ul.providers {
                    @for provider in providers {
                        li { a.provider href=(format!("/login/oidc/{}", encode(&provider.name))) { "Sign in with " (provider.label) } }
                    }
                }
                p.or { "or with a token:" }
            }
            form.login method="post" action="/login" {
                label { "Token " input type="password" name="token" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The page a browser signed in with an identity provider lands on: it
/// moves on to the models at once (a navigation of the console's own page,
/// which sends the `SameSite=Strict` session cookie).
pub fn signed_in(principal: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="0;url=/";
                title { "Signed in · Model Registry" }
                link rel="stylesheet" href="/static/console.css";
            }
            body { main {
                h1 { "Signed in" }
                p { "Signed in as " strong.principal { (principal) } ". " a href="/" { "Continue to the models" } }
            } }
        }
    }
}
