//! Group commit. A durable commit costs one fsync (~1.3 ms on the
//! benchmark machine), and changes that must run one at a time (all of
//! SQLite's; one model's on PostgreSQL) would each pay it in turn. They are
//! queued to one task instead, which takes every change already waiting
//! (up to `MAX_BATCH`), runs each in a savepoint of one transaction and
//! commits them together: one fsync for the lot. A change that fails rolls
//! back to its savepoint and is answered at once; the others are answered
//! only after the commit, with its outcome. Nothing waits to fill a batch:
//! a lone change commits as soon as it is queued.
//!
//! This module holds the queued change and its savepoint, shared by both
//! databases, and SQLite's writer (one task for every change);
//! PostgreSQL's per-model writers are in `model_queues.rs`.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use diesel::connection::AnsiTransactionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::sync_connection_wrapper::SyncTransactionManagerWrapper;
use diesel_async::{AsyncConnection, TransactionManager as _};
use tokio::sync::{mpsc, oneshot};

use super::error::pool_error;
use super::pools::SqliteConn;
use super::write::Gate;
use crate::domain::{ConsistencyToken, DomainError, DomainResult};

/// Most changes committed together.
const MAX_BATCH: usize = 64;

/// Changes waiting for the writer task.
const QUEUE: usize = 1024;

type Value = Box<dyn Any + Send>;

/// A change's work inside its savepoint, on a connection `C`.
type Work<C> = Box<
    dyn for<'c> FnOnce(&'c mut C) -> Pin<Box<dyn Future<Output = DomainResult<Value>> + Send + 'c>>
        + Send,
>;

/// What a change made: its value and the token of the events it wrote.
type Made = (Value, Option<ConsistencyToken>);

/// What a change answers.
type Answer = DomainResult<Made>;

/// A change made in a batch, and where its answer goes after the commit.
pub(super) type MadeInBatch = (oneshot::Sender<Answer>, Made);

/// A change queued for a writer task.
pub(super) struct Change<C> {
    work: Work<C>,
    gate: Gate,
    queued: Instant,
    answer: oneshot::Sender<Answer>,
}

/// Where a queued change's answer arrives.
pub(super) struct Answered(oneshot::Receiver<Answer>);

impl<C: AsyncConnection + 'static> Change<C> {
    /// `work`, to run in a savepoint once `gate` lets it start.
    pub(super) fn new<T, F>(gate: Gate, work: F) -> (Self, Answered)
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut C) -> Pin<Box<dyn Future<Output = DomainResult<T>> + Send + 'c>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let work: Work<C> = Box::new(move |conn| {
            Box::pin(async move { work(conn).await.map(|value| Box::new(value) as Value) })
        });
        let change = Self {
            work,
            gate,
            queued: Instant::now(),
            answer,
        };
        (change, Answered(answered))
    }

    /// Runs the change alone in a transaction of its own (a batch of one
    /// needs no savepoint), and answers it.
    pub(super) async fn run_alone(self, conn: &mut C)
    where
        C: Send,
    {
        let Self {
            work,
            gate,
            queued,
            answer,
        } = self;
        super::figures::write_slot_waited(queued.elapsed());
        let outcome = run_gated(conn, work, gate).await;
        super::figures::transaction_finished(outcome.is_ok());
        let _ = answer.send(outcome);
    }
}

impl<C> Change<C> {
    /// Answers the change without running it.
    pub(super) fn refuse(self, error: DomainError) {
        super::figures::transaction_finished(false);
        let _ = self.answer.send(Err(error));
    }
}

