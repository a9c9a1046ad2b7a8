//! Server streams that follow the change feed: an alias's state and every
//! change of it (WatchModelAlias, WatchProductionModel), and the whole
//! trail (WatchEvents). Each stream is a producer task feeding a small
//! bounded channel; the producer ends when the caller hangs up, and ends
//! the stream with UNAVAILABLE when the server shuts down.
//!
//! Memory stays bounded whatever the caller does: an alias watcher that
//! reads too slowly falls behind the feed's fixed buffer and is then sent
//! the latest state marked `skipped_changes`, not a backlog; an events
//! watcher that falls behind reads the trail from the database in pages as
//! it is able to, and follows the feed's own reads once it has caught up.

use std::sync::Arc;

use model_registry_api::v1 as pb;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::convert;
use crate::changes::ChangeFeed;
use crate::domain::commands::EventQuery;
use crate::domain::page::EventCursor;
use crate::domain::{
    AliasName, DomainError, DomainResult, Event, EventKind, FeedPosition, ModelName,
};
use crate::registry::Registry;

/// Messages buffered for a caller before its producer waits.
const STREAM_BUFFER: usize = 16;

/// How soon a catch-up that has not reached the feed's position reads the
/// trail again, doubling up to [`CATCH_UP_RETRY_MAX`].
const CATCH_UP_RETRY: std::time::Duration = std::time::Duration::from_millis(2);
const CATCH_UP_RETRY_MAX: std::time::Duration = std::time::Duration::from_millis(200);

/// Most missed changes of an alias replayed on resume; beyond, the latest
/// state is sent, marked `skipped_changes`.
const MAX_REPLAYED_CHANGES: usize = 256;

/// The stream type of the watch RPCs.
pub type Updates<T> = ReceiverStream<Result<T, Status>>;

/// What a watch needs from the server.
#[derive(Clone)]
pub struct Watches {
    /// Where states and missed changes are read.
    pub registry: Registry,
    /// The change feed.
    pub feed: ChangeFeed,
    /// Turns true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Whose reloads end the streams of revoked credentials.
    pub authenticator: std::sync::Arc<crate::auth::Authenticator>,
    /// Longest a stream stays open before its caller must resume it.
    pub lifetime: std::time::Duration,
    /// Most watch streams one principal holds at once (with authentication).
    pub per_principal: usize,
    /// The watch streams each principal holds.
    pub open: Arc<super::stream_guard::OpenStreams>,
    /// The reads of recent events, made once for every watcher.
    pub reads: Arc<super::watch_reads::WatchReads>,
}

fn shutting_down() -> Status {
    Status::unavailable(
        "the server is shutting down; reconnect (to another replica) with after_event_id set to \
         the last event id received",
    )
}

impl Watches {
    /// A slot for one more watch stream of the caller of `context`;
    /// RESOURCE_EXHAUSTED when its principal holds the most already. Without
    /// authentication every caller is the same anonymous one: not counted.
    pub fn admit(
        &self,
        context: Option<&crate::auth::RequestContext>,
    ) -> Result<Option<super::stream_guard::StreamSlot>, Status> {
        if !self.authenticator.is_enabled() {
            return Ok(None);
        }
        match context.and_then(|context| context.principal.as_ref()) {
            Some(principal) => self
                .open
                .admit(&principal.name, self.per_principal)
                .map(Some),
            None => Ok(None),
        }
    }

