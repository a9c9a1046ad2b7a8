//! PostgreSQL's alias cache: what GetProductionModel and
//! GetModelVersionByAlias answer, kept on each replica and emptied model by
//! model by the change feed as it reads each event (whichever replica
//! committed it), and by this replica's own changes before they are
//! answered, so a caller reads its own change here at once.
//!
//! It is used only while the feed is live: its listener connected and a
//! read of the trail succeeded since. When the listener's connection drops
//! or a read fails, the cache is emptied and every read goes to the
//! database until the feed has read the trail again on a new connection.
//! Nothing expires by a timer: an entry is right until an event says
//! otherwise.
//!
//! A fill races the feed: a read of the database made just before a change
//! committed must not be put after the feed emptied that model. So a fill
//! takes a stamp before its read, and puts only if its model has not
//! changed (nor the cache been emptied) since.
//!
//! A consistency token names a change by its transaction: the feed has
//! applied it once it read the trail to a horizon above that transaction.
//! Until then a read with the token goes to the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::{ConsistencyToken, ModelVersion};

/// Entries kept at most, and their bytes (roughly); past either the cache
/// starts over.
const CAPACITY: usize = 4096;
const CAPACITY_BYTES: usize = 64 << 20;
/// A version larger than this is read from the database every time.
const LARGEST_KEPT: usize = 1 << 20;

/// Alias reads of a PostgreSQL database, kept current by the change feed.
#[derive(Default)]
pub struct FedCache {
    state: Mutex<State>,
    /// Every transaction below it has ended and its events were applied.
    horizon: AtomicI64,
}

#[derive(Default)]
struct State {
    live: bool,
    /// Counts the listener's connections.
    connections: u64,
    /// Whether the listener is connected now.
    listening: bool,
    /// Counts changes; a fill's stamp is its value before the read.
    clock: u64,
    /// When the cache was last emptied whole.
    emptied_at: u64,
    /// When each model last changed (since the cache was emptied).
    changed_at: HashMap<String, u64>,
    /// The version each alias of each model points at, and its size.
    entries: HashMap<String, HashMap<String, (ModelVersion, usize)>>,
    len: usize,
    bytes: usize,
}

impl State {
    fn empty(&mut self) {
        self.clock += 1;
        self.emptied_at = self.clock;
        self.changed_at.clear();
        self.entries.clear();
        self.len = 0;
        self.bytes = 0;
    }
}

