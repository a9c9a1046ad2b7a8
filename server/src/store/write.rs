//! The write path's promise to callers: a change commits before its answer
//! or not at all. A write runs on a task of its own (a caller hanging up
//! cannot abandon it half-way) and checks, just before committing, whether
//! its caller's deadline passed; the caller, past its deadline, marks the
//! write abandoned, cancels its statement (PostgreSQL) and waits a moment
//! for the task to end, so its answer says what happened. Only when the
//! database does not answer at all is the outcome unknown, and the caller is
//! told so (UNAVAILABLE: retry with the same request_id to find out).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::domain::{DomainError, DomainResult};

/// Counts one change from the moment it is submitted until its task ends
/// (committed, rolled back or refused): what the write path has in hand.
pub struct Pending(Arc<AtomicUsize>);

impl Pending {
    /// Counts one more change in `counter`, until dropped.
    pub fn count(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(counter))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a caller past its deadline waits for its write to stop.
const ABANDON_GRACE: Duration = Duration::from_secs(2);

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

/// Shared between a write's task and its caller: queued, started (its
/// transaction began) or abandoned (its caller gave up).
#[derive(Clone, Default)]
pub struct Gate(Arc<AtomicU8>);

impl Gate {
    /// Called first thing inside the transaction: fails when the caller gave
    /// up while the write waited for its connection or lock.
    pub fn start(&self) -> DomainResult<()> {
        match self
            .0
            .compare_exchange(QUEUED, STARTED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => Ok(()),
            Err(_) => Err(deadline_exceeded()),
        }
    }

    /// Fails (rolling the transaction back) when the caller gave up.
    pub fn check(&self) -> DomainResult<()> {
        if self.0.load(Ordering::SeqCst) == ABANDONED {
            Err(deadline_exceeded())
        } else {
            Ok(())
        }
    }

    /// Marks the write abandoned; true when it had not started, so it
    /// certainly will not happen.
    fn abandon(&self) -> bool {
        self.0.swap(ABANDONED, Ordering::SeqCst) == QUEUED
    }
}

fn deadline_exceeded() -> DomainError {
    DomainError::DeadlineExceeded(
        "the change did not complete before the call's deadline and was not made; retry it \
         (with the same request_id)"
            .to_owned(),
    )
}

/// Abandons a write whose caller went away before its answer (the client
/// reset the call at its deadline, or hung up, and the handler was dropped):
/// a change not yet committed will not be, and its statement is cancelled,
/// so it cannot commit seconds later once a lock frees.
struct AbandonOnDrop {
    gate: Gate,
    statement: oneshot::Receiver<tokio_postgres::CancelToken>,
    armed: bool,
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.gate.abandon();
            if let Ok(token) = self.statement.try_recv() {
                super::pools::cancel(token);
            }
        }
    }
}

/// Waits for a write task until `deadline`; past it, abandons the write and
/// reports what became of it. Dropped before it answers, it abandons the
/// write too.
pub async fn finish<T>(
    task: JoinHandle<DomainResult<T>>,
    gate: Gate,
    statement: oneshot::Receiver<tokio_postgres::CancelToken>,
    deadline: Option<Instant>,
) -> DomainResult<T> {
    let mut guard = AbandonOnDrop {
        gate,
        statement,
        armed: true,
    };
    let answer = wait(task, &guard.gate, &mut guard.statement, deadline).await;
    guard.armed = false;
    answer
}

async fn wait<T>(
    mut task: JoinHandle<DomainResult<T>>,
    gate: &Gate,
    statement: &mut oneshot::Receiver<tokio_postgres::CancelToken>,
    deadline: Option<Instant>,
) -> DomainResult<T> {
    let joined = match deadline {
        Some(deadline) => {
            match tokio::time::timeout_at(deadline.into(), &mut task).await {
                Ok(joined) => joined,
                Err(_) => {
                    if gate.abandon() {
                        // Still waiting for a connection or the lock: it
                        // will not begin now.
                        return Err(deadline_exceeded());
                    }
                    if let Ok(token) = statement.try_recv() {
                        super::pools::cancel(token);
                    }
                    match tokio::time::timeout(ABANDON_GRACE, &mut task).await {
                        // Committed just in time: the truth is success.
                        Ok(Ok(Ok(value))) => return Ok(value),
                        Ok(_) => return Err(deadline_exceeded()),
                        Err(_) => {
                            tracing::warn!("a write did not stop after its deadline");
                            return Err(DomainError::Unavailable(
                                "the database did not answer in time, so whether the change was \
                                 made is unknown; retry with the same request_id to find out"
                                    .to_owned(),
                            ));
                        }
                    }
                }
            }
        }
        None => task.await,
    };
    joined.map_err(|e| DomainError::Internal(format!("store task failed: {e}")))?
}
