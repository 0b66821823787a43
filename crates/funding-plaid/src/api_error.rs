//! Plaid's error object (`PlaidError` in the spec), read from every non-2xx body, and the one place
//! that decides which [`ProviderErrorKind`] a Plaid error is. Error types Plaid adds later are kept as
//! [`PlaidErrorType::Unknown`], never dropped.

use std::fmt;
use std::time::Duration;

use funding_core::ports::{Provider, ProviderError, ProviderErrorKind};
use serde::{Deserialize, Deserializer};

use funding_domain::redact_tokens;

/// Plaid's broad error category (`PlaidErrorType`, 2020-09-14_1.697.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PlaidErrorType {
    InvalidRequest,
    InvalidResult,
    InvalidInput,
    InstitutionError,
    RateLimitExceeded,
    ApiError,
    ItemError,
    AssetReportError,
    BaseReportError,
    RecaptchaError,
    OauthError,
    PaymentError,
    BankTransferError,
    IncomeVerificationError,
    MicrodepositsError,
    SandboxError,
    PartnerError,
    SignalError,
    TransactionsError,
    TransactionError,
    TransferError,
    CheckReportError,
    ConsumerReportError,
    UserError,
    /// A category this adapter does not know, exactly as Plaid sent it.
    Unknown(String),
}

const KNOWN_TYPES: &[(&str, PlaidErrorType)] = &[
    ("INVALID_REQUEST", PlaidErrorType::InvalidRequest),
    ("INVALID_RESULT", PlaidErrorType::InvalidResult),
    ("INVALID_INPUT", PlaidErrorType::InvalidInput),
    ("INSTITUTION_ERROR", PlaidErrorType::InstitutionError),
    ("RATE_LIMIT_EXCEEDED", PlaidErrorType::RateLimitExceeded),
    ("API_ERROR", PlaidErrorType::ApiError),
    ("ITEM_ERROR", PlaidErrorType::ItemError),
    ("ASSET_REPORT_ERROR", PlaidErrorType::AssetReportError),
    ("BASE_REPORT_ERROR", PlaidErrorType::BaseReportError),
    ("RECAPTCHA_ERROR", PlaidErrorType::RecaptchaError),
    ("OAUTH_ERROR", PlaidErrorType::OauthError),
    ("PAYMENT_ERROR", PlaidErrorType::PaymentError),
    ("BANK_TRANSFER_ERROR", PlaidErrorType::BankTransferError),
    (
        "INCOME_VERIFICATION_ERROR",
        PlaidErrorType::IncomeVerificationError,
    ),
    ("MICRODEPOSITS_ERROR", PlaidErrorType::MicrodepositsError),
    ("SANDBOX_ERROR", PlaidErrorType::SandboxError),
    ("PARTNER_ERROR", PlaidErrorType::PartnerError),
    ("SIGNAL_ERROR", PlaidErrorType::SignalError),
    ("TRANSACTIONS_ERROR", PlaidErrorType::TransactionsError),
    ("TRANSACTION_ERROR", PlaidErrorType::TransactionError),
    ("TRANSFER_ERROR", PlaidErrorType::TransferError),
    ("CHECK_REPORT_ERROR", PlaidErrorType::CheckReportError),
    ("CONSUMER_REPORT_ERROR", PlaidErrorType::ConsumerReportError),
    ("USER_ERROR", PlaidErrorType::UserError),
];

impl PlaidErrorType {
    /// Reads Plaid's string; anything unknown is kept as `Unknown`.
    pub fn parse(text: &str) -> Self {
        KNOWN_TYPES
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, kind)| kind.clone())
            .unwrap_or_else(|| Self::Unknown(text.to_owned()))
    }

    /// The string Plaid uses.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Unknown(text) => text,
            known => KNOWN_TYPES
                .iter()
                .find(|(_, kind)| kind == known)
                .map_or("", |(name, _)| name),
        }
    }
}

impl fmt::Display for PlaidErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PlaidErrorType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Self::parse(&text))
    }
}

/// The error object Plaid answers a failed request with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlaidApiError {
    pub error_type: PlaidErrorType,
    /// The specific code, e.g. `INVALID_PUBLIC_TOKEN`.
    pub error_code: String,
    /// For developers; Plaid may change the wording.
    #[serde(default)]
    pub error_message: String,
    /// Safe to show to an end user, when Plaid gives one.
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub documentation_url: Option<String>,
    #[serde(default)]
    pub suggested_action: Option<String>,
}