/// Runs `work` in a transaction (a savepoint inside one), unless its
/// caller gave up first, and rolls it back if its caller gave up by the
/// end: the value and the token of the events it wrote. (What
/// `AsyncConnection::transaction` does, spelled out: its callback cannot
/// be generic over the connection here.)
async fn run_gated<C>(conn: &mut C, work: Work<C>, gate: Gate) -> Answer
where
    C: AsyncConnection + Send + 'static,
{
    let (outcome, token) = super::token::recording(async move {
        C::TransactionManager::begin_transaction(conn).await?;
        let made = match gate.start() {
            Ok(()) => match work(conn).await {
                Ok(value) => gate.check().map(|()| value),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        match made {
            Ok(value) => {
                C::TransactionManager::commit_transaction(conn).await?;
                Ok(value)
            }
            Err(error) => match C::TransactionManager::rollback_transaction(conn).await {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                Err(rollback_error) => Err(rollback_error.into()),
            },
        }
    })
    .await;
    outcome.map(|value| (value, token))
}

impl Answered {
    /// The change's value once its batch committed, with its token.
    pub(super) async fn value<T: 'static>(self) -> DomainResult<(T, Option<ConsistencyToken>)> {
        let (value, token) = self.0.await.map_err(|_| {
            DomainError::Internal("the writer task ended without an answer".to_owned())
        })??;
        let value = value.downcast::<T>().map(|value| *value).map_err(|_| {
            DomainError::Internal("a change answered with the wrong type".to_owned())
        })?;
        Ok((value, token))
    }
}

/// Runs every change of `waiting` in a savepoint of the transaction `conn`
/// is in, answering those that fail at once and returning those made,
/// whose answers wait for the commit.
pub(super) async fn run_in_savepoints<C>(
    conn: &mut C,
    waiting: &mut VecDeque<Change<C>>,
) -> Vec<MadeInBatch>
where
    C: AsyncConnection + Send + 'static,
{
    let mut made = Vec::with_capacity(waiting.len());
    while let Some(Change {
        work,
        gate,
        queued,
        answer,
    }) = waiting.pop_front()
    {
        super::figures::write_slot_waited(queued.elapsed());
        // A savepoint: a failed change leaves no trace in the batch.
        match run_gated(conn, work, gate).await {
            Ok(value) => made.push((answer, value)),
            Err(error) => {
                super::figures::transaction_finished(false);
                let _ = answer.send(Err(error));
            }
        }
    }
    made
}

/// Answers a batch after its commit (or its failure): the changes made
/// with the commit's outcome, those never run with its error.
pub(super) fn answer_batch<C>(
    outcome: DomainResult<()>,
    made: Vec<MadeInBatch>,
    waiting: VecDeque<Change<C>>,
) {
    // Left waiting only when the transaction could not begin (or its
    // first statement failed).
    for change in waiting {
        let error = outcome.clone().err().unwrap_or_else(|| {
            DomainError::Internal("a change was left out of its batch".to_owned())
        });
        change.refuse(error);
    }
    for (answer, value) in made {
        super::figures::transaction_finished(outcome.is_ok());
        let _ = answer.send(match &outcome {
            Ok(()) => Ok(value),
            Err(error) => Err(error.clone()),
        });
    }
}

/// The queue to SQLite's one writer task.
#[derive(Clone)]
pub struct GroupCommit {
    changes: mpsc::Sender<Change<SqliteConn>>,
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
        let (change, answered) = Change::new(gate, work);
        self.changes
            .send(change)
            .await
            .map_err(|_| DomainError::Unavailable("the store is shutting down".to_owned()))?;
        answered.value().await.map(|(value, _)| value)
    }
}

async fn write_batches(writer: &Pool<SqliteConn>, queue: &mut mpsc::Receiver<Change<SqliteConn>>) {
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

async fn commit(writer: &Pool<SqliteConn>, batch: Vec<Change<SqliteConn>>) {
    let mut pooled = match writer.get().await {
        Ok(pooled) => pooled,
        Err(error) => {
            let error = pool_error(error);
            for change in batch {
                change.refuse(error.clone());
            }
            return;
        }
    };
    let conn: &mut SqliteConn = &mut pooled;
    // Changes not yet run, and those made and awaiting the commit.
    let mut waiting: VecDeque<Change<SqliteConn>> = batch.into();
    let mut made = Vec::new();
    let (waiting_in_transaction, made_in_transaction) = (&mut waiting, &mut made);
    let outcome = immediate_transaction(conn, async move |conn: &mut SqliteConn| {
        *made_in_transaction = run_in_savepoints(conn, waiting_in_transaction).await;
        Ok(())
    })
    .await;
    answer_batch(outcome, made, waiting);
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