    /// `stream`, opened in `context` and holding `slot`, ended when the
    /// caller's credential is revoked or the stream reaches its lifetime.
    pub fn guard<T: Send + 'static>(
        &self,
        stream: tonic::codegen::BoxStream<T>,
        context: Option<crate::auth::RequestContext>,
        slot: Option<super::stream_guard::StreamSlot>,
    ) -> tonic::codegen::BoxStream<T> {
        super::stream_guard::guarded(
            stream,
            super::stream_guard::end_of_stream(
                std::sync::Arc::clone(&self.authenticator),
                context,
                self.lifetime,
            ),
            slot,
        )
    }

    /// Follows `alias` of `model`.
    pub fn alias(
        &self,
        model: ModelName,
        alias: AliasName,
        after_event_id: i64,
    ) -> Updates<pb::AliasUpdate> {
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        // Subscribe before reading any state, so no change falls between.
        let events = self.feed.subscribe();
        let watch = AliasWatch {
            registry: self.registry.clone(),
            reads: Arc::clone(&self.reads),
            model,
            alias,
            sender,
            last_event_id: after_event_id,
            last_version: None,
        };
        let open = crate::prometheus::watch_opened("alias");
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let _open = open;
            watch.run(events, shutdown).await;
        });
        ReceiverStream::new(receiver)
    }

    /// Follows the trail after the event `after_event_id` (0: from now on),
    /// in feed order: the whole trail by position, one model's events (when
    /// the filter names a model) by id through that model's index.
    pub async fn events(
        &self,
        after_event_id: i64,
        filter: EventFilter,
    ) -> DomainResult<Updates<pb::WatchEventsResponse>> {
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        // Subscribe before reading the cursor's position: see `follow_events`.
        let feed = self.feed.subscribe();
        let after = if after_event_id > 0 {
            Some(
                self.registry
                    .find_event(after_event_id)
                    .await?
                    .ok_or_else(|| {
                        DomainError::invalid(
                            "after_event_id",
                            format!(
                                "there is no event {after_event_id}: resume after an event this \
                                 trail delivered"
                            ),
                        )
                    })?,
            )
        } else {
            None
        };
        let start = match (&filter.model, after) {
            (Some(model), Some(event)) => TrailCursor::Model(model.clone(), event.id),
            (Some(model), None) => {
                TrailCursor::Model(model.clone(), self.registry.model_head(model).await?)
            }
            (None, Some(event)) => TrailCursor::Trail(event.position()),
            // From the trail as the database has it, not as far as this
            // replica's feed has read: a change answered before this call
            // is never sent.
            (None, None) => TrailCursor::Trail(self.registry.feed_head().await?),
        };
        let open = crate::prometheus::watch_opened("events");
        let following = follow_events(
            self.registry.clone(),
            start,
            filter,
            sender,
            (self.feed.clone(), feed),
            self.shutdown.clone(),
        );
        tokio::spawn(async move {
            let _open = open;
            following.await;
        });
        Ok(ReceiverStream::new(receiver))
    }
}

/// Where an events watch is in the trail.
enum TrailCursor {
    /// The whole trail, after this position.
    Trail(FeedPosition),
    /// One model's events, after this id.
    Model(ModelName, i64),
}

impl TrailCursor {
    /// The next events after the cursor (and whether more follow at once),
    /// moving it past them.
    async fn read(&mut self, registry: &Registry) -> DomainResult<(Vec<Event>, bool)> {
        const PAGE: usize = 500;
        match self {
            Self::Trail(last) => {
                let batch = registry.events_after(*last, PAGE).await?;
                if let Some(event) = batch.events.last() {
                    *last = event.position();
                }
                Ok((batch.events, batch.more))
            }
            Self::Model(model, last) => {
                let events = registry.model_events_after(model, *last, PAGE).await?;
                if let Some(event) = events.last() {
                    *last = event.id;
                }
                let more = events.len() == PAGE;
                Ok((events, more))
            }
        }
    }

    /// Whether the cursor is at or past `position` of the feed. One model's
    /// events are read by id, without a horizon: always every committed one.
    fn covers(&self, position: FeedPosition) -> bool {
        match self {
            Self::Trail(last) => *last >= position,
            Self::Model(..) => true,
        }
    }

    /// Whether `event`, the feed's next, comes after the cursor (moving
    /// the cursor past it). One model's events reach the feed in id order.
    fn passes(&mut self, event: &Event) -> bool {
        match self {
            Self::Trail(last) => {
                let after = event.position() > *last;
                if after {
                    *last = event.position();
                }
                after
            }
            Self::Model(model, last) => {
                let after = event.model_name == *model && event.id > *last;
                if after {
                    *last = event.id;
                }
                after
            }
        }
    }
}

