//! The one mapping from [`CoreError`] to `tonic::Status`: a status code, a message safe to show, and
//! `tonic-types` details — `ErrorInfo { reason, domain: "funding.v1" }` on every error, `BadRequest`
//! for validation, `PreconditionFailure` for state conflicts, `RetryInfo` on UNAVAILABLE and
//! RESOURCE_EXHAUSTED. Provider errors carry the provider and its own code in `ErrorInfo.metadata`.

use std::collections::HashMap;
use std::time::Duration;

use funding_core::CoreError;
use funding_core::ports::{ProviderError, ProviderErrorKind, StoreError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub const DOMAIN: &str = "funding.v1";

/// How long callers are told to wait after a provider or database outage when the provider did not say.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a handler's body fails with: a refusal made at the edge (auth, a malformed request: already
/// a `Status`) or a use case's error. `?` takes either; `observe::observed`
/// turns it into the caller's status, once, for every handler.
#[derive(Debug)]
pub enum HandlerError {
    Status(Status),
    Core(CoreError),
}

impl From<Status> for HandlerError {
    fn from(status: Status) -> Self {
        Self::Status(status)
    }
}

impl From<CoreError> for HandlerError {
    fn from(error: CoreError) -> Self {
        Self::Core(error)
    }
}

impl From<HandlerError> for Status {
    fn from(error: HandlerError) -> Self {
        match error {
            HandlerError::Status(status) => status,
            HandlerError::Core(error) => into_status(error),
        }
    }
}

/// Converts a use case's error into the status a caller gets. Logs the cause and counts the reason
/// (`funding_errors_total{reason}`).
pub fn into_status(error: CoreError) -> Status {
    let status = status_of(error);
    let reason = status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default();
    metrics::counter!("funding_errors_total", "reason" => reason).increment(1);
    status
}

fn status_of(error: CoreError) -> Status {
    match error {
        CoreError::InvalidArgument(errors) => {
            let mut details = ErrorDetails::new();
            for error in errors.iter() {
                details.add_bad_request_violation(error.field(), error.rule());
            }
            details.set_error_info("INVALID_ARGUMENT", DOMAIN, HashMap::new());
            let message = format!("invalid request: {errors}");
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        CoreError::ShuttingDown { resume_after } => {
            let mut details = ErrorDetails::new();
            details.set_error_info(
                "SHUTTING_DOWN",
                DOMAIN,
                HashMap::from([("resume_after_event_id".to_owned(), resume_after.clone())]),
            );
            details.set_retry_info(Some(DEFAULT_RETRY_AFTER));
            Status::with_error_details(
                Code::Unavailable,
                format!(
                    "the server is shutting down; watch again with after_event_id {resume_after}"
                ),
                details,
            )
        }
        CoreError::WatcherTooSlow { resume_after } => {
            let mut details = ErrorDetails::new();
            details.set_error_info(
                "WATCHER_TOO_SLOW",
                DOMAIN,
                HashMap::from([("resume_after_event_id".to_owned(), resume_after.clone())]),
            );
            details.set_retry_info(Some(DEFAULT_RETRY_AFTER));
            Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "the watcher read too slowly and was ended; watch again with after_event_id {resume_after}"
                ),
                details,
            )
        }
        CoreError::IdempotencyKeyReused { operation, field } => {
            let mut details = ErrorDetails::new();
            details.set_error_info(
                "IDEMPOTENCY_KEY_REUSED",
                DOMAIN,
                HashMap::from([
                    ("field".to_owned(), field.clone()),
                    ("operation".to_owned(), operation.to_owned()),
                ]),
            );
            details.add_precondition_failure_violation(
                "IDEMPOTENCY_KEY_REUSED",
                "idempotency_key",
                format!("the key was used before for a request with a different {field}"),
            );
            Status::with_error_details(
                Code::FailedPrecondition,
                format!(
                    "idempotency_key was used before for a {operation} with a different {field}"
                ),
                details,
            )
        }
        CoreError::NotFound { resource, id } => {
            let mut details = ErrorDetails::new();
            details.set_error_info(
                "NOT_FOUND",
                DOMAIN,
                HashMap::from([("resource".to_owned(), resource.to_owned())]),
            );
            Status::with_error_details(
                Code::NotFound,
                format!("{resource} {id} not found"),
                details,
            )
        }
        CoreError::FailedPrecondition {
            reason,
            subject,
            message,
        } => {
            let mut details = ErrorDetails::new();
            details.set_error_info(reason, DOMAIN, HashMap::new());
            details.add_precondition_failure_violation(reason, subject, message.clone());
            Status::with_error_details(Code::FailedPrecondition, message, details)
        }
        CoreError::Provider(error) => provider_status(&error),
        CoreError::Store(error) => store_status(&error),
        CoreError::Unimplemented(message) => Status::unimplemented(message),
        CoreError::Internal(message) => {
            tracing::error!("{message}");
            let mut details = ErrorDetails::new();
            details.set_error_info("INTERNAL", DOMAIN, HashMap::new());
            Status::with_error_details(Code::Internal, "internal error", details)
        }
    }
}