impl PlaidApiError {
    /// Reads a response body as Plaid's error object; `None` when it is not one.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    /// What kind of failure this is, given the HTTP status it came with. Plaid's documents say to
    /// read `error_type` and `error_code` in preference to the status; the classes are tabled in
    /// [`ERROR_CLASSES`](crate::ERROR_CLASSES).
    ///
    /// `API_ERROR` `PLANNED_MAINTENANCE` (503) is Plaid saying it did not process the request:
    /// `NotProcessed`. `INVALID_API_KEYS` (and a 401) is our credentials; `UNAUTHORIZED_ENVIRONMENT`
    /// and `UNAUTHORIZED_ROUTE_ACCESS` (and a 403) are features the client is not enabled for; a
    /// 404 is a missing resource; `RATE_LIMIT_EXCEEDED` (429) is rate limiting; any other
    /// `API_ERROR` and any 5xx are Plaid failing, the outcome unknown; `INVALID_REQUEST` is a
    /// malformed request; everything else (`INVALID_INPUT`, `ITEM_ERROR`, `BANK_TRANSFER_ERROR`,
    /// unknown types…) is input Plaid refuses.
    pub fn kind(&self, http_status: u16) -> ProviderErrorKind {
        match (&self.error_type, self.error_code.as_str(), http_status) {
            (PlaidErrorType::ApiError, "PLANNED_MAINTENANCE", _) => ProviderErrorKind::NotProcessed,
            (_, "INVALID_API_KEYS", _) | (_, _, 401) => ProviderErrorKind::Unauthorized,
            (_, "UNAUTHORIZED_ENVIRONMENT" | "UNAUTHORIZED_ROUTE_ACCESS", _) | (_, _, 403) => {
                ProviderErrorKind::Forbidden
            }
            (_, _, 404) => ProviderErrorKind::NotFound,
            (PlaidErrorType::RateLimitExceeded, _, _) | (_, _, 429) => {
                ProviderErrorKind::RateLimited
            }
            (PlaidErrorType::ApiError, _, _) | (_, _, 500..=599) => ProviderErrorKind::Unavailable,
            (PlaidErrorType::InvalidRequest, _, _) => ProviderErrorKind::InvalidRequest,
            _ => ProviderErrorKind::InvalidInput,
        }
    }

    /// The port's error: `code` is Plaid's `error_code`, the messages are Plaid's with any token
    /// they might echo masked.
    pub fn into_provider_error(
        self,
        http_status: u16,
        retry_after: Option<Duration>,
    ) -> ProviderError {
        let kind = self.kind(http_status);
        let mut error = ProviderError::new(
            Provider::Plaid,
            kind,
            self.error_code,
            format!(
                "{}: {}",
                self.error_type,
                redact_tokens(&self.error_message)
            ),
        );
        error.display_message = self.display_message.as_deref().map(redact_tokens);
        error.http_status = Some(http_status);
        error.request_id = self.request_id;
        error.retry_after = retry_after;
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(error_type: &str, code: &str) -> PlaidApiError {
        PlaidApiError::from_body(
            format!(
                r#"{{"error_type":"{error_type}","error_code":"{code}","error_message":"m","display_message":null,"request_id":"r1"}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn error_types_round_trip_and_unknown_ones_are_kept() {
        for (name, kind) in KNOWN_TYPES {
            assert_eq!(&PlaidErrorType::parse(name), kind);
            assert_eq!(kind.as_str(), *name);
        }
        let unknown = PlaidErrorType::parse("QUANTUM_ERROR");
        assert_eq!(unknown, PlaidErrorType::Unknown("QUANTUM_ERROR".into()));
        assert_eq!(unknown.to_string(), "QUANTUM_ERROR");
    }

    #[test]
    fn each_plaid_error_maps_to_its_kind() {
        use ProviderErrorKind::*;
        for (error_type, code, status, kind) in [
            ("INVALID_REQUEST", "MISSING_FIELDS", 400, InvalidRequest),
            ("INVALID_REQUEST", "UNKNOWN_FIELDS", 400, InvalidRequest),
            ("INVALID_REQUEST", "NOT_FOUND", 404, NotFound),
            ("INVALID_INPUT", "INVALID_PUBLIC_TOKEN", 400, InvalidInput),
            ("INVALID_INPUT", "INVALID_ACCOUNT_ID", 400, InvalidInput),
            ("INVALID_INPUT", "INVALID_API_KEYS", 400, Unauthorized),
            ("INVALID_INPUT", "UNAUTHORIZED_ENVIRONMENT", 400, Forbidden),
            ("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 400, InvalidInput),
            (
                "BANK_TRANSFER_ERROR",
                "BANK_TRANSFER_NOT_CANCELLABLE",
                400,
                InvalidInput,
            ),
            ("RATE_LIMIT_EXCEEDED", "RATE_LIMIT", 429, RateLimited),
            ("API_ERROR", "INTERNAL_SERVER_ERROR", 500, Unavailable),
            ("API_ERROR", "PLANNED_MAINTENANCE", 503, NotProcessed),
            ("API_ERROR", "PLANNED_MAINTENANCE", 500, NotProcessed),
            (
                "INVALID_REQUEST",
                "PLANNED_MAINTENANCE",
                400,
                InvalidRequest,
            ),
            ("INSTITUTION_ERROR", "INSTITUTION_DOWN", 502, Unavailable),
            ("BRAND_NEW_ERROR", "SOMETHING", 400, InvalidInput),
        ] {
            assert_eq!(
                error(error_type, code).kind(status),
                kind,
                "{error_type} {code} {status}"
            );
        }
    }

    #[test]
    fn the_provider_error_carries_code_status_request_id_and_retry_after() {
        let converted = error("RATE_LIMIT_EXCEEDED", "RATE_LIMIT")
            .into_provider_error(429, Some(Duration::from_secs(3)));
        assert_eq!(converted.provider, Provider::Plaid);
        assert_eq!(converted.kind, ProviderErrorKind::RateLimited);
        assert_eq!(converted.code, "RATE_LIMIT");
        assert_eq!(converted.http_status, Some(429));
        assert_eq!(converted.request_id.as_deref(), Some("r1"));
        assert_eq!(converted.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_body_that_is_not_an_error_object_is_not_read_as_one() {
        assert!(PlaidApiError::from_body(b"<html>Bad Gateway</html>").is_none());
        assert!(PlaidApiError::from_body(br#"{"message":"nope"}"#).is_none());
    }
}
