//! The deployers' hot read, `GetProductionModel` (any alias), answered from
//! memory while the database is unchanged.
//!
//! Only on SQLite, where "unchanged" costs next to nothing to check: a
//! dedicated connection asks `PRAGMA data_version`, which changes whenever
//! any other connection (this process's writer, another process, a
//! restore) commits. An entry is stamped with the value read *before* the
//! database read that filled it, so a commit racing the fill only makes the
//! entry look older than it is: the next read fetches again. A read never
//! returns what the database no longer holds. (PostgreSQL has no such
//! local check; a replica's cache could lag another replica's commit, so
//! there every read goes to the database: one indexed statement.)

use std::collections::HashMap;
use std::sync::Mutex;

use diesel::sql_types::BigInt;
use diesel::{Connection as _, QueryableByName, RunQueryDsl, SqliteConnection};

use crate::domain::ModelVersion;

/// Entries kept at most; past this the cache starts over (it refills at
/// the cost of one read per alias).
const CAPACITY: usize = 4096;
/// A version larger than this is read from the database every time (4096
/// of these hold 256 MiB at most).
const LARGEST_KEPT: usize = 64 << 10;

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

/// Alias reads of a SQLite database, valid while its data version holds.
pub struct AliasCache {
    probe: Mutex<SqliteConnection>,
    entries: Mutex<HashMap<(String, String), (i64, ModelVersion)>>,
}

impl AliasCache {
    /// A cache for the SQLite database at `path`; `None` when its probe
    /// connection cannot be opened (every read then goes to the database).
    pub fn open(path: &str) -> Option<Self> {
        let probe = SqliteConnection::establish(path).ok()?;
        Some(Self {
            probe: Mutex::new(probe),
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// The database's current data version; `None` if it cannot be read
    /// (the caller then reads the database and caches nothing).
    ///
    /// Runs on the calling thread: the pragma reads a counter in shared
    /// memory, no file I/O, so it is cheaper than a hop to a blocking thread.
    pub fn stamp(&self) -> Option<i64> {
        let mut probe = self.probe.lock().ok()?;
        diesel::sql_query("PRAGMA data_version")
            .get_result::<DataVersion>(&mut *probe)
            .ok()
            .map(|row| row.data_version)
    }

    /// The version `alias` of `model` pointed at when the database had data
    /// version `stamp`, if known.
    pub fn get(&self, model: &str, alias: &str, stamp: i64) -> Option<ModelVersion> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&(model.to_owned(), alias.to_owned()))
            .filter(|(at, _)| *at == stamp)
            .map(|(_, version)| version.clone())
    }

    /// Remembers what a read made at data version `stamp` returned.
    pub fn put(&self, model: &str, alias: &str, stamp: i64, version: &ModelVersion) {
        // Megabyte versions are read every time: a few thousand of them
        // would hold gigabytes.
        if version.approximate_size() > LARGEST_KEPT {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(
                (model.to_owned(), alias.to_owned()),
                (stamp, version.clone()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use super::*;

    #[test]
    fn a_commit_by_another_connection_changes_the_stamp() {
        let dir = std::env::temp_dir().join(format!("alias-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stamp.db");
        let path = path.to_string_lossy();
        let mut writer = SqliteConnection::establish(&path).unwrap();
        writer
            .batch_execute("PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .unwrap();
        let cache = AliasCache::open(&path).unwrap();
        let before = cache.stamp().unwrap();
        assert_eq!(
            cache.stamp(),
            Some(before),
            "nothing committed: the same stamp"
        );
        writer.batch_execute("INSERT INTO t VALUES (1)").unwrap();
        assert_ne!(cache.stamp(), Some(before), "a commit elsewhere changes it");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
