//! The `google.rpc` details of an error status the suites look at: `ErrorInfo`'s reason and
//! metadata, `BadRequest`'s fields.

use tonic::Status;
use tonic_types::StatusExt;

/// `ErrorInfo.reason` of an error status.
pub fn error_reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// `ErrorInfo.metadata[key]` of an error status.
pub fn error_metadata(status: &Status, key: &str) -> Option<String> {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get(key).cloned())
}

/// The fields a `BadRequest` detail names.
pub fn bad_request_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