/// Which events a WatchEvents caller wants.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this model.
    pub model: Option<ModelName>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<EventKind>,
    /// Only this alias.
    pub alias: Option<AliasName>,
}

impl EventFilter {
    fn accepts(&self, event: &Event) -> bool {
        self.model.as_ref().is_none_or(|m| *m == event.model_name)
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && self
                .alias
                .as_ref()
                .is_none_or(|a| event.alias.as_deref() == Some(a.as_str()))
    }
}

struct AliasWatch {
    registry: Registry,
    reads: Arc<super::watch_reads::WatchReads>,
    model: ModelName,
    alias: AliasName,
    sender: mpsc::Sender<Result<pb::AliasUpdate, Status>>,
    /// The last event the caller has been told about.
    last_event_id: i64,
    /// The version last sent (for `latest`, which has no events of its own).
    last_version: Option<i64>,
}

impl AliasWatch {
    async fn run(
        mut self,
        mut events: broadcast::Receiver<Arc<Event>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let started = if self.last_event_id > 0 {
            self.replay().await
        } else {
            self.send_state(true, false).await
        };
        if let Err(status) = started {
            let _ = self.sender.send(Err(status)).await;
            return;
        }
        loop {
            let outcome = tokio::select! {
                received = events.recv() => match received {
                    Ok(event) => self.on_event(&event).await,
                    // Fell behind the feed's buffer: the latest state instead.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.send_state(false, true).await,
                    Err(broadcast::error::RecvError::Closed) => Err(shutting_down()),
                },
                _ = shutdown.changed() => Err(shutting_down()),
                () = self.sender.closed() => return,
            };
            if let Err(status) = outcome {
                let _ = self.sender.send(Err(status)).await;
                return;
            }
        }
    }

    /// After a reconnection: every change after the caller's last event, or
    /// the latest state when there are too many. One indexed read of this
    /// alias's events (`events (model_id, alias, id)`), however long the
    /// rest of the trail after the cursor is.
    async fn replay(&mut self) -> Result<(), Status> {
        if self.alias.is_latest() {
            return self.send_state(true, false).await;
        }
        let query = EventQuery {
            model_name: Some(self.model.clone()),
            version: None,
            kinds: EventKind::ALIAS_MOVES.to_vec(),
            alias: Some(self.alias.clone()),
            actor: None,
            newest_first: false,
            since: None,
            until: None,
            page_size: MAX_REPLAYED_CHANGES,
            // One model's events: by id (see `FeedPosition`).
            after: Some(EventCursor {
                after_id: self.last_event_id,
                after_tx: 0,
            }),
        };
        let missed = self.registry.list_events(query).await?;
        if missed.more {
            return self.send_state(false, true).await;
        }
        for (event, _) in missed.items {
            self.send_change(&event).await?;
        }
        Ok(())
    }

    fn concerns(&self, event: &Event) -> bool {
        event.model_name == self.model
            && event.kind.moves_alias()
            && event.alias.as_deref() == Some(self.alias.as_str())
    }

    async fn on_event(&mut self, event: &Event) -> Result<(), Status> {
        if event.id <= self.last_event_id || event.model_name != self.model {
            return Ok(());
        }
        if self.alias.is_latest() {
            // `latest` moves with registrations and status changes.
            if matches!(
                event.kind,
                EventKind::VersionRegistered | EventKind::StatusChanged
            ) {
                let (version, _) = self
                    .reads
                    .alias_state(&self.registry, event.id, &self.model, &self.alias)
                    .await?;
                let number = version.as_ref().map(|v| v.version);
                if number != self.last_version {
                    self.last_version = number;
                    self.last_event_id = event.id;
                    return self
                        .send(version, event.id, Some(event), false, false)
                        .await;
                }
            }
            return Ok(());
        }
        if self.concerns(event) {
            return self.send_change(event).await;
        }
        Ok(())
    }