impl FedCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Holds no invariant a panic could break: at worst an entry is lost.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether reads are answered from the cache now.
    pub fn is_live(&self) -> bool {
        self.state().live
    }

    /// Whether the feed has applied the change `token` names.
    pub fn has_applied(&self, token: ConsistencyToken) -> bool {
        self.horizon.load(Ordering::Acquire) > token.transaction()
    }

    /// What `alias` of `model` points at, if live and known.
    pub fn get(&self, model: &str, alias: &str) -> Option<ModelVersion> {
        let state = self.state();
        if !state.live {
            return None;
        }
        state
            .entries
            .get(model)?
            .get(alias)
            .map(|(version, _)| version.clone())
    }

    /// A stamp to take before reading the database to fill an entry;
    /// `None` while the cache is not live.
    pub fn stamp(&self) -> Option<u64> {
        let state = self.state();
        state.live.then_some(state.clock)
    }

    /// Keeps what a read that began at `stamp` returned, unless the model
    /// changed (or the cache was emptied) since.
    pub fn put(&self, model: &str, alias: &str, stamp: u64, version: &ModelVersion) {
        let mut state = self.state();
        let changed = state.changed_at.get(model).copied().unwrap_or(0);
        if !state.live || stamp < state.emptied_at || stamp < changed {
            return;
        }
        let size = version.approximate_size();
        if size > LARGEST_KEPT {
            return;
        }
        if state.len >= CAPACITY || state.bytes + size > CAPACITY_BYTES {
            state.empty();
            return;
        }
        let aliases = state.entries.entry(model.to_owned()).or_default();
        match aliases.insert(alias.to_owned(), (version.clone(), size)) {
            Some((_, replaced)) => state.bytes -= replaced,
            None => state.len += 1,
        }
        state.bytes += size;
    }

    /// `model` changed (an event of it was read, or this replica committed
    /// a change of it): what its aliases point at, and the versions they
    /// serve, are read again.
    pub fn changed(&self, model: &str) {
        let mut state = self.state();
        state.clock += 1;
        let now = state.clock;
        state.changed_at.insert(model.to_owned(), now);
        if let Some(aliases) = state.entries.remove(model) {
            state.len -= aliases.len();
            state.bytes -= aliases.values().map(|(_, size)| size).sum::<usize>();
        }
    }

    /// The feed read the trail up to `horizon`: every change below it is
    /// applied.
    pub fn applied(&self, horizon: i64) {
        self.horizon.fetch_max(horizon, Ordering::AcqRel);
    }

    /// The feed's listener connected: what is committed from now on is
    /// announced. Returns the connection's number for [`FedCache::resume`].
    pub fn listener_connected(&self) -> u64 {
        let mut state = self.state();
        if !state.listening {
            state.connections += 1;
            state.listening = true;
        }
        state.connections
    }

    /// The feed's listener lost its connection: commits may go unheard.
    pub fn listener_lost(&self) {
        let mut state = self.state();
        state.listening = false;
        state.live = false;
        state.empty();
    }

    /// The listener's connection now (0: none), to take before a read of
    /// the trail that may [`FedCache::resume`] the cache.
    pub fn listener(&self) -> u64 {
        let state = self.state();
        if state.listening {
            state.connections
        } else {
            0
        }
    }

    /// A read of the feed failed: it may have missed changes until the next
    /// read succeeds.
    pub fn suspend(&self) {
        let mut state = self.state();
        state.live = false;
        state.empty();
    }

    /// The feed read the trail to its horizon, the read having begun while
    /// the listener was on connection `listener`: if it still is, every
    /// commit is heard and nothing before was missed.
    pub fn resume(&self, listener: u64) {
        let mut state = self.state();
        if listener != 0 && state.listening && state.connections == listener {
            state.live = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(number: i64) -> ModelVersion {
        let at = crate::domain::time::now();
        ModelVersion {
            id: String::new(),
            model_name: crate::domain::ModelName::parse("model_name", "churn").unwrap(),
            version: number,
            algorithm: String::new(),
            status: crate::domain::VersionStatus::Active,
            artifact: Default::default(),
            metrics: Default::default(),
            params: Default::default(),
            tags: Default::default(),
            training: Default::default(),
            metadata: Default::default(),
            description: String::new(),
            created_by: String::new(),
            created_at: at,
            updated_at: at,
            signature: None,
            aliases: Vec::new(),
        }
    }

    #[test]
    fn a_fill_that_raced_a_change_is_not_kept() {
        let cache = FedCache::default();
        cache.resume(cache.listener_connected());
        let stamp = cache.stamp().unwrap();
        // The change commits and the feed reads it while the fill's read,
        // made just before, is on its way back with the old version.
        cache.changed("churn");
        cache.put("churn", "production", stamp, &version(1));
        assert_eq!(cache.get("churn", "production"), None);
        let stamp = cache.stamp().unwrap();
        cache.put("churn", "production", stamp, &version(2));
        assert_eq!(cache.get("churn", "production").unwrap().version, 2);
        // Another model's change leaves it alone.
        cache.changed("fraud");
        assert_eq!(cache.get("churn", "production").unwrap().version, 2);
    }

    #[test]
    fn a_suspended_cache_answers_nothing_and_keeps_no_fill_from_before() {
        let cache = FedCache::default();
        assert_eq!(cache.stamp(), None, "not live until the feed says so");
        cache.resume(cache.listener());
        assert_eq!(cache.stamp(), None, "nor before its listener connects");
        let connection = cache.listener_connected();
        cache.resume(connection);
        let before = cache.stamp().unwrap();
        cache.put("churn", "production", before, &version(1));
        cache.suspend();
        assert_eq!(cache.get("churn", "production"), None);
        assert_eq!(cache.stamp(), None);
        cache.resume(connection);
        cache.put("churn", "production", before, &version(1));
        assert_eq!(cache.get("churn", "production"), None);
    }

    #[test]
    fn a_read_begun_before_the_listener_was_lost_does_not_resume_the_cache() {
        let cache = FedCache::default();
        let first = cache.listener_connected();
        cache.resume(first);
        // The feed begins a read on the first connection; the connection
        // drops and comes back while it reads.
        let read_on = cache.listener();
        cache.listener_lost();
        let second = cache.listener_connected();
        cache.resume(read_on);
        assert!(!cache.is_live(), "what committed in between may be unread");
        cache.resume(second);
        assert!(cache.is_live());
    }

    #[test]
    fn a_version_too_large_to_keep_is_read_every_time() {
        let cache = FedCache::default();
        cache.resume(cache.listener_connected());
        let mut large = version(1);
        large.training.feature_names = vec!["f".repeat(1000); 2000];
        cache.put("churn", "production", cache.stamp().unwrap(), &large);
        assert_eq!(cache.get("churn", "production"), None);
        cache.put("churn", "production", cache.stamp().unwrap(), &version(1));
        assert!(cache.get("churn", "production").is_some());
    }

    #[test]
    fn a_token_is_applied_once_the_horizon_passes_its_transaction() {
        let cache = FedCache::default();
        let token = ConsistencyToken::of_transaction(900).unwrap();
        cache.applied(900);
        assert!(!cache.has_applied(token));
        cache.applied(901);
        assert!(cache.has_applied(token));
        cache.applied(10);
        assert!(cache.has_applied(token), "the horizon never goes back");
    }
}
