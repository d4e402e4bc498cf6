//! The one place where Roster errors become gRPC statuses, and statuses from
//! the other Roster service become errors again.
//!
//! Every status carries a `google.rpc.ErrorInfo` with the error's stable
//! reason (domain `roster`), and a `google.rpc.BadRequest` with one field
//! violation per bad field. Internal causes are logged with their whole chain
//! and never sent.

use std::collections::HashMap;
use std::error::Error as _;

use roster_domain::{DomainError, ErrorCode};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every Roster error.
pub const ERROR_DOMAIN: &str = "roster";

fn grpc_code(code: ErrorCode) -> Code {
    match code {
        ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::AlreadyExists => Code::AlreadyExists,
        ErrorCode::FailedPrecondition => Code::FailedPrecondition,
        ErrorCode::PermissionDenied => Code::PermissionDenied,
        ErrorCode::Unauthenticated => Code::Unauthenticated,
        ErrorCode::ResourceExhausted => Code::ResourceExhausted,
        ErrorCode::Unavailable => Code::Unavailable,
        ErrorCode::Internal => Code::Internal,
    }
}

/// The whole source chain, for logs.
fn cause_chain(error: &DomainError) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// Turns an error into the status the caller sees.
pub fn status_from_error(error: DomainError) -> Status {
    let code = error.code();
    match code {
        ErrorCode::Internal => tracing::error!(error = %cause_chain(&error), "request failed"),
        ErrorCode::Unavailable => tracing::warn!(error = %cause_chain(&error), "dependency unavailable"),
        _ => tracing::debug!(reason = error.reason(), "request refused"),
    }
    let mut metadata = HashMap::new();
    if let DomainError::FailedPrecondition { rule, .. } = &error {
        metadata.insert("rule".to_owned(), (*rule).to_owned());
    }
    let mut details = ErrorDetails::new();
    details.set_error_info(error.reason(), ERROR_DOMAIN, metadata);
    for violation in error.field_violations() {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    // A uniqueness refusal names its field too, so a form can point at it.
    if let DomainError::AlreadyExists { field, .. } = &error {
        details.add_bad_request_violation(*field, "is already taken");
    }
    Status::with_error_details(grpc_code(code), error.public_message(), details)
}

/// The `ErrorInfo.reason` of a status, if it has one.
pub fn status_reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// Reasons the other service may send that are passed on as they are. Any
/// other reason is reported as `UPSTREAM_REFUSED`.
const PASSED_ON_REASONS: &[&str] = &[
    "INVALID_CREDENTIALS",
    "PASSWORD_POOL_BUSY",
    "INVALID_FIELD",
    "SESSION_REPLACED",
    "SESSION_EXPIRED",
    "SESSION_LOGGED_OUT",
    "SESSION_REVOKED",
    "SESSION_UNKNOWN",
    "INTERNAL_CREDENTIAL_REQUIRED",
];

fn static_reason(reason: Option<String>) -> &'static str {
    reason
        .and_then(|reason| PASSED_ON_REASONS.iter().find(|known| **known == reason).copied())
        .unwrap_or("UPSTREAM_REFUSED")
}

/// Turns a status returned by the other Roster service (`dependency`) into
/// an error of ours. Transport failures are `Unavailable`: the caller must
/// fail closed.
pub fn error_from_status(status: Status, dependency: &'static str) -> DomainError {
    let reason = status_reason(&status);
    let message = status.message().to_owned();
    match status.code() {
        Code::Unauthenticated => DomainError::Unauthenticated { reason: static_reason(reason), message },
        Code::PermissionDenied => DomainError::PermissionDenied { reason: static_reason(reason), message },
        Code::ResourceExhausted => DomainError::ResourceExhausted { reason: static_reason(reason), message },
        Code::InvalidArgument => {
            let violations = status
                .get_details_bad_request()
                .map(|bad_request| {
                    bad_request
                        .field_violations
                        .into_iter()
                        .map(|violation| roster_domain::FieldViolation::new(violation.field, violation.description))
                        .collect()
                })
                .unwrap_or_default();
            DomainError::InvalidArgument { reason: static_reason(reason), violations }
        }
        Code::NotFound => DomainError::NotFound { entity: dependency, reason: static_reason(reason) },
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            DomainError::unavailable(dependency, status)
        }
        _ => DomainError::internal("calling another roster service", status),
    }
}

#[cfg(test)]
mod tests {
    use roster_domain::FieldViolation;

    use super::*;

    #[test]
    fn invalid_arguments_carry_reason_and_field_violations() {
        let status = status_from_error(DomainError::invalid_fields(vec![FieldViolation::new("owner.email", "bad")]));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status_reason(&status).as_deref(), Some("INVALID_FIELD"));
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, "owner.email");
    }

    #[test]
    fn already_exists_names_the_taken_field() {
        let status =
            status_from_error(DomainError::AlreadyExists { entity: "user", field: "email", reason: "EMAIL_TAKEN" });
        assert_eq!(status.code(), Code::AlreadyExists);
        assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "email");
    }

    #[test]
    fn internal_causes_stay_out_of_the_status() {
        let status = status_from_error(DomainError::internal("loading", "postgres://user:secret@db"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn rule_violations_name_their_rule() {
        let status = status_from_error(DomainError::FailedPrecondition {
            rule: "R5",
            reason: "OWNER_PROTECTED",
            message: "the owner cannot be deleted".to_owned(),
        });
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.metadata.get("rule").map(String::as_str), Some("R5"));
    }

    #[test]
    fn statuses_round_trip_between_services() {
        let status = status_from_error(DomainError::invalid_credentials());
        let error = error_from_status(status, "directory");
        assert_eq!(error.reason(), "INVALID_CREDENTIALS");
        assert_eq!(error.code(), ErrorCode::Unauthenticated);
        let transport = error_from_status(Status::unavailable("connection refused"), "directory");
        assert_eq!(transport.code(), ErrorCode::Unavailable);
    }
}