    async fn send_change(&mut self, event: &Event) -> Result<(), Status> {
        let version = match event.new_version {
            Some(number) => {
                self.reads
                    .version(&self.registry, event.id, &self.model, number)
                    .await?
            }
            None => None,
        };
        self.last_event_id = event.id;
        self.last_version = event.new_version;
        self.send(version, event.id, Some(event), false, false)
            .await
    }

    async fn send_state(&mut self, initial: bool, skipped: bool) -> Result<(), Status> {
        let (version, event_id) = self
            .registry
            .alias_state(self.model.clone(), self.alias.clone())
            .await?;
        self.last_event_id = self.last_event_id.max(event_id);
        self.last_version = version.as_ref().map(|v| v.version);
        self.send(version, self.last_event_id, None, initial, skipped)
            .await
    }

    async fn send(
        &mut self,
        version: Option<crate::domain::ModelVersion>,
        event_id: i64,
        event: Option<&Event>,
        initial: bool,
        skipped_changes: bool,
    ) -> Result<(), Status> {
        let update = pb::AliasUpdate {
            model_name: self.model.as_str().to_owned(),
            alias: self.alias.as_str().to_owned(),
            model_version: version.map(convert::version_to_wire),
            event_id,
            event: event.cloned().map(convert::event_to_wire),
            initial,
            skipped_changes,
        };
        // A caller that hung up ends the watch quietly.
        self.sender
            .send(Ok(update))
            .await
            .map_err(|_| Status::cancelled("the caller left"))
    }
}

async fn follow_events(
    registry: Registry,
    mut cursor: TrailCursor,
    filter: EventFilter,
    sender: mpsc::Sender<Result<pb::WatchEventsResponse, Status>>,
    (fed, mut feed): (ChangeFeed, broadcast::Receiver<Arc<Event>>),
    mut shutdown: watch::Receiver<bool>,
) {
    let outcome: DomainResult<()> = async {
        // What the subscription may have missed is at or before this.
        let mut missed_up_to = fed.position();
        loop {
            // Catch up from the trail, page by page, as fast as the caller
            // takes them: every event once, in feed order; at least as far
            // as the feed had gone before the subscription.
            let mut retry = CATCH_UP_RETRY;
            loop {
                let (events, more) = cursor.read(&registry).await?;
                for event in events {
                    if !send_event(&sender, &filter, event).await {
                        return Ok(());
                    }
                }
                if more {
                    continue;
                }
                if cursor.covers(missed_up_to) {
                    break;
                }
                // The trail does not show yet what the feed read: never
                // skip it, read again shortly.
                tracing::debug!(?missed_up_to, "the trail is behind the feed; reading again");
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = sender.closed() => return Ok(()),
                }
                retry = (retry * 2).min(CATCH_UP_RETRY_MAX);
            }
            // Then follow the feed itself, which read each event once for
            // every watcher of this replica. It is gap-free and was
            // subscribed before the catch-up began, and the catch-up read at
            // least as far as the feed had when subscribed, so its events
            // after the cursor follow on exactly. A watcher that falls
            // behind the feed's buffer catches up from the trail again.
            loop {
                tokio::select! {
                    received = feed.recv() => match received {
                        Ok(event) => {
                            if cursor.passes(&event)
                                && !send_event(&sender, &filter, Event::clone(&event)).await
                            {
                                return Ok(());
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            missed_up_to = fed.position();
                            break;
                        }
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                    _ = shutdown.changed() => {
                        let _ = sender.send(Err(shutting_down())).await;
                        return Ok(());
                    }
                    () = sender.closed() => return Ok(()),
                }
            }
        }
    }
    .await;
    if let Err(error) = outcome {
        let _ = sender.send(Err(Status::from(error))).await;
    }
}

/// Sends `event` if the caller wants it; false once the caller has left.
async fn send_event(
    sender: &mpsc::Sender<Result<pb::WatchEventsResponse, Status>>,
    filter: &EventFilter,
    event: Event,
) -> bool {
    if !filter.accepts(&event) {
        return true;
    }
    let message = pb::WatchEventsResponse {
        event: Some(convert::event_to_wire(event)),
    };
    sender.send(Ok(message)).await.is_ok()
}
