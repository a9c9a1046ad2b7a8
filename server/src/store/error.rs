//! How database failures become domain errors: lost connections and busy
//! databases are UNAVAILABLE (retryable), constraint violations are the
//! caller's conflict, anything else is internal and logged with detail.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::domain::DomainError;

impl From<DieselError> for DomainError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::NotFound => DomainError::NotFound("not found".to_owned()),
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation => DomainError::AlreadyExists(format!(
                    "a conflicting row exists already ({}); retry to see the current state",
                    info.message()
                )),
                DatabaseErrorKind::ClosedConnection => unavailable(&error),
                DatabaseErrorKind::SerializationFailure => DomainError::Aborted(
                    "the change conflicted with a concurrent one; retry it".to_owned(),
                ),
                _ if is_transient(info.message()) => unavailable(&error),
                _ => internal(&error),
            },
            DieselError::BrokenTransactionManager => unavailable(&error),
            _ if is_transient(&error.to_string()) => unavailable(&error),
            _ => internal(&error),
        }
    }
}

/// The error for a connection the pool could not hand out.
pub fn pool_error(error: impl std::fmt::Display) -> DomainError {
    tracing::warn!(error = %error, "database connection unavailable");
    DomainError::Unavailable("the database is unavailable; retry shortly".to_owned())
}

/// SQLite's busy/locked errors and the connection-level failures of the
/// PostgreSQL driver, which carry no dedicated error kind.
fn is_transient(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "database is locked",
        "database is busy",
        "connection closed",
        "connection reset",
        "broken pipe",
        "terminating connection",
        "the database system is",
        "connection refused",
        "unexpected eof",
        "error communicating",
        "server closed the connection",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

fn unavailable(error: &DieselError) -> DomainError {
    tracing::warn!(error = %error, "database unavailable");
    DomainError::Unavailable("the database is unavailable; retry shortly".to_owned())
}

fn internal(error: &DieselError) -> DomainError {
    DomainError::Internal(format!("database error: {error}"))
}
