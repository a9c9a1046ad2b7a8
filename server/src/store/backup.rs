//! Online backups of a SQLite database: `VACUUM INTO` copies one consistent
//! snapshot (every transaction committed before it began, none after) while
//! servers keep reading and writing. The copy is written beside the target
//! under a temporary name, checked with `PRAGMA integrity_check`, and only
//! then renamed into place, so a backup file that exists is complete.
//! PostgreSQL has its own tools (`pg_dump`), documented in deploy/README.md.

use std::path::{Path, PathBuf};

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection as _, QueryableByName, RunQueryDsl, SqliteConnection};

use super::pools::sqlite_pragmas;
use super::{DatabaseUrl, SetupError};

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The backup file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Models in it.
    pub models: i64,
    /// Versions in it.
    pub versions: i64,
    /// The newest event in it (0 when there is none): every change up to
    /// this one is in the backup.
    pub last_event_id: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// Backs the database at `url` up to `to`, which must not exist yet.
pub async fn backup(url: &DatabaseUrl, to: &Path) -> Result<BackupSummary, SetupError> {
    let failed = |detail: String| SetupError::Backup {
        to: to.to_path_buf(),
        detail,
    };
    let DatabaseUrl::Sqlite(source) = url else {
        return Err(failed(
            "backup --to copies SQLite databases; back PostgreSQL up with pg_dump \
             (see deploy/README.md)"
                .to_owned(),
        ));
    };
    if to.exists() {
        return Err(failed(
            "the file exists already; choose a new name (a backup never overwrites)".to_owned(),
        ));
    }
    let source = source.clone();
    let to = to.to_path_buf();
    tokio::task::spawn_blocking(move || copy(&source, &to))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(failed)
}

fn copy(source: &str, to: &Path) -> Result<BackupSummary, String> {
    if !Path::new(source).is_file() {
        return Err(format!("there is no database at {source}"));
    }
    let file_name = to
        .file_name()
        .ok_or_else(|| "name a file to write the backup to".to_owned())?;
    let partial = to.with_file_name(format!(
        ".{}.partial-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let outcome = vacuum_into(source, &partial)
        .and_then(|()| summarise(&partial))
        .and_then(|summary| {
            std::fs::rename(&partial, to).map_err(|e| format!("cannot rename the copy: {e}"))?;
            Ok(BackupSummary {
                path: to.to_path_buf(),
                ..summary
            })
        });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

/// Writes a consistent copy of `source` to `copy`.
fn vacuum_into(source: &str, copy: &Path) -> Result<(), String> {
    let mut conn = SqliteConnection::establish(source).map_err(|e| e.to_string())?;
    diesel::connection::SimpleConnection::batch_execute(&mut conn, &sqlite_pragmas())
        .map_err(|e| e.to_string())?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(copy.to_string_lossy())
        .execute(&mut conn)
        .map_err(|e| format!("copying the database failed: {e}"))?;
    Ok(())
}

/// Checks the copy and counts what it holds.
fn summarise(path: &Path) -> Result<BackupSummary, String> {
    let mut conn =
        SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| e.to_string())?;
    let checks = diesel::sql_query("PRAGMA integrity_check")
        .load::<Check>(&mut conn)
        .map_err(|e| e.to_string())?;
    if checks.iter().any(|check| check.integrity_check != "ok") {
        let problems: Vec<_> = checks.into_iter().map(|c| c.integrity_check).collect();
        return Err(format!(
            "the copy failed its integrity check: {}",
            problems.join("; ")
        ));
    }
    let count = |sql: &str, conn: &mut SqliteConnection| {
        diesel::sql_query(sql)
            .get_result::<Count>(conn)
            .map(|count| count.n)
            .map_err(|e| e.to_string())
    };
    Ok(BackupSummary {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path).map_err(|e| e.to_string())?.len(),
        models: count("SELECT COUNT(*) AS n FROM models", &mut conn)?,
        versions: count("SELECT COUNT(*) AS n FROM model_versions", &mut conn)?,
        last_event_id: count("SELECT COALESCE(MAX(id), 0) AS n FROM events", &mut conn)?,
    })
}
