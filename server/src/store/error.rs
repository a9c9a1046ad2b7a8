//! How database failures become domain errors, by their kind (from the
//! PostgreSQL SQLSTATE or the SQLite result code) and constraint name,
//! never by searching message text: lost connections are UNAVAILABLE
//! (retryable), constraint violations a conflict or a refusal naming the
//! constraint, anything else internal and logged with detail.

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};

use crate::domain::DomainError;

impl From<DieselError> for DomainError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::NotFound => DomainError::NotFound("not found".to_owned()),
            DieselError::DatabaseError(kind, info) => classify(*kind, info.as_ref(), &error),
            DieselError::BrokenTransactionManager => unavailable(&error),
            _ => internal(&error),
        }
    }
}

fn classify(
    kind: DatabaseErrorKind,
    info: &(dyn DatabaseErrorInformation + Send + Sync),
    error: &DieselError,
) -> DomainError {
    let constraint = info.constraint_name().unwrap_or("a database constraint");
    match kind {
        // Every unique constraint a change can meet is also guarded by a
        // lock or an ON CONFLICT: meeting one means a concurrent change won.
        DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::SerializationFailure => {
            tracing::info!(error = %error, "database conflict");
            DomainError::Aborted(format!(
                "the change conflicted with a concurrent one ({constraint}); retry it"
            ))
        }
        // The database's own invariants (foreign keys, checks, the alias
        // triggers) refused what the rules should have refused first.
        DatabaseErrorKind::ForeignKeyViolation
        | DatabaseErrorKind::CheckViolation
        | DatabaseErrorKind::NotNullViolation
        | DatabaseErrorKind::RestrictViolation
        | DatabaseErrorKind::ExclusionViolation => {
            tracing::warn!(error = %error, "the database refused a change");
            DomainError::FailedPrecondition(format!(
                "the database refused the change ({constraint}); re-read the current state"
            ))
        }
        DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
            unavailable(error)
        }
        DatabaseErrorKind::ReadOnlyTransaction => {
            tracing::warn!(error = %error, "database is read-only");
            DomainError::Unavailable(
                "the database accepts no writes right now (read-only); retry shortly".to_owned(),
            )
        }
        _ => sqlite_result(info.message()).unwrap_or_else(|| internal(error)),
    }
}

/// SQLite reports its result codes only as their canonical English text
/// (sqlite3_errstr), which diesel passes on as the message: compared
/// whole, as a code, for the codes that are not the service's fault.
fn sqlite_result(message: &str) -> Option<DomainError> {
    match message {
        // SQLITE_BUSY, SQLITE_LOCKED: another process holds the lock longer
        // than the busy timeout.
        "database is locked" | "database table is locked" => Some(DomainError::Unavailable(
            "the database is locked by another process; retry shortly".to_owned(),
        )),
        // SQLITE_FULL.
        "database or disk is full" => Some(DomainError::ResourceExhausted(
            "the database's disk is full; nothing was written (free space, then retry)".to_owned(),
        )),
        // SQLITE_IOERR, SQLITE_CANTOPEN.
        "disk I/O error" | "unable to open database file" => Some(DomainError::Unavailable(
            "the database file cannot be read or written right now; retry shortly".to_owned(),
        )),
        _ => None,
    }
}

/// The error for a connection the pool could not hand out.
pub fn pool_error(error: impl std::fmt::Display) -> DomainError {
    tracing::warn!(error = %error, "database connection unavailable");
    DomainError::Unavailable("the database is unavailable; retry shortly".to_owned())
}

fn unavailable(error: &DieselError) -> DomainError {
    tracing::warn!(error = %error, "database unavailable");
    DomainError::Unavailable("the database is unavailable; retry shortly".to_owned())
}

fn internal(error: &DieselError) -> DomainError {
    DomainError::Internal(format!("database error: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> DomainError {
        DomainError::from(DieselError::DatabaseError(
            kind,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn errors_are_classified_by_kind() {
        assert!(matches!(
            database_error(DatabaseErrorKind::UniqueViolation, "x"),
            DomainError::Aborted(_)
        ));
        assert!(matches!(
            database_error(DatabaseErrorKind::CheckViolation, "x"),
            DomainError::FailedPrecondition(_)
        ));
        assert!(matches!(
            database_error(DatabaseErrorKind::UnableToSendCommand, "x"),
            DomainError::Unavailable(_)
        ));
        assert!(matches!(
            database_error(DatabaseErrorKind::Unknown, "database or disk is full"),
            DomainError::ResourceExhausted(_)
        ));
        // Only SQLite's whole canonical text counts, not a mention of it.
        assert!(matches!(
            database_error(
                DatabaseErrorKind::Unknown,
                "trigger says: database is locked"
            ),
            DomainError::Internal(_)
        ));
        assert!(matches!(
            DomainError::from(DieselError::NotFound),
            DomainError::NotFound(_)
        ));
    }
}
