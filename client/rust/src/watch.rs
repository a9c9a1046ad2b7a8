//! Following an alias: a [`Stream`] of [`AliasUpdate`]s that survives
//! the registry going away. When the connection drops (or the server says
//! UNAVAILABLE, e.g. while a replica shuts down) it reconnects with backoff
//! and resumes after the last event it delivered, so a caller misses no
//! change. Errors that retrying cannot fix (the model does not exist, no
//! permission) end the stream after being yielded once.
//!
//! ```no_run
//! # async fn example() -> Result<(), model_registry_client::Error> {
//! use model_registry_client::RegistryClient;
//! use tokio_stream::StreamExt;
//!
//! let client = RegistryClient::connect("http://127.0.0.1:50051").await?;
//! let mut updates = client.watch_alias("churn", "production");
//! while let Some(update) = updates.next().await {
//!     let update = update?;
//!     match update.model_version() {
//!         Some(version) => println!("serve version {}", version.version()),
//!         None => println!("nothing in production"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use model_registry_api::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::client::RegistryClient;
use crate::error::{Error, Result};
use crate::types::AliasUpdate;

/// Updates buffered ahead of the caller.
const BUFFER: usize = 16;

/// A live watch of one alias; see the module documentation.
#[must_use = "a watch does nothing unless polled"]
pub struct AliasWatch {
    updates: ReceiverStream<Result<AliasUpdate>>,
}

impl Stream for AliasWatch {
    type Item = Result<AliasUpdate>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.updates).poll_next(cx)
    }
}

impl RegistryClient {
    /// Follows `alias` of `model_name` (`production`, `canary`, `latest` …):
    /// the current state first, then every change, reconnecting and
    /// resuming as needed.
    pub fn watch_alias(&self, model_name: &str, alias: &str) -> AliasWatch {
        self.watch_alias_after(model_name, alias, 0)
    }

    /// Like [`RegistryClient::watch_alias`], resuming after event
    /// `after_event_id` (e.g. the last one a previous run handled).
    pub fn watch_alias_after(
        &self,
        model_name: &str,
        alias: &str,
        after_event_id: i64,
    ) -> AliasWatch {
        let (sender, receiver) = mpsc::channel(BUFFER);
        let request = pb::WatchModelAliasRequest {
            model_name: model_name.to_owned(),
            alias: alias.to_owned(),
            after_event_id,
        };
        tokio::spawn(follow(self.clone(), request, sender));
        AliasWatch {
            updates: ReceiverStream::new(receiver),
        }
    }
}

/// Whether a watch that ended with `status` should reconnect.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::DeadlineExceeded
    )
}

async fn follow(
    client: RegistryClient,
    mut request: pb::WatchModelAliasRequest,
    sender: mpsc::Sender<Result<AliasUpdate>>,
) {
    let policy = client.retry_policy().clone();
    let mut failures = 0u32;
    loop {
        let mut raw = client.raw();
        let ended = match raw.watch_model_alias(request.clone()).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(update)) => {
                            failures = 0;
                            request.after_event_id = request.after_event_id.max(update.event_id);
                            if sender.send(Ok(update.into())).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break None,
                        Err(status) => break Some(status),
                    }
                }
            }
            Err(status) => Some(status),
        };
        // A stream that ended cleanly (the server went away) or with a
        // transient error resumes; any other error is the caller's to see.
        if let Some(status) = ended
            && !transient(status.code())
        {
            let _ = sender.send(Err(Error::from(status))).await;
            return;
        }
        // Reconnect after a pause; the caller can stop by dropping the watch.
        let pause = policy.backoff(failures.min(16));
        failures = failures.saturating_add(1);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = sender.closed() => return,
        }
    }
}
