//! Errors as the operator reads them: one line `error: <CODE>: <message>`, then the `google.rpc`
//! details the service attached (ErrorInfo, BadRequest, PreconditionFailure, RetryInfo), one per line.
//! Never a Debug dump, never the bearer token.

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// What ended a command.
#[derive(Debug)]
pub enum CliError {
    /// The service answered with an error status.
    Status(Status),
    /// Anything else (cannot connect, bad output, a stream that ended early…).
    Other(String),
}

impl From<Status> for CliError {
    fn from(status: Status) -> Self {
        Self::Status(status)
    }
}

impl CliError {
    /// 2 for INVALID_ARGUMENT, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Status(status) if status.code() == Code::InvalidArgument => 2,
            _ => 1,
        }
    }

    /// The lines written to stderr.
    pub fn render(&self) -> Vec<String> {
        match self {
            Self::Status(status) => render_status(status),
            Self::Other(message) => vec![format!("error: {message}")],
        }
    }
}

/// The canonical gRPC name of a code (`INVALID_ARGUMENT`).
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

fn render_status(status: &Status) -> Vec<String> {
    let mut lines = vec![format!(
        "error: {}: {}",
        code_name(status.code()),
        one_line(status.message())
    )];
    let details = status.get_error_details();
    if let Some(info) = details.error_info() {
        lines.push(format!("  reason: {}", info.reason));
        let mut metadata: Vec<_> = info.metadata.iter().collect();
        metadata.sort();
        for (key, value) in metadata {
            lines.push(format!("  {key}: {}", one_line(value)));
        }
    }
    if let Some(bad) = details.bad_request() {
        for violation in &bad.field_violations {
            lines.push(format!(
                "  {}: {}",
                violation.field,
                one_line(&violation.description)
            ));
        }
    }
    if let Some(failure) = details.precondition_failure() {
        for violation in &failure.violations {
            lines.push(format!(
                "  precondition {} {}: {}",
                violation.r#type,
                violation.subject,
                one_line(&violation.description)
            ));
        }
    }
    if let Some(retry) = details.retry_info()
        && let Some(delay) = retry.retry_delay
    {
        lines.push(format!("  retry after: {:.3}s", delay.as_secs_f64()));
    }
    lines
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, FieldViolation};

    #[test]
    fn field_violations_are_listed_one_per_line() {
        let mut details = ErrorDetails::with_bad_request(vec![FieldViolation::new(
            "amount",
            "has more than 2 decimal places",
        )]);
        details.set_error_info("VALIDATION_FAILED", "funding.v1", []);
        let status = Status::with_error_details(Code::InvalidArgument, "invalid request", details);
        let error = CliError::from(status);
        let lines = error.render();
        assert_eq!(lines[0], "error: INVALID_ARGUMENT: invalid request");
        assert!(lines.contains(&"  reason: VALIDATION_FAILED".to_owned()));
        assert!(lines.contains(&"  amount: has more than 2 decimal places".to_owned()));
        assert_eq!(error.exit_code(), 2);
    }
}