fn provider_status(error: &ProviderError) -> Status {
    let (code, reason) = match error.kind {
        ProviderErrorKind::InvalidRequest | ProviderErrorKind::InvalidInput => {
            (Code::InvalidArgument, "PROVIDER_REFUSED_INPUT")
        }
        ProviderErrorKind::NotFound => (Code::NotFound, "PROVIDER_NOT_FOUND"),
        ProviderErrorKind::Conflict => (Code::AlreadyExists, "PROVIDER_CONFLICT"),
        ProviderErrorKind::Forbidden => (Code::FailedPrecondition, "PROVIDER_FORBIDDEN"),
        ProviderErrorKind::Unauthorized => (Code::Internal, "PROVIDER_CREDENTIALS_REFUSED"),
        ProviderErrorKind::RateLimited => (Code::Unavailable, "PROVIDER_RATE_LIMITED"),
        ProviderErrorKind::Unavailable
        | ProviderErrorKind::Transport
        | ProviderErrorKind::NotProcessed => (Code::Unavailable, "PROVIDER_UNAVAILABLE"),
        ProviderErrorKind::Decode => (Code::Internal, "PROVIDER_ANSWER_UNREADABLE"),
    };
    metrics::counter!("funding_provider_errors_total", "provider" => error.provider.as_str(), "code" => error.code.clone()).increment(1);
    let mut metadata = HashMap::from([
        ("provider".to_owned(), error.provider.to_string()),
        ("provider_code".to_owned(), error.code.clone()),
    ]);
    if let Some(request_id) = &error.request_id {
        metadata.insert("provider_request_id".to_owned(), request_id.clone());
    }
    if let Some(status) = error.http_status {
        metadata.insert("provider_http_status".to_owned(), status.to_string());
    }
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, DOMAIN, metadata);
    if code == Code::Unavailable {
        details.set_retry_info(Some(error.retry_after.unwrap_or(DEFAULT_RETRY_AFTER)));
    }
    if code == Code::Internal {
        tracing::error!(provider = %error.provider, provider_code = %error.code, "provider call failed: {}", error.message);
    } else {
        tracing::info!(provider = %error.provider, provider_code = %error.code, "provider refused: {}", error.message);
    }
    let message = match (code, &error.display_message) {
        (Code::Internal, _) => format!(
            "{} could not serve the request ({})",
            error.provider, error.code
        ),
        (_, Some(display)) => format!(
            "{} {}: {} ({display})",
            error.provider, error.code, error.message
        ),
        _ => format!("{} {}: {}", error.provider, error.code, error.message),
    };
    Status::with_error_details(code, message, details)
}

fn store_status(error: &StoreError) -> Status {
    let mut details = ErrorDetails::new();
    match error {
        StoreError::Unavailable(_) => {
            tracing::warn!("database unavailable: {error}");
            details.set_error_info("DATABASE_UNAVAILABLE", DOMAIN, HashMap::new());
            details.set_retry_info(Some(DEFAULT_RETRY_AFTER));
            Status::with_error_details(
                Code::Unavailable,
                "the database is unavailable; retry later",
                details,
            )
        }
        StoreError::Fenced(_) => {
            tracing::warn!("the work was taken over by another worker: {error}");
            details.set_error_info("WORK_TAKEN_OVER", DOMAIN, HashMap::new());
            details.set_retry_info(Some(DEFAULT_RETRY_AFTER));
            Status::with_error_details(
                Code::Aborted,
                "another worker took this work over; repeat the request to see where it stands",
                details,
            )
        }
        _ => {
            tracing::error!("storage failed: {error}");
            details.set_error_info("INTERNAL", DOMAIN, HashMap::new());
            Status::with_error_details(Code::Internal, "internal error", details)
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt as _;

    use super::*;

    fn reason(status: &Status) -> String {
        status
            .get_details_error_info()
            .map(|info| info.reason)
            .unwrap_or_default()
    }

    #[test]
    fn a_database_outage_is_unavailable_with_retry_info() {
        let status = into_status(CoreError::Store(StoreError::Unavailable("down".into())));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(reason(&status), "DATABASE_UNAVAILABLE");
        assert!(status.get_details_retry_info().is_some());
    }

    #[test]
    fn work_taken_over_by_another_worker_is_aborted_and_names_no_internals() {
        let status = into_status(CoreError::Store(StoreError::Fenced(
            "work 0190 generation 3".into(),
        )));
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(reason(&status), "WORK_TAKEN_OVER");
        assert!(status.get_details_retry_info().is_some());
        assert!(!status.message().contains("generation"));
    }

    #[test]
    fn other_storage_failures_are_internal_without_their_cause() {
        let status = into_status(CoreError::Store(StoreError::Corrupt(
            "bank_links row x: secret".into(),
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }
}
