//! The one change feed. A reader per server follows the event trail in feed
//! order ("the events after position P", see `store/sql/events.rs`) and
//! broadcasts each new
//! event to every subscriber in this process: watch streams and the web
//! console's live updates; on PostgreSQL it first empties the alias cache
//! of the event's model (`store/fed_cache.rs`), and keeps that cache live
//! only while its listener is connected and its reads succeed. It wakes when this
//! process commits a write, when another replica's commit is announced by
//! PostgreSQL (see `listener`), and every few seconds as a safety net. What
//! is broadcast always comes from the table, never from the notification,
//! so a notification lost while the listener reconnected costs nothing.

pub mod figures;
mod listener;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};

use crate::domain::{Event, FeedPosition};
use crate::store::{DatabaseUrl, Store};

/// Events kept for subscribers that fall behind; one that falls further
/// behind is told so (and re-reads the state it needs).
pub const FEED_CAPACITY: usize = 1024;

/// How often the reader looks at the trail even without a wake-up.
const SAFETY_POLL: Duration = Duration::from_secs(5);

/// How many events the reader takes per query.
const READ_BATCH: usize = 500;

/// How soon the reader looks again while committed events wait behind a
/// transaction still running (whose end is announced only if it wrote
/// events), doubling up to [`HELD_BACK_POLL_MAX`].
const HELD_BACK_POLL: Duration = Duration::from_millis(2);
const HELD_BACK_POLL_MAX: Duration = Duration::from_millis(200);

/// The feed of new events; cheap to clone.
#[derive(Clone)]
pub struct ChangeFeed {
    events: broadcast::Sender<Arc<Event>>,
    /// The position of the newest event broadcast, set before it is sent:
    /// an event a subscriber did not receive is at or before the position
    /// it reads after subscribing.
    position: Arc<watch::Sender<FeedPosition>>,
    notifications: Arc<AtomicU64>,
}

impl ChangeFeed {
    /// Starts following the trail of `store` until `stop` turns true.
    pub fn start(store: Store, stop: watch::Receiver<bool>) -> Self {
        let (events, _) = broadcast::channel(FEED_CAPACITY);
        let wake = Arc::new(Notify::new());
        let notifications = Arc::new(AtomicU64::new(0));
        // PostgreSQL: not until the listener connects.
        figures::feed_connected(!matches!(store.url(), DatabaseUrl::Postgres(_)));
        figures::feed_lag(0.0);
        if let DatabaseUrl::Postgres(url) = store.url() {
            tokio::spawn(listener::listen(
                url.clone(),
                store.fed_cache().cloned(),
                Arc::clone(&wake),
                Arc::clone(&notifications),
                stop.clone(),
            ));
        }
        let position = Arc::new(watch::channel(FeedPosition::default()).0);
        tokio::spawn(read_trail(
            store,
            events.clone(),
            Arc::clone(&position),
            wake,
            stop,
        ));
        Self {
            events,
            position,
            notifications,
        }
    }

    /// Every event broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// The position of the newest event broadcast. Read after subscribing,
    /// it bounds what the subscription missed: every event not received
    /// is at or before it.
    pub fn position(&self) -> FeedPosition {
        *self.position.borrow()
    }

    /// How many PostgreSQL notifications the listener received.
    pub fn notifications_received(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }
}

async fn read_trail(
    store: Store,
    events: broadcast::Sender<Arc<Event>>,
    position: Arc<watch::Sender<FeedPosition>>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    // Start from now: subscribers read the past themselves.
    let mut last = loop {
        match store.feed_head().await {
            Ok(position) => break position,
            Err(error) => {
                tracing::warn!(error = %error, "change feed cannot read the trail yet");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    let mut writes = store.writes();
    let cache = store.fed_cache().cloned();
    let mut held_back_poll = HELD_BACK_POLL;
    loop {
        let mut held_back = None;
        let listener = cache.as_ref().map(|cache| cache.listener());
        loop {
            match store.events_after(last, READ_BATCH).await {
                Ok(batch) => {
                    for event in batch.events {
                        last = event.position();
                        // The cache first: a watcher told of the event reads
                        // what it changed.
                        if let Some(cache) = &cache {
                            cache.changed(event.model_name.as_str());
                        }
                        position.send_replace(last);
                        // No subscriber is not an error.
                        let _ = events.send(Arc::new(event));
                    }
                    held_back = batch.held_back_since;
                    if !batch.more {
                        if let (Some(cache), Some(listener)) = (&cache, listener) {
                            cache.applied(batch.horizon);
                            cache.resume(listener);
                        }
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "change feed cannot read the trail");
                    if let Some(cache) = &cache {
                        cache.suspend();
                    }
                    break;
                }
            }
        }
        let lag = held_back.map_or(0.0, |since| {
            (crate::domain::time::now() - since)
                .num_milliseconds()
                .max(0) as f64
                / 1000.0
        });
        figures::feed_lag(lag);
        let next_look = if held_back.is_some() {
            let wait = held_back_poll;
            held_back_poll = (held_back_poll * 2).min(HELD_BACK_POLL_MAX);
            wait
        } else {
            held_back_poll = HELD_BACK_POLL;
            SAFETY_POLL
        };
        tokio::select! {
            _ = writes.changed() => figures::change_notified("local"),
            () = wake.notified() => {}
            () = tokio::time::sleep(next_look) => {}
            _ = stop.changed() => return,
        }
    }
}
