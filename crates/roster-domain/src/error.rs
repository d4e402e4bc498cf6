//! The one error table of Roster.
//!
//! Every failure a caller can see is a [`DomainError`]. Each variant has a
//! closed [`ErrorCode`] (mapped to a gRPC code in exactly one place, in
//! `roster-server`) and a stable, machine-readable `reason` string that goes
//! into `google.rpc.ErrorInfo`. Internal causes keep their source chain for
//! the logs and are never sent to the caller.

use std::fmt;

/// The closed set of error classes. Adapters map these, and only these, to
/// transport status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    PermissionDenied,
    Unauthenticated,
    ResourceExhausted,
    Unavailable,
    Internal,
}

/// One offending field of a request, named by its path in the request
/// message (`owner.login_name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }

    /// The same violation with `prefix.` in front of the field path, for a
    /// value parsed inside a nested message.
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.field, self.description)
    }
}

impl std::error::Error for FieldViolation {}

impl From<FieldViolation> for DomainError {
    fn from(violation: FieldViolation) -> Self {
        DomainError::invalid_fields(vec![violation])
    }
}

type BoxedCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every error a Roster operation can return.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Bad input. `reason` is stable (`INVALID_FIELD`, `WEAK_PASSWORD`); the
    /// violations name each field and the rule it broke.
    #[error("invalid argument: {}", join_violations(.violations))]
    InvalidArgument { reason: &'static str, violations: Vec<FieldViolation> },

    /// The named thing does not exist (or the caller may not know it does).
    #[error("{entity} not found")]
    NotFound { entity: &'static str, reason: &'static str },

    /// A uniqueness rule: `field` already holds this value.
    #[error("{entity} already exists: {field} is taken")]
    AlreadyExists { entity: &'static str, field: &'static str, reason: &'static str },

    /// A rule of PRODUCT.md forbids this in the current state (`rule` cites
    /// it, `R5`).
    #[error("{rule}: {message}")]
    FailedPrecondition { rule: &'static str, reason: &'static str, message: String },

    /// The caller is known but may not do this.
    #[error("permission denied: {message}")]
    PermissionDenied { reason: &'static str, message: String },

    /// No valid caller: bad credentials, a dead session.
    #[error("unauthenticated: {message}")]
    Unauthenticated { reason: &'static str, message: String },

    /// Overload or throttling; retry later.
    #[error("resource exhausted: {message}")]
    ResourceExhausted { reason: &'static str, message: String },

    /// A dependency (database, Redis, the other service) cannot be reached.
    #[error("{dependency} unavailable")]
    Unavailable {
        dependency: &'static str,
        #[source]
        cause: BoxedCause,
    },

    /// A bug or an unexpected state; details stay in the logs.
    #[error("internal error: {context}")]
    Internal {
        context: &'static str,
        #[source]
        cause: BoxedCause,
    },
}

fn join_violations(violations: &[FieldViolation]) -> String {
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl DomainError {
    /// One invalid field.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument { reason: "INVALID_FIELD", violations: vec![FieldViolation::new(field, description)] }
    }

    /// Several invalid fields, collected while parsing one request.
    pub fn invalid_fields(violations: Vec<FieldViolation>) -> Self {
        Self::InvalidArgument { reason: "INVALID_FIELD", violations }
    }

    pub fn unavailable(dependency: &'static str, cause: impl Into<BoxedCause>) -> Self {
        Self::Unavailable { dependency, cause: cause.into() }
    }

    pub fn internal(context: &'static str, cause: impl Into<BoxedCause>) -> Self {
        Self::Internal { context, cause: cause.into() }
    }

    pub fn permission_denied(reason: &'static str, message: impl Into<String>) -> Self {
        Self::PermissionDenied { reason, message: message.into() }
    }

    pub fn unauthenticated(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthenticated { reason, message: message.into() }
    }

    /// The answer to every failed login, whatever the cause (R39, R11-style
    /// non-disclosure): it never says whether the login exists.
    pub fn invalid_credentials() -> Self {
        Self::unauthenticated("INVALID_CREDENTIALS", "invalid account, login name or password")
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::AlreadyExists { .. } => ErrorCode::AlreadyExists,
            Self::FailedPrecondition { .. } => ErrorCode::FailedPrecondition,
            Self::PermissionDenied { .. } => ErrorCode::PermissionDenied,
            Self::Unauthenticated { .. } => ErrorCode::Unauthenticated,
            Self::ResourceExhausted { .. } => ErrorCode::ResourceExhausted,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
            Self::Internal { .. } => ErrorCode::Internal,
        }
    }

    /// The stable reason for `google.rpc.ErrorInfo`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidArgument { reason, .. }
            | Self::NotFound { reason, .. }
            | Self::AlreadyExists { reason, .. }
            | Self::FailedPrecondition { reason, .. }
            | Self::PermissionDenied { reason, .. }
            | Self::Unauthenticated { reason, .. }
            | Self::ResourceExhausted { reason, .. } => reason,
            Self::Unavailable { .. } => "DEPENDENCY_UNAVAILABLE",
            Self::Internal { .. } => "INTERNAL",
        }
    }

    /// The message a caller may see: never an internal cause.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal { .. } => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn field_violations(&self) -> &[FieldViolation] {
        match self {
            Self::InvalidArgument { violations, .. } => violations,
            _ => &[],
        }
    }
}

/// Collects field violations while a request is parsed, so the caller hears
/// about every bad field at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the parsed value, or records its violation and returns `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.0.push(violation);
                None
            }
        }
    }

    pub fn push(&mut self, violation: FieldViolation) {
        self.0.push(violation);
    }

    /// `Ok(())` when nothing was recorded.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            return Ok(());
        }
        Err(DomainError::invalid_fields(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_show_their_cause() {
        let error = DomainError::internal("loading user", "secret connection string leaked");
        assert_eq!(error.public_message(), "internal error");
        assert_eq!(error.code(), ErrorCode::Internal);
    }

    #[test]
    fn violations_collect_every_bad_field() {
        let mut violations = Violations::new();
        let kept: Option<u8> = violations.check(Err(FieldViolation::new("a", "bad")));
        assert!(kept.is_none());
        violations.push(FieldViolation::new("b", "worse"));
        let error = violations.finish().unwrap_err();
        let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["a", "b"]);
        assert_eq!(error.reason(), "INVALID_FIELD");
    }
}
