//! How an open stream ends besides its caller leaving or the server
//! stopping: when the credential it was opened with is revoked or changed by
//! a reload of the tokens file (UNAUTHENTICATED, within the reload), and
//! when it reaches its maximum lifetime (UNAVAILABLE: the caller resumes
//! with its cursor, and is authenticated again on the way), or earlier when
//! the identity provider's token it was opened with expires (UNAVAILABLE
//! too: a client with a renewed token resumes, one without is refused). A
//! principal holds at most so many watch streams at once.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_stream::Stream;
use tonic::Status;
use tonic::codegen::BoxStream;

use crate::auth::{Authenticator, RequestContext};

/// `stream`, ended early by `ending` when it resolves, holding `slot`
/// while it is open.
pub fn guarded<T: Send + 'static>(
    stream: BoxStream<T>,
    ending: impl Future<Output = Status> + Send + 'static,
    slot: Option<StreamSlot>,
) -> BoxStream<T> {
    Box::pin(Guarded {
        inner: stream,
        ending: Box::pin(ending),
        done: false,
        _slot: slot,
    })
}

/// The watch streams each principal holds open.
#[derive(Debug, Default)]
pub struct OpenStreams {
    by_principal: Mutex<HashMap<String, usize>>,
}

/// One open stream of a principal, counted until dropped.
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<OpenStreams>,
    principal: String,
}

impl OpenStreams {
    /// A slot for one more stream of `principal`, or RESOURCE_EXHAUSTED
    /// when it holds `most` already.
    pub fn admit(self: &Arc<Self>, principal: &str, most: usize) -> Result<StreamSlot, Status> {
        let mut open = self
            .by_principal
            .lock()
            .map_err(|_| Status::internal("the stream count is unavailable"))?;
        let count = open.entry(principal.to_owned()).or_default();
        if *count >= most {
            return Err(Status::resource_exhausted(format!(
                "principal {principal:?} holds {most} watch streams already, the most one \
                 principal may; close one, or watch several aliases through WatchEvents"
            )));
        }
        *count += 1;
        Ok(StreamSlot {
            streams: Arc::clone(self),
            principal: principal.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.streams.by_principal.lock()
            && let Some(count) = open.get_mut(&self.principal)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.principal);
            }
        }
    }
}

/// Resolves when a stream opened in `context` must end: its credential no
/// longer names the same principal with the same grant after a reload, or
/// `lifetime` passed, or the credential expired.
pub async fn end_of_stream(
    authenticator: Arc<Authenticator>,
    context: Option<RequestContext>,
    lifetime: Duration,
) -> Status {
    let opened_with = context.and_then(|context| context.principal.zip(context.credential));
    let credential_left = opened_with
        .as_ref()
        .and_then(|(_, credential)| credential.expires_at())
        .map(|at| {
            at.duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
        });
    if let Some(left) = credential_left
        && left < lifetime
    {
        tokio::select! {
            status = watch_reloads(&authenticator, opened_with.as_ref(), lifetime) => return status,
            () = tokio::time::sleep(left) => return Status::unavailable(
                "the token this stream was opened with expired; reconnect with a fresh token, \
                 with after_event_id set to the last event id received",
            ),
        }
    }
    watch_reloads(&authenticator, opened_with.as_ref(), lifetime).await
}

/// Resolves when a reload revokes or changes `opened_with`, or `lifetime`
/// passed.
async fn watch_reloads(
    authenticator: &Authenticator,
    opened_with: Option<&(crate::auth::Principal, crate::auth::Credential)>,
    lifetime: Duration,
) -> Status {
    let expiry = tokio::time::sleep(lifetime);
    tokio::pin!(expiry);
    let mut reloads = authenticator.reloads();
    loop {
        tokio::select! {
            changed = reloads.changed() => {
                if changed.is_err() {
                    // The authenticator is gone: only the lifetime is left.
                    expiry.as_mut().await;
                    return expired();
                }
                if let Some((principal, credential)) = opened_with
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
    _slot: Option<StreamSlot>,
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
