//! The one error type of the registry's domain. Every variant is a decision
//! about what the caller is told; the gRPC layer maps each to exactly one
//! status code.

use thiserror::Error;

/// One invalid request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The request field at fault, in the proto's snake_case naming
    /// (`artifact.sha256`, `metrics[auc]`).
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Why a registry operation failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DomainError {
    /// The request is malformed; every offending field is named (never
    /// empty).
    #[error("{}", describe_violations(.0))]
    InvalidArgument(Vec<FieldViolation>),
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
    /// A policy forbids the change as asked (a protected alias moved
    /// directly): FAILED_PRECONDITION, with a precondition-failure detail
    /// naming the policy (`kind`, `subject`) so a client can act on it.
    #[error("{message}")]
    PolicyRefused {
        /// What the caller is told, including the flow to use instead.
        message: String,
        /// The violated policy, e.g. `ALIAS_PROTECTED`.
        kind: String,
        /// What it protects, e.g. `models/churn/aliases/production`.
        subject: String,
    },
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
    /// The call's deadline passed; a change was not made.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A resource ran out (a full disk); nothing was written.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The database cannot be reached or is overloaded; retrying may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the service itself. The detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// An [`DomainError::InvalidArgument`] for one `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// The fields an INVALID_ARGUMENT names (empty for other errors).
    pub fn invalid_fields(&self) -> Vec<&str> {
        match self {
            Self::InvalidArgument(violations) => {
                violations.iter().map(|v| v.field.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// `invalid FIELD: MESSAGE`, for each violation, separated by `; `.
fn describe_violations(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("invalid {}: {}", v.field, v.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects the violations of every field of a request, so one answer
/// names them all instead of only the first.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// The value of a field check, or `None` after recording why it failed.
    pub fn check<T>(&mut self, result: DomainResult<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(DomainError::InvalidArgument(violations)) => {
                self.0.extend(violations);
                None
            }
            Err(other) => {
                self.0.push(FieldViolation {
                    field: "request".to_owned(),
                    message: other.to_string(),
                });
                None
            }
        }
    }

    /// Records a violation.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Fails with every violation recorded, if any.
    pub fn finish(self) -> DomainResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::InvalidArgument(self.0))
        }
    }

    /// The error of a request some check refused (a fault when none did).
    pub fn into_error(self) -> DomainError {
        match self.finish() {
            Err(error) => error,
            Ok(()) => DomainError::Internal("a field check failed without a reason".to_owned()),
        }
    }
}

/// Result of a registry operation.
pub type DomainResult<T> = Result<T, DomainError>;
