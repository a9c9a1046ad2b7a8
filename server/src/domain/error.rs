//! The one error type of the registry's domain. Every variant is a decision
//! about what the caller is told; the gRPC layer maps each to exactly one
//! status code.

use thiserror::Error;

/// Why a registry operation failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DomainError {
    /// The request is malformed; `field` names the offending request field.
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        /// The request field at fault, in the proto's snake_case naming.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The named model, version or event does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The thing the caller tried to create exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well-formed but the current state forbids it (status
    /// machine, production rules, metric gate).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A compare-and-set precondition did not hold: someone else changed the
    /// state first. Re-read and decide again.
    #[error("{0}")]
    Aborted(String),
    /// The request carries no valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// The principal is known but lacks the right to do this; the message
    /// names what was needed.
    #[error("{0}")]
    PermissionDenied(String),
    /// The database cannot be reached or is overloaded; retrying may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the service itself. The detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// An [`DomainError::InvalidArgument`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result of a registry operation.
pub type DomainResult<T> = Result<T, DomainError>;
