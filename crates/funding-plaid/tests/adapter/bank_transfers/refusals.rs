//! Each documented refusal of the rail's endpoints maps to the kind and code the port promises,
//! and none is retried.

use funding_core::ports::ProviderErrorKind;
use wiremock::ResponseTemplate;

use crate::fixtures;
use crate::support::bank_transfers::call_endpoint;
use crate::support::*;

/// Each documented refusal of the rail's endpoints, with the kind the port promises for it; none
/// is retried.
#[tokio::test]
async fn each_documented_refusal_maps_to_its_kind_and_code_and_is_not_retried() {
    use ProviderErrorKind::*;
    let cases: &[(&str, u16, &str, &str, ProviderErrorKind)] = &[
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_LIMIT_EXCEEDED",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_MISSING_ORIGINATION_ACCOUNT",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_INVALID_ORIGINATION_ACCOUNT",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_ACCOUNT_BLOCKED",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_INSUFFICIENT_FUNDS",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "INVALID_INPUT",
            "INVALID_PROCESSOR_TOKEN",
            InvalidInput,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "INVALID_REQUEST",
            "MISSING_FIELDS",
            InvalidRequest,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "INVALID_INPUT",
            "INVALID_API_KEYS",
            Unauthorized,
        ),
        (
            "/processor/bank_transfer/create",
            400,
            "INVALID_INPUT",
            "UNAUTHORIZED_ROUTE_ACCESS",
            Forbidden,
        ),
        (
            "/bank_transfer/get",
            404,
            "INVALID_REQUEST",
            "NOT_FOUND",
            NotFound,
        ),
        (
            "/bank_transfer/cancel",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_NOT_CANCELLABLE",
            InvalidInput,
        ),
        (
            "/bank_transfer/list",
            400,
            "INVALID_REQUEST",
            "INVALID_FIELD",
            InvalidRequest,
        ),
        (
            "/bank_transfer/event/list",
            400,
            "INVALID_REQUEST",
            "INVALID_FIELD",
            InvalidRequest,
        ),
        (
            "/bank_transfer/event/sync",
            400,
            "INVALID_REQUEST",
            "INVALID_FIELD",
            InvalidRequest,
        ),
        (
            "/bank_transfer/balance/get",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_MISSING_ORIGINATION_ACCOUNT",
            InvalidInput,
        ),
        (
            "/bank_transfer/balance/get",
            400,
            "BANK_TRANSFER_ERROR",
            "BANK_TRANSFER_UNSUPPORTED_ENVIRONMENT",
            InvalidInput,
        ),
        (
            "/webhook_verification_key/get",
            400,
            "INVALID_INPUT",
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            InvalidInput,
        ),
        (
            "/sandbox/processor_token/create",
            400,
            "INVALID_INPUT",
            "INVALID_INSTITUTION",
            InvalidInput,
        ),
        (
            "/sandbox/processor_token/create",
            400,
            "INVALID_REQUEST",
            "SANDBOX_ONLY",
            InvalidRequest,
        ),
        (
            "/sandbox/bank_transfer/simulate",
            400,
            "SANDBOX_ERROR",
            "SANDBOX_BANK_TRANSFER_EVENT_TRANSITION_INVALID",
            InvalidInput,
        ),
        (
            "/sandbox/bank_transfer/fire_webhook",
            400,
            "SANDBOX_ERROR",
            "SANDBOX_WEBHOOK_INVALID",
            InvalidInput,
        ),
    ];
    for &(endpoint, status, error_type, code, kind) in cases {
        let (server, client) = plaid().await;
        let refusal = fixtures::plaid_error(error_type, code, "refused", "req-refused");
        on(
            endpoint,
            ResponseTemplate::new(status).set_body_json(refusal),
        )
        .mount(&server)
        .await;

        let error = call_endpoint(&client, endpoint).await.unwrap_err();

        let what = format!("{endpoint} {code}");
        assert_eq!(error.kind, kind, "{what}");
        assert_eq!(error.code, code, "{what}");
        assert_eq!(error.http_status, Some(status), "{what}");
        assert_eq!(error.request_id.as_deref(), Some("req-refused"), "{what}");
        assert!(!error.is_retryable(), "{what}");
        assert_eq!(received(&server, endpoint).await.len(), 1, "{what}");
    }
}
