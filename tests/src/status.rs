//! Reading the `google.rpc` details Roster puts on every error.

use tonic::Status;
use tonic_types::StatusExt;

/// The `ErrorInfo.reason` of a status.
pub fn reason(status: &Status) -> String {
    status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
}

/// The fields named by the status's `BadRequest` violations.
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad_request| bad_request.field_violations.into_iter().map(|violation| violation.field).collect())
        .unwrap_or_default()
}

/// Asserts a result failed with `code` and `reason`, returning the status.
#[track_caller]
pub fn expect_error<T: std::fmt::Debug>(result: Result<T, Status>, code: tonic::Code, expected_reason: &str) -> Status {
    let status = result.expect_err("the call should have failed");
    assert_eq!(status.code(), code, "unexpected code: {status:?}");
    assert_eq!(reason(&status), expected_reason, "unexpected reason: {status:?}");
    status
}
