//! Group commit on PostgreSQL, one model at a time. The changes to one
//! model run one after another whatever happens (its queue, see
//! `postgres.rs`), so each would wait for the previous one's commit and
//! its fsync. Instead, each model with changes waiting has one writer task
//! on this replica: it takes every change to that model already queued (up
//! to `MAX_BATCH`), takes the model's queue in the database once, runs
//! each change in a savepoint and commits them together (see
//! `group_commit`). A lone change runs as it did before, without the
//! savepoint.
//!
//! Changes to different models are not batched together: their
//! transactions already run side by side, and PostgreSQL flushes the WAL
//! of commits that arrive together in one write.
//!
//! The feed's argument holds for a batch as for one change: the batch takes
//! the model's queue before its first write, so its transaction id comes
//! after the previous holder's, and it holds that one queue only. A change
//! in the batch that asks for another model's queue after the batch wrote
//! is refused (`wrote_before_queue`) and rolls back alone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::CancelToken;

use super::dialect::Dialect;
use super::error::pool_error;
use super::group_commit::{Change, answer_batch, run_in_savepoints};

/// Most changes committed together.
const MAX_BATCH: usize = 64;

/// A change, and where a lone change's statement can be cancelled from.
type Queued = (Change<AsyncPgConnection>, oneshot::Sender<CancelToken>);

type Queue = mpsc::UnboundedSender<Queued>;

/// The writer tasks of the models with changes waiting on this replica.
pub struct ModelQueues {
    writers: Pool<AsyncPgConnection>,
    /// By model name; a task removes its entry (under this lock) only once
    /// its queue is empty, so a change is never sent to a task that ended.
    queues: Mutex<HashMap<String, Queue>>,
}

impl ModelQueues {
    /// Writer tasks that take connections from `writers`.
    pub fn new(writers: Pool<AsyncPgConnection>) -> Arc<Self> {
        Arc::new(Self {
            writers,
            queues: Mutex::default(),
        })
    }

    /// Queues `change` to model `model`'s writer, starting one if none runs.
    /// A change that runs alone sends `statement` its connection's cancel
    /// token (in a batch, cancelling would stop the others' statements).
    pub(super) fn submit(
        self: &Arc<Self>,
        model: &str,
        change: Change<AsyncPgConnection>,
        statement: oneshot::Sender<CancelToken>,
    ) {
        let change = (change, statement);
        let Ok(mut queues) = self.queues.lock() else {
            change.0.refuse(crate::domain::DomainError::Internal(
                "the model queues are poisoned".to_owned(),
            ));
            return;
        };
        // A task that panicked left its entry with a closed queue: replace it.
        let change = match queues.get(model) {
            Some(queue) => match queue.send(change) {
                Ok(()) => return,
                Err(mpsc::error::SendError(change)) => change,
            },
            None => change,
        };
        let (queue, changes) = mpsc::unbounded_channel();
        // The receiver is alive: it is sent just below.
        let _ = queue.send(change);
        queues.insert(model.to_owned(), queue);
        tokio::spawn(Arc::clone(self).write(model.to_owned(), changes));
    }

    /// Commits model `model`'s changes in batches until none is waiting.
    async fn write(self: Arc<Self>, model: String, mut changes: mpsc::UnboundedReceiver<Queued>) {
        loop {
            let mut batch = Vec::new();
            while batch.len() < MAX_BATCH {
                match changes.try_recv() {
                    Ok(change) => batch.push(change),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                let Ok(mut queues) = self.queues.lock() else {
                    return;
                };
                // Checked again under the lock: a change sent since is ours.
                match changes.try_recv() {
                    Ok(change) => batch.push(change),
                    Err(_) => {
                        queues.remove(&model);
                        return;
                    }
                }
            }
            commit(&self.writers, &model, batch).await;
        }
    }
}

/// Commits one batch of changes to model `model`.
async fn commit(writers: &Pool<AsyncPgConnection>, model: &str, mut batch: Vec<Queued>) {
    let mut pooled = match writers.get().await {
        Ok(pooled) => pooled,
        Err(error) => {
            let error = pool_error(error);
            for (change, _) in batch {
                change.refuse(error.clone());
            }
            return;
        }
    };
    if batch.len() == 1
        && let Some((change, statement)) = batch.pop()
    {
        let _ = statement.send(pooled.cancel_token());
        // Its own first statement takes the model's queue.
        change.run_alone(&mut *pooled).await;
        return;
    }
    let conn: &mut AsyncPgConnection = &mut pooled;
    let mut waiting: VecDeque<_> = batch.into_iter().map(|(change, _)| change).collect();
    let mut made = Vec::new();
    let (waiting_in_transaction, made_in_transaction) = (&mut waiting, &mut made);
    let outcome = conn
        .transaction(async move |conn: &mut AsyncPgConnection| {
            // Before any write, outside every savepoint (a savepoint rolled
            // back would release it).
            conn.queue_for_model(model).await?;
            *made_in_transaction = super::postgres::holding_queue_of(
                model,
                run_in_savepoints(conn, waiting_in_transaction),
            )
            .await;
            Ok::<_, crate::domain::DomainError>(())
        })
        .await;
    answer_batch(outcome, made, waiting);
}
