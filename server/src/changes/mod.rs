//! The one change feed. A reader per server follows the event trail in feed
//! order ("the events after position P", see `store/sql/events.rs`) and
//! broadcasts each new
//! event to every subscriber in this process: watch streams today, the web
//! console's live updates and any cache tomorrow. It wakes when this
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

use crate::domain::Event;
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
                Arc::clone(&wake),
                Arc::clone(&notifications),
                stop.clone(),
            ));
        }
        tokio::spawn(read_trail(store, events.clone(), wake, stop));
        Self {
            events,
            notifications,
        }
    }

    /// Every event broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// How many PostgreSQL notifications the listener received.
    pub fn notifications_received(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }
}

async fn read_trail(
    store: Store,
    events: broadcast::Sender<Arc<Event>>,
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
    let mut held_back_poll = HELD_BACK_POLL;
    loop {
        let mut held_back = None;
        loop {
            match store.events_after(last, READ_BATCH).await {
                Ok(batch) => {
                    for event in batch.events {
                        last = event.position();
                        // No subscriber is not an error.
                        let _ = events.send(Arc::new(event));
                    }
                    held_back = batch.held_back_since;
                    if !batch.more {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "change feed cannot read the trail");
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
