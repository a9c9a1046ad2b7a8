//! How an open stream ends besides its caller leaving or the server
//! stopping: when the credential it was opened with is revoked or changed by
//! a reload of the tokens file (UNAUTHENTICATED, within the reload), and
//! when it reaches its maximum lifetime (UNAVAILABLE: the caller resumes
//! with its cursor, and is authenticated again on the way).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_stream::Stream;
use tonic::Status;
use tonic::codegen::BoxStream;

use crate::auth::{Authenticator, RequestContext};

/// `stream`, ended early by `ending` when it resolves.
pub fn guarded<T: Send + 'static>(
    stream: BoxStream<T>,
    ending: impl Future<Output = Status> + Send + 'static,
) -> BoxStream<T> {
    Box::pin(Guarded {
        inner: stream,
        ending: Box::pin(ending),
        done: false,
    })
}

/// Resolves when a stream opened in `context` must end: its credential no
/// longer names the same principal with the same grant after a reload, or
/// `lifetime` passed.
pub async fn end_of_stream(
    authenticator: Arc<Authenticator>,
    context: Option<RequestContext>,
    lifetime: Duration,
) -> Status {
    let expiry = tokio::time::sleep(lifetime);
    tokio::pin!(expiry);
    let mut reloads = authenticator.reloads();
    let opened_with = context.and_then(|context| context.principal.zip(context.credential));
    loop {
        tokio::select! {
            changed = reloads.changed() => {
                if changed.is_err() {
                    // The authenticator is gone: only the lifetime is left.
                    expiry.as_mut().await;
                    return expired();
                }
                if let Some((principal, credential)) = &opened_with
                    && !authenticator.still_valid(credential, principal)
                {
                    return Status::unauthenticated(
                        "the credential this stream was opened with was revoked or changed; \
                         reconnect with a valid token",
                    );
                }
            }
            () = expiry.as_mut() => return expired(),
        }
    }
}

fn expired() -> Status {
    Status::unavailable(
        "this stream reached its maximum lifetime; reconnect, with after_event_id set to the \
         last event id received",
    )
}

struct Guarded<T> {
    inner: BoxStream<T>,
    ending: Pin<Box<dyn Future<Output = Status> + Send>>,
    done: bool,
}

impl<T> Stream for Guarded<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(status) = this.ending.as_mut().poll(cx) {
            this.done = true;
            return Poll::Ready(Some(Err(status)));
        }
        let next = this.inner.as_mut().poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            this.done = true;
        }
        next
    }
}
