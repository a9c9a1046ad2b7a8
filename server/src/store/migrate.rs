//! Migrations, embedded in the binary. On PostgreSQL they run under an
//! advisory lock, so replicas starting together migrate exactly once (the
//! others wait, then find nothing pending). A database whose schema is
//! newer than the binary (a migration the binary does not know) is refused:
//! an old replica must not write to a schema it does not understand.

use diesel::migration::{Migration, MigrationSource};
use diesel::{Connection as _, RunQueryDsl, SqliteConnection};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::pools::sqlite_pragmas;
use super::{DatabaseUrl, SetupError};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Key of the PostgreSQL advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x6d72_6d69_6772_6174; // "mrmigrat"

/// Whether to apply pending migrations or only check that there are none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply what is pending.
    Apply,
    /// Refuse when anything is pending (`--no-migrate`).
    CheckOnly,
}

/// Applies (or, with [`Mode::CheckOnly`], checks for) the pending
/// migrations of `url`; returns the versions applied.
pub async fn run(url: &DatabaseUrl, mode: Mode) -> Result<Vec<String>, SetupError> {
    let failed = |detail: String| SetupError::Migrate {
        url: url.clone(),
        detail,
    };
    // Connected here, where a failure can say why (see establish_postgres).
    let target = match url {
        DatabaseUrl::Postgres(raw) => {
            let conn =
                super::pools::establish_postgres(raw)
                    .await
                    .map_err(|e| SetupError::Connect {
                        url: url.clone(),
                        detail: e.to_string(),
                    })?;
            Target::Postgres(Box::new(conn))
        }
        DatabaseUrl::Sqlite(path) => Target::Sqlite(path.clone()),
    };
    // The migration harness is synchronous: run it on a blocking thread
    // (AsyncConnectionWrapper drives the async PostgreSQL connection there).
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
        match target {
            Target::Postgres(conn) => {
                let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(*conn);
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .execute(&mut conn)
                    .map_err(|e| e.to_string())?;
                let outcome = migrate(&mut conn, POSTGRES_MIGRATIONS, mode);
                // Released with the connection anyway; explicit for clarity.
                let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .execute(&mut conn);
                outcome
            }
            Target::Sqlite(path) => {
                // Held until the migrations end (dropped with this scope).
                let _lock = match mode {
                    Mode::Apply => Some(lock_sqlite_migrations(&path)?),
                    Mode::CheckOnly => None,
                };
                let mut conn = SqliteConnection::establish(&path).map_err(|e| e.to_string())?;
                diesel::connection::SimpleConnection::batch_execute(&mut conn, &sqlite_pragmas())
                    .map_err(|e| e.to_string())?;
                migrate(&mut conn, SQLITE_MIGRATIONS, mode)
            }
        }
    })
    .await
    .map_err(|e| failed(e.to_string()))?
    .map_err(|detail| {
        // Another process (a backup, a sqlite3 shell) holds the write lock:
        // a migration that read before writing is refused at once, without
        // SQLite's busy wait. The database is there, just busy: retried
        // like an unreachable one.
        if matches!(url, DatabaseUrl::Sqlite(_)) && detail.contains("database is locked") {
            SetupError::Locked {
                url: url.clone(),
                detail,
            }
        } else {
            failed(detail)
        }
    })
}

/// Waits for, then holds, the lock that servers starting together on one
/// SQLite file migrate under, as PostgreSQL's advisory lock does there: the
/// second finds nothing pending instead of applying a migration again (a
/// table rebuild's `CREATE TABLE` then fails on what the first created).
/// SQLite has no lock that outlives a transaction, and a migration that
/// rebuilds a table commits in steps of its own; so the lock is a file's
/// (`flock`, released when the file is closed or the process dies), next
/// to the database and left there. Not the database file itself: closing
/// another descriptor of it would drop SQLite's own locks in this process.
fn lock_sqlite_migrations(path: &str) -> Result<std::fs::File, String> {
    let lock_path = format!("{path}.migrate-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open the migration lock {lock_path}: {e}"))?;
    file.lock()
        .map_err(|e| format!("cannot take the migration lock {lock_path}: {e}"))?;
    Ok(file)
}

/// The database to migrate, as the blocking migration thread gets it.
enum Target {
    Postgres(Box<AsyncPgConnection>),
    Sqlite(String),
}

fn migrate<DB, C>(
    conn: &mut C,
    source: EmbeddedMigrations,
    mode: Mode,
) -> Result<Vec<String>, String>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let known: Vec<String> = MigrationSource::<DB>::migrations(&source)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let applied: Vec<String> = conn
        .applied_migrations()
        .map_err(|e| e.to_string())?
        .iter()
        .map(ToString::to_string)
        .collect();
    check_not_newer(&known, &applied)?;
    let pending = conn.pending_migrations(source).map_err(|e| e.to_string())?;
    if mode == Mode::CheckOnly {
        if let Some(first) = pending.first() {
            return Err(format!(
                "the database lacks {} migration(s) this binary needs (from {}); run \
                 `model-registry-server migrate` first",
                pending.len(),
                first.name().version()
            ));
        }
        return Ok(Vec::new());
    }
    conn.run_migrations(&pending)
        .map_err(|e| e.to_string())
        .map(|versions| versions.iter().map(ToString::to_string).collect())
}

/// Refuses a database that has a migration this binary does not know.
fn check_not_newer(known: &[String], applied: &[String]) -> Result<(), String> {
    match applied.iter().find(|version| !known.contains(version)) {
        Some(unknown) => Err(format!(
            "the database's schema is newer than this binary: migration {unknown} is applied but \
             unknown here (this binary knows up to {}); run a release of the server that \
             includes it",
            known.iter().max().map_or("none", String::as_str)
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_newer_than_the_binary_is_refused() {
        let known = vec!["1".to_owned(), "2".to_owned()];
        assert!(check_not_newer(&known, &["1".to_owned()]).is_ok());
        let refused = check_not_newer(&known, &["1".to_owned(), "3".to_owned()]).unwrap_err();
        assert!(refused.contains("migration 3"), "{refused}");
    }
}
