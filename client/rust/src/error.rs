//! The client's one error type. RPC failures keep the server's gRPC code and
//! message, so callers can branch on the code and show the message as is.

use tonic::Code;

/// One invalid field of a refused request, from the server's
/// `google.rpc.BadRequest` detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The request field, e.g. `metrics[auc]` or `artifact.sha256`.
    pub field: String,
    /// What is wrong with it and how to fix it.
    pub description: String,
}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status.
    #[error("{message} ({})", code_name(*.code))]
    Rpc {
        /// The gRPC status code.
        code: Code,
        /// The server's message: what was wrong and how to fix it.
        message: String,
        /// The id the server gave the request (its `google.rpc.RequestInfo`
        /// detail), to quote when asking an operator.
        request_id: Option<String>,
        /// Every invalid field, for INVALID_ARGUMENT.
        field_violations: Vec<FieldViolation>,
    },
    /// The endpoint or TLS settings could not be used.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A local file (artifact, CA certificate, metadata) could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An argument was rejected before anything was sent.
    #[error("{0}")]
    InvalidInput(String),
    /// Downloaded bytes are not the ones signed or registered, or the
    /// signature no longer verifies (see `modelreg pull`).
    #[error("{0}")]
    Verification(String),
}

impl Error {
    /// The gRPC code of a server error; `None` for local errors.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The named model, version or event does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(Code::NotFound)
    }

    /// The request was malformed (or rejected locally before sending).
    pub fn is_invalid_argument(&self) -> bool {
        self.code() == Some(Code::InvalidArgument) || matches!(self, Self::InvalidInput(_))
    }

    /// A rule forbids the change in the current state (status machine,
    /// production rules, metric gate).
    pub fn is_failed_precondition(&self) -> bool {
        self.code() == Some(Code::FailedPrecondition)
    }

    /// A compare-and-set lost: someone else changed production first.
    pub fn is_aborted(&self) -> bool {
        self.code() == Some(Code::Aborted)
    }

    /// The thing to create exists already (a reused `request_id`).
    pub fn is_already_exists(&self) -> bool {
        self.code() == Some(Code::AlreadyExists)
    }

    /// The server or its database is unreachable; retrying later may work.
    pub fn is_unavailable(&self) -> bool {
        self.code() == Some(Code::Unavailable)
    }
}

impl Error {
    /// The id the server gave the failed request, when it said.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Rpc { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Every invalid field of a refused request (empty otherwise).
    pub fn field_violations(&self) -> &[FieldViolation] {
        match self {
            Self::Rpc {
                field_violations, ..
            } => field_violations,
            _ => &[],
        }
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        use tonic_types::StatusExt;
        let details = status.get_error_details();
        // A status made on this side (the connection failed) carries the
        // transport error as its source: keep the causes, e.g. "tcp connect
        // error: Connection refused (os error 111)".
        let mut message = status.message().to_owned();
        let mut cause = std::error::Error::source(&status);
        while let Some(error) = cause {
            let text = error.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            cause = error.source();
        }
        Self::Rpc {
            code: status.code(),
            message,
            request_id: details
                .request_info()
                .map(|info| info.request_id.clone())
                .or_else(|| {
                    status
                        .metadata()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                }),
            field_violations: details
                .bad_request()
                .map(|bad| {
                    bad.field_violations
                        .iter()
                        .map(|v| FieldViolation {
                            field: v.field.clone(),
                            description: v.description.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The canonical upper-case name of a gRPC code, e.g. `NOT_FOUND`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Result of a client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_read_like_the_server_said_them_with_the_code() {
        let error = Error::from(tonic::Status::not_found("model \"churn\" has no version 9"));
        assert_eq!(
            error.to_string(),
            "model \"churn\" has no version 9 (NOT_FOUND)"
        );
        assert!(error.is_not_found());
        assert!(!error.is_unavailable());
    }

    #[test]
    fn field_violations_and_the_request_id_come_from_the_details() {
        use tonic_types::{ErrorDetails, StatusExt};
        let mut details = ErrorDetails::with_bad_request_violation("model_name", "is required");
        details.set_request_info("req-7", "");
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "invalid model_name: is required",
            details,
        );
        let error = Error::from(status);
        assert_eq!(error.request_id(), Some("req-7"));
        assert_eq!(
            error.field_violations(),
            [FieldViolation {
                field: "model_name".into(),
                description: "is required".into()
            }]
        );
    }
}
