//! The reads every alias watcher of one event needs, made once per event
//! on this replica and shared: a move watched by 1,000 streams costs one
//! read of the version it moved to, not 1,000 (each watcher used to read
//! it itself, ~1,935 transactions per move). A read that fails is not
//! kept: the next watcher tries again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::domain::{AliasName, DomainResult, ModelName, ModelVersion, VersionRef};
use crate::registry::Registry;

/// How many recent events' reads are kept: watchers read an event's
/// version within moments of each other, or fall back to the state.
const KEPT: usize = 256;

/// What a watcher reads after an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Read {
    /// The version an alias moved to.
    Version(ModelName, i64),
    /// What an alias (`latest`) points at now.
    AliasState(ModelName, AliasName),
}

type Shared<T> = Arc<OnceCell<T>>;

/// The reads of recent events, shared by every watcher of this replica.
#[derive(Default)]
pub struct WatchReads {
    versions: Mutex<Recent<Option<ModelVersion>>>,
    states: Mutex<Recent<(Option<ModelVersion>, i64)>>,
}

/// Reads of the last [`KEPT`] events, by event id and what was read.
struct Recent<T> {
    cells: HashMap<(i64, Read), Shared<T>>,
    order: VecDeque<(i64, Read)>,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self {
            cells: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T> Recent<T> {
    fn cell(&mut self, key: (i64, Read)) -> Shared<T> {
        if let Some(cell) = self.cells.get(&key) {
            return Arc::clone(cell);
        }
        if self.order.len() == KEPT
            && let Some(oldest) = self.order.pop_front()
        {
            self.cells.remove(&oldest);
        }
        let cell: Shared<T> = Arc::default();
        self.order.push_back(key.clone());
        self.cells.insert(key, Arc::clone(&cell));
        cell
    }
}

impl WatchReads {
    /// Version `number` of `model`, as read once after event `event_id`.
    pub async fn version(
        &self,
        registry: &Registry,
        event_id: i64,
        model: &ModelName,
        number: i64,
    ) -> DomainResult<Option<ModelVersion>> {
        let cell = lock(&self.versions).cell((event_id, Read::Version(model.clone(), number)));
        cell.get_or_try_init(|| async {
            registry
                .get_version(VersionRef::Number(model.clone(), number))
                .await
                .map(Some)
        })
        .await
        .cloned()
    }

    /// What `alias` of `model` points at, as read once after event
    /// `event_id`, with the id of the event that moved it.
    pub async fn alias_state(
        &self,
        registry: &Registry,
        event_id: i64,
        model: &ModelName,
        alias: &AliasName,
    ) -> DomainResult<(Option<ModelVersion>, i64)> {
        let read = Read::AliasState(model.clone(), alias.clone());
        let cell = lock(&self.states).cell((event_id, read));
        cell.get_or_try_init(|| registry.alias_state(model.clone(), alias.clone()))
            .await
            .cloned()
    }
}

/// The map, even if a holder panicked (it holds no invariant a panic can
/// break: at worst a read is made twice).
fn lock<T>(recent: &Mutex<Recent<T>>) -> std::sync::MutexGuard<'_, Recent<T>> {
    recent
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
