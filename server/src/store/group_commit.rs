//! Group commit for SQLite. A durable commit costs one fsync (~1.3 ms on
//! the benchmark machine), and SQLite has one writer, so committing each
//! change alone caps every write at the disk's fsync rate. Changes are
//! queued to one task instead, which takes every change already waiting
//! (up to `MAX_BATCH`), runs each in a savepoint of one `BEGIN IMMEDIATE`
//! transaction and commits them together: one fsync for the lot. A change
//! that fails rolls back to its savepoint and is answered at once; the
//! others are answered only after the commit, with its outcome. Nothing
//! waits to fill a batch: a lone change commits as soon as it is queued.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use diesel::connection::AnsiTransactionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::sync_connection_wrapper::SyncTransactionManagerWrapper;
use diesel_async::{AsyncConnection as _, TransactionManager as _};
use tokio::sync::{mpsc, oneshot};

use super::error::pool_error;
use super::pools::SqliteConn;
use super::write::Gate;
use crate::domain::{DomainError, DomainResult};

/// Most changes committed together.
const MAX_BATCH: usize = 64;

/// Changes waiting for the writer task.
const QUEUE: usize = 1024;

type Value = Box<dyn Any + Send>;

/// A change's work inside its savepoint.
type Work = Box<
    dyn for<'c> FnOnce(
            &'c mut SqliteConn,
        ) -> Pin<Box<dyn Future<Output = DomainResult<Value>> + Send + 'c>>
        + Send,
>;

struct Change {
    work: Work,
    gate: Gate,
    queued: Instant,
    answer: oneshot::Sender<DomainResult<Value>>,
}

/// The queue to the one writer task.
#[derive(Clone)]
pub struct GroupCommit {
    changes: mpsc::Sender<Change>,
}

impl GroupCommit {
    /// Starts the writer on `writer` (a pool of one connection), on an OS
    /// thread of its own where statements run inline (see `blocking`). It
    /// ends when the last sender (the store) is dropped.
    pub fn start(writer: Pool<SqliteConn>) -> Self {
        let (changes, queue) = mpsc::channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || {
                super::blocking::run_statements_inline();
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "the SQLite writer cannot start");
                        return;
                    }
                };
                let mut queue = queue;
                // A panic in one change must not stop every later write: its
                // batch goes unanswered (callers see INTERNAL), the loop resumes.
                while std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runtime.block_on(write_batches(&writer, &mut queue))
                }))
                .is_err()
                {
                    tracing::error!("the SQLite writer panicked; its batch was not committed");
                }
            });
        if let Err(error) = spawned {
            // Every change then answers "the store is shutting down"
            // (UNAVAILABLE) rather than hanging.
            tracing::error!(%error, "the SQLite writer thread cannot start");
        }
        Self { changes }
    }

    /// Runs `work` in the next batch; answers once that batch committed
    /// (or `work` failed and was rolled back).
    pub async fn submit<T, F>(&self, gate: Gate, work: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut SqliteConn,
            )
                -> Pin<Box<dyn Future<Output = DomainResult<T>> + Send + 'c>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let work: Work = Box::new(move |conn| {
            Box::pin(async move { work(conn).await.map(|value| Box::new(value) as Value) })
        });
        let change = Change {
            work,
            gate,
            queued: Instant::now(),
            answer,
        };
        self.changes
            .send(change)
            .await
            .map_err(|_| DomainError::Unavailable("the store is shutting down".to_owned()))?;
        let value = answered.await.map_err(|_| {
            DomainError::Internal("the writer task ended without an answer".to_owned())
        })??;
        value
            .downcast::<T>()
            .map(|value| *value)
            .map_err(|_| DomainError::Internal("a change answered with the wrong type".to_owned()))
    }
}

async fn write_batches(writer: &Pool<SqliteConn>, queue: &mut mpsc::Receiver<Change>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(change) => batch.push(change),
                Err(_) => break,
            }
        }
        commit(writer, batch).await;
    }
}

async fn commit(writer: &Pool<SqliteConn>, batch: Vec<Change>) {
    let mut pooled = match writer.get().await {
        Ok(pooled) => pooled,
        Err(error) => {
            let error = pool_error(error);
            for change in batch {
                super::figures::transaction_finished(false);
                let _ = change.answer.send(Err(error.clone()));
            }
            return;
        }
    };
    let conn: &mut SqliteConn = &mut pooled;
    // Changes not yet run, and those made and awaiting the commit.
    let mut waiting: VecDeque<Change> = batch.into();
    let mut made: Vec<(oneshot::Sender<DomainResult<Value>>, Value)> =
        Vec::with_capacity(waiting.len());
    let (waiting_in_transaction, made_in_transaction) = (&mut waiting, &mut made);
    let outcome = immediate_transaction(conn, async move |conn: &mut SqliteConn| {
        while let Some(Change {
            work,
            gate,
            queued,
            answer,
        }) = waiting_in_transaction.pop_front()
        {
            super::figures::write_slot_waited(queued.elapsed());
            // A savepoint: a failed change leaves no trace in the batch.
            let result = conn
                .transaction(async move |conn: &mut SqliteConn| {
                    gate.start()?;
                    let value = work(conn).await?;
                    gate.check()?;
                    Ok::<_, DomainError>(value)
                })
                .await;
            match result {
                Ok(value) => made_in_transaction.push((answer, value)),
                Err(error) => {
                    super::figures::transaction_finished(false);
                    let _ = answer.send(Err(error));
                }
            }
        }
        Ok(())
    })
    .await;
    // Left waiting only when the transaction could not begin (the database
    // is locked by another process past busy_timeout, or gone).
    for change in waiting {
        super::figures::transaction_finished(false);
        let _ = change
            .answer
            .send(Err(outcome.clone().err().unwrap_or_else(|| {
                DomainError::Internal("a change was left out of its batch".to_owned())
            })));
    }
    for (answer, value) in made {
        super::figures::transaction_finished(outcome.is_ok());
        let _ = answer.send(match &outcome {
            Ok(()) => Ok(value),
            Err(error) => Err(error.clone()),
        });
    }
}

/// `BEGIN IMMEDIATE` (the write lock up front, so the commit cannot fail on
/// a lock upgrade), `body`, then commit, or roll back if `body` failed.
/// (diesel-async offers this only for its default executor.)
async fn immediate_transaction<F>(conn: &mut SqliteConn, body: F) -> DomainResult<()>
where
    F: AsyncFnOnce(&mut SqliteConn) -> DomainResult<()>,
{
    conn.spawn_blocking(|conn| {
        AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")
    })
    .await?;
    match body(conn).await {
        Ok(()) => {
            SyncTransactionManagerWrapper::<AnsiTransactionManager>::commit_transaction(conn)
                .await?;
            Ok(())
        }
        Err(error) => {
            SyncTransactionManagerWrapper::<AnsiTransactionManager>::rollback_transaction(conn)
                .await?;
            Err(error)
        }
    }
}
