//! The events an unordered subscription set aside: each is retried on its
//! own backoff, once per round of its worker, while later events go on; it
//! leaves the set when delivered (or skipped by a resume), and pauses the
//! subscription when refused or older than the maximum age.

use std::time::Duration;

use super::{AttemptVerdict, Next, Worker, chrono_of, describe_failure};
use crate::domain::time;
use crate::store::{Progress, RetryRow, SetAside, from_db_time, to_db_time};

impl Worker {
    /// How long until the next set-aside event is due (zero: one is).
    pub(super) fn next_set_aside_due(&self) -> Duration {
        let now = time::now();
        self.set_aside
            .iter()
            .map(|row| {
                (from_db_time(row.next_at) - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            })
            .min()
            .unwrap_or(Duration::MAX)
    }

    /// Attempts each set-aside event that is due, once.
    pub(super) async fn retry_set_aside(&mut self) -> Next {
        let now = time::now();
        let due: Vec<RetryRow> = self
            .set_aside
            .iter()
            .filter(|row| from_db_time(row.next_at) <= now)
            .cloned()
            .collect();
        if due.is_empty() {
            return Next::Continue;
        }
        if let Next::Stop = self.flush().await {
            return Next::Stop;
        }
        for retry in due {
            let past = Progress::Past {
                cursor: self.cursor,
                delivered_at: self.last_delivered_at,
            };
            let event = match self
                .shared
                .registry
                .store()
                .find_event(retry.event_id)
                .await
            {
                Ok(Some(event)) => event,
                // Gone from the trail (it is never pruned today): nothing to send.
                Ok(None) => {
                    let drop = SetAside::Drop(retry.event_id);
                    if let Next::Stop = self.record(Vec::new(), past, drop).await {
                        return Next::Stop;
                    }
                    continue;
                }
                Err(error) => {
                    tracing::warn!(webhook = self.webhook.id, error = %error, "webhook worker cannot read a set-aside event");
                    return Next::Continue;
                }
            };
            let Some(sent) = self.send(&event).await else {
                return Next::Stop;
            };
            let attempt = retry.attempts + 1;
            let row = self.logged(&event, attempt, &sent);
            let next = if sent.verdict == AttemptVerdict::Delivered {
                self.last_delivered_at = Some(sent.attempted_at);
                let delivered = Progress::Past {
                    cursor: self.cursor,
                    delivered_at: self.last_delivered_at,
                };
                self.record(vec![row], delivered, SetAside::Drop(event.id))
                    .await
            } else {
                let since = from_db_time(retry.since);
                let failing = sent.verdict == AttemptVerdict::Refused || self.expired(since);
                let failure = describe_failure(&sent.answer);
                let kept = RetryRow {
                    attempts: attempt,
                    failure: failure.clone(),
                    next_at: to_db_time(
                        time::now() + chrono_of(self.backoff(attempt, &sent.answer)),
                    ),
                    ..retry
                };
                if failing {
                    tracing::warn!(webhook = self.webhook.id, event = event.id, failure = %failure, "webhook subscription paused (FAILING) on a set-aside event until an admin resumes it");
                    let paused = Progress::Failed {
                        event_id: event.id,
                        since,
                        attempts: attempt,
                        failure,
                        failing: true,
                    };
                    self.record(vec![row], paused, SetAside::Keep(kept)).await;
                    return Next::Stop;
                }
                self.record(vec![row], past, SetAside::Keep(kept)).await
            };
            if let Next::Stop = next {
                return Next::Stop;
            }
        }
        Next::Continue
    }
}
