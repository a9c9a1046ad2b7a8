//! The PostgreSQL listener: one dedicated connection per server (outside
//! the pools) that LISTENs for the notification a trigger on `events` sends
//! when a write that appended events commits, and wakes the feed's reader.
//! TCP keepalives and a ping every few seconds find a connection that went
//! half-open (a notification never comes on it, so silence alone proves
//! nothing); a lost connection is
//! re-made with backoff, and after every (re)connection the reader is
//! woken, so events committed while nobody listened are read from the
//! trail all the same. While it is not connected, the alias cache the
//! feed keeps is not used.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use tokio::sync::{Notify, watch};
use tokio_stream::StreamExt;

use crate::store::{EVENTS_CHANNEL, FedCache};

/// The application name the listener's connection carries (what an
/// operator sees in pg_stat_activity).
pub const LISTENER_APPLICATION_NAME: &str = "model-registry listener";

/// How often the listener pings its connection while no notification comes.
const PING_EVERY: Duration = Duration::from_secs(5);
/// How long a ping may take before the connection counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// What woke the listener.
enum Heard {
    Notification(Option<diesel::QueryResult<diesel::pg::PgNotification>>),
    PingDue,
    Stop,
}

pub async fn listen(
    url: String,
    cache: Option<Arc<FedCache>>,
    wake: Arc<Notify>,
    received: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect(&url).await {
            Ok(mut conn) => {
                backoff = Duration::from_millis(100);
                super::figures::feed_connected(true);
                // Before the wake-up: the read it causes resumes the cache.
                if let Some(cache) = &cache {
                    cache.listener_connected();
                }
                // Catch up on whatever committed while nobody listened.
                wake.notify_one();
                let mut ping = tokio::time::interval(PING_EVERY);
                ping.reset();
                loop {
                    // Notifications wait in the connection's queue while
                    // the stream is dropped for a ping.
                    let heard = {
                        let mut notifications = std::pin::pin!(conn.notifications_stream());
                        tokio::select! {
                            next = notifications.next() => Heard::Notification(next),
                            _ = ping.tick() => Heard::PingDue,
                            _ = stop.changed() => Heard::Stop,
                        }
                    };
                    match heard {
                        Heard::Notification(Some(Ok(_))) => {
                            received.fetch_add(1, Ordering::Relaxed);
                            super::figures::change_notified("postgres");
                            wake.notify_one();
                            ping.reset();
                        }
                        Heard::Notification(Some(Err(error))) => {
                            tracing::warn!(error = %error, "change listener failed; reconnecting");
                            break;
                        }
                        Heard::Notification(None) => {
                            tracing::warn!("change listener lost its connection; reconnecting");
                            break;
                        }
                        Heard::PingDue => {
                            match tokio::time::timeout(PING_TIMEOUT, conn.batch_execute("SELECT 1"))
                                .await
                            {
                                Ok(Ok(())) => {}
                                Ok(Err(error)) => {
                                    tracing::warn!(error = %error, "change listener's ping failed; reconnecting");
                                    break;
                                }
                                Err(_) => {
                                    tracing::warn!(
                                        timeout_ms = PING_TIMEOUT.as_millis() as u64,
                                        "change listener's ping went unanswered; reconnecting"
                                    );
                                    break;
                                }
                            }
                        }
                        Heard::Stop => return,
                    }
                }
                super::figures::feed_connected(false);
                // Commits may go unheard now: reads go to the database.
                if let Some(cache) = &cache {
                    cache.listener_lost();
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, retry_ms = backoff.as_millis() as u64, "change listener cannot connect");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect(url: &str) -> Result<AsyncPgConnection, String> {
    let connecting = async {
        let mut conn = crate::store::establish_postgres(url)
            .await
            .map_err(|e| e.to_string())?;
        conn.batch_execute(&format!(
            "SET application_name = '{LISTENER_APPLICATION_NAME}'; LISTEN {EVENTS_CHANNEL};"
        ))
        .await
        .map_err(|e| e.to_string())?;
        Ok(conn)
    };
    tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .map_err(|_| "connecting timed out".to_owned())?
}
