//! Live pages: `/models/{name}/live` is a Server-Sent Events stream that
//! says "changed" whenever an event of that model is committed (an alias
//! moves, a version is registered or changes), fed by the change feed that
//! also feeds the watch RPCs, so a change made through any replica shows.
//! The page's script then re-reads the page. A subscriber that falls
//! behind is simply told to re-read.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;

use super::{Console, Reader, WebError, authenticate, signed_in_token};
use crate::domain::ModelName;

/// `/models/{name}/live`.
/// The stream ends when the browser leaves, when the server stops, and
/// when a reload of the tokens file revokes the token it signed in with.
pub async fn model_changes(
    _: Reader,
    State(console): State<Console>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let name = ModelName::parse("name", &name)?;
    // The model must exist: a typo gets a 404, not a silent stream.
    console.registry.get_model(name.clone()).await?;
    let mut events = console.feed.subscribe();
    let mut shutdown = console.shutdown.clone();
    let mut reloads = console.authenticator.reloads();
    let token = signed_in_token(&headers);
    let stream = async_stream(move |sender| async move {
        loop {
            let changed = tokio::select! {
                received = events.recv() => match received {
                    Ok(event) if event.model_name == name => Some(event.id.to_string()),
                    Ok(_) => None,
                    Err(RecvError::Lagged(_)) => Some("lagged".to_owned()),
                    Err(RecvError::Closed) => return,
                },
                _ = shutdown.wait_for(|stopped| *stopped) => return,
                () = sender.closed() => return,
                reloaded = reloads.changed() => {
                    let revoked = console.authenticator.is_enabled()
                        && token
                            .as_deref()
                            .is_none_or(|token| authenticate(&console.authenticator, token).is_err());
                    if reloaded.is_err() || revoked {
                        return;
                    }
                    None
                }
            };
            if let Some(id) = changed {
                let event = Event::default().event("changed").data(id);
                if sender.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
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
