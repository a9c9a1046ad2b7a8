//! The one mapping from domain errors to gRPC statuses. No wildcard arm: a
//! new error variant must be given a code here. Caller mistakes carry a
//! message that says how to fix them; internal faults are logged with their
//! detail and sent with a generic message.

use tonic::{Code, Status};
use tonic_types::{
    ErrorDetails, FieldViolation as WireViolation, PreconditionViolation, StatusExt,
};

use crate::domain::DomainError;

impl From<DomainError> for Status {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::InvalidArgument(violations) => {
                let message = DomainError::InvalidArgument(violations.clone()).to_string();
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|v| WireViolation::new(v.field, v.message))
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            DomainError::NotFound(message) => Status::not_found(message),
            DomainError::AlreadyExists(message) => Status::already_exists(message),
            DomainError::FailedPrecondition(message) => Status::failed_precondition(message),
            DomainError::PolicyRefused {
                message,
                kind,
                subject,
            } => {
                let details =
                    ErrorDetails::with_precondition_failure(vec![PreconditionViolation::new(
                        kind,
                        subject,
                        message.clone(),
                    )]);
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            DomainError::Aborted(message) => Status::aborted(message),
            DomainError::Unauthenticated(message) => Status::unauthenticated(message),
            DomainError::PermissionDenied(message) => Status::permission_denied(message),
            DomainError::DeadlineExceeded(message) => Status::deadline_exceeded(message),
            DomainError::ResourceExhausted(message) => Status::resource_exhausted(message),
            DomainError::Unavailable(message) => Status::unavailable(message),
            DomainError::Internal(detail) => {
                tracing::error!(error.detail = %detail, "internal error");
                Status::internal("internal error; the server log has the details")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_domain_error_has_its_canonical_code() {
        let cases = [
            (
                DomainError::invalid("model_name", "is required"),
                Code::InvalidArgument,
            ),
            (DomainError::NotFound("x".into()), Code::NotFound),
            (DomainError::AlreadyExists("x".into()), Code::AlreadyExists),
            (
                DomainError::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (DomainError::Aborted("x".into()), Code::Aborted),
            (
                DomainError::PolicyRefused {
                    message: "x".into(),
                    kind: "ALIAS_PROTECTED".into(),
                    subject: "models/m/aliases/production".into(),
                },
                Code::FailedPrecondition,
            ),
            (
                DomainError::Unauthenticated("x".into()),
                Code::Unauthenticated,
            ),
            (
                DomainError::PermissionDenied("x".into()),
                Code::PermissionDenied,
            ),
            (
                DomainError::DeadlineExceeded("x".into()),
                Code::DeadlineExceeded,
            ),
            (
                DomainError::ResourceExhausted("x".into()),
                Code::ResourceExhausted,
            ),
            (DomainError::Unavailable("x".into()), Code::Unavailable),
            (DomainError::Internal("x".into()), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(Status::from(error).code(), code);
        }
    }

    #[test]
    fn every_violation_travels_as_a_bad_request_detail() {
        let mut violations = crate::domain::Violations::default();
        violations.add("model_name", "is required");
        violations.add("metrics[auc]", "must be within [0, 1], got 2");
        let status = Status::from(violations.into_error());
        assert_eq!(
            status.message(),
            "invalid model_name: is required; invalid metrics[auc]: must be within [0, 1], got 2"
        );
        let details = status.get_error_details();
        let fields: Vec<&str> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["model_name", "metrics[auc]"]);
    }

    #[test]
    fn invalid_argument_names_the_field_and_internal_hides_detail() {
        let status = Status::from(DomainError::invalid(
            "artifact.sha256",
            "must be 64 hex characters",
        ));
        assert_eq!(
            status.message(),
            "invalid artifact.sha256: must be 64 hex characters"
        );
        let status = Status::from(DomainError::Internal("password=hunter2".into()));
        assert!(!status.message().contains("hunter2"));
    }
}
