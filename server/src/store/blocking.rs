//! Where SQLite's statements run. diesel-async drives a sync connection by
//! handing each statement to tokio's blocking pool and waking the caller
//! when it is done: two thread switches per statement, which profiles of
//! the write path showed as most of its time (a registration is a dozen
//! statements). The group-commit writer has an OS thread of its own that
//! does nothing but write, so there statements run inline; everywhere else
//! they still go to the blocking pool, keeping the runtime's workers free.

use std::cell::Cell;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;

use diesel_async::sync_connection_wrapper::SpawnBlocking;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one whose SQLite statements run inline (the
/// group-commit writer's own thread).
pub fn run_statements_inline() {
    INLINE.with(|inline| inline.set(true));
}

/// The [`SpawnBlocking`] of SQLite connections: inline on the writer
/// thread, tokio's blocking pool elsewhere.
pub struct Blocking {
    runtime: Option<tokio::runtime::Handle>,
}

impl SpawnBlocking for Blocking {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        match &self.runtime {
            Some(runtime) if !INLINE.with(Cell::get) => {
                let task = runtime.spawn_blocking(task);
                Box::pin(async move { task.await.map_err(|e| Box::new(e) as _) })
            }
            _ => {
                let value = task();
                Box::pin(async move { Ok(value) })
            }
        }
    }

    fn get_runtime() -> Self {
        Self {
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}
