//! The one change feed. A reader per server follows the event trail ("the
//! events after id N", visible in commit order) and broadcasts each new
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

/// The feed of new events; cheap to clone.
#[derive(Clone)]
pub struct ChangeFeed {
    events: broadcast::Sender<Arc<Event>>,
    head: watch::Receiver<i64>,
    notifications: Arc<AtomicU64>,
}

impl ChangeFeed {
    /// Starts following the trail of `store` until `stop` turns true.
    pub fn start(store: Store, stop: watch::Receiver<bool>) -> Self {
        let (events, _) = broadcast::channel(FEED_CAPACITY);
        let (head_sender, head) = watch::channel(0);
        let wake = Arc::new(Notify::new());
        let notifications = Arc::new(AtomicU64::new(0));
        if let DatabaseUrl::Postgres(url) = store.url() {
            tokio::spawn(listener::listen(
                url.clone(),
                Arc::clone(&wake),
                Arc::clone(&notifications),
                stop.clone(),
            ));
        }
        tokio::spawn(read_trail(store, events.clone(), head_sender, wake, stop));
        Self {
            events,
            head,
            notifications,
        }
    }

    /// Every event broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// The id of the last event broadcast (0 until the reader started).
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// How many PostgreSQL notifications the listener received.
    pub fn notifications_received(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }
}

async fn read_trail(
    store: Store,
    events: broadcast::Sender<Arc<Event>>,
    head: watch::Sender<i64>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    // Start from the newest event: subscribers read the past themselves.
    let mut last = loop {
        match store.last_event_id().await {
            Ok(id) => break id,
            Err(error) => {
                tracing::warn!(error = %error, "change feed cannot read the trail yet");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    head.send_replace(last);
    let mut writes = store.writes();
    loop {
        loop {
            match store.events_after(last, READ_BATCH).await {
                Ok(batch) => {
                    let full = batch.len() == READ_BATCH;
                    for event in batch {
                        last = event.id;
                        // No subscriber is not an error.
                        let _ = events.send(Arc::new(event));
                    }
                    head.send_replace(last);
                    if !full {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "change feed cannot read the trail");
                    break;
                }
            }
        }
        tokio::select! {
            _ = writes.changed() => figures::change_notified("local"),
            () = wake.notified() => {}
            () = tokio::time::sleep(SAFETY_POLL) => {}
            _ = stop.changed() => return,
        }
    }
}
