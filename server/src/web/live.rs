//! Live pages: `/models/{name}/live` is a Server-Sent Events stream that
//! says "changed" whenever an event of that model is committed (an alias
//! moves, a version is registered or changes), fed by the change feed that
//! also feeds the watch RPCs, so a change made through any replica shows.
//! The page's script then re-reads the page. A subscriber that falls
//! behind is simply told to re-read.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::Utc;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;

use super::{Console, Reader, WebError};
use crate::domain::ModelName;

/// `/models/{name}/live`.
/// The stream ends when the browser leaves, when the server stops, when
/// its session ends (expiry, sign-out: checked every
/// [`SESSION_RECHECK`]) and when a reload of the tokens file revokes the
/// token it signed in with.
pub async fn model_changes(
    Reader(session): Reader,
    State(console): State<Console>,
    Path(name): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let name = ModelName::parse("name", &name)?;
    // The model must exist: a typo gets a 404, not a silent stream.
    console.registry.get_model(name.clone()).await?;
    let mut events = console.feed.subscribe();
    let mut shutdown = console.shutdown.clone();
    let mut reloads = console.authenticator.reloads();
    let ends_at = session.as_ref().map(|session| {
        let left = (session.expires_at - Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    let mut recheck = tokio::time::interval(SESSION_RECHECK);
    recheck.tick().await;
    let stream = async_stream(move |sender| async move {
        loop {
            let step = tokio::select! {
                received = events.recv() => match received {
                    Ok(event) if event.model_name == name => Step::Changed(event.id.to_string()),
                    Ok(_) => Step::Nothing,
                    Err(RecvError::Lagged(_)) => Step::Changed("lagged".to_owned()),
                    Err(RecvError::Closed) => return,
                },
                _ = shutdown.wait_for(|stopped| *stopped) => return,
                () = sender.closed() => return,
                reloaded = reloads.changed() => {
                    let revoked = console.authenticator.is_enabled()
                        && session
                            .as_ref()
                            .is_none_or(|session| console.authenticator.session_principal(session).is_none());
                    if reloaded.is_err() || revoked {
                        return;
                    }
                    Step::Nothing
                }
                () = sleep_until_some(ends_at) => return,
                _ = recheck.tick(), if session.is_some() => Step::Recheck,
            };
            // Awaited outside the select: its shutdown branch holds a guard.
            match step {
                Step::Nothing => {}
                Step::Recheck => {
                    let Some(session) = &session else { continue };
                    let id = session.id_digest.clone();
                    if !matches!(console.registry.session(id).await, Ok(Some(_))) {
                        return;
                    }
                }
                Step::Changed(id) => {
                    let event = Event::default().event("changed").data(id);
                    if sender.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// How often a live page checks that its session was not ended elsewhere
/// (signed out in another tab or on another replica).
const SESSION_RECHECK: Duration = Duration::from_secs(30);

/// What a live stream does next.
enum Step {
    Nothing,
    /// Tell the page (the event id, or "lagged").
    Changed(String),
    /// Check that the session still exists.
    Recheck,
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A stream fed by a task: `produce` sends items until it returns or the
/// client goes away (the receiver is dropped).
fn async_stream<T, F, Fut>(produce: F) -> impl Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(sender));
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}
