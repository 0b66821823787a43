//! Identifier and timestamp formats of both providers: Plaid request ids (15 alphanumerics),
//! Plaid item and account ids (37 alphanumerics), sandbox tokens (`<kind>-sandbox-<uuid>`), and
//! Alpaca's RFC 3339 timestamps with up to nanosecond precision and a `Z` suffix.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;

fn alphanumeric(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A Plaid `request_id`, e.g. `HNTDNrA8F1shFEW`.
pub(crate) fn plaid_request_id() -> String {
    alphanumeric(15)
}

/// A Plaid `item_id` or `account_id`, e.g. `M5eVJqLnv3tbzdngLDp9FL5OlDNxlNhlE55op`.
pub(crate) fn plaid_object_id() -> String {
    alphanumeric(37)
}

/// A sandbox token such as `access-sandbox-<uuid>`.
pub(crate) fn sandbox_token(kind: &str) -> String {
    format!("{kind}-sandbox-{}", uuid::Uuid::new_v4())
}

/// RFC 3339 in UTC with `Z`, fraction trimmed like Go's `RFC3339Nano`
/// (`2021-04-08T23:01:53.35743328Z`).
pub(crate) fn alpaca_timestamp(at: DateTime<Utc>) -> String {
    let base = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = at.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return format!("{base}Z");
    }
    let fraction = format!("{nanos:09}");
    format!("{base}.{}Z", fraction.trim_end_matches('0'))
}

/// RFC 3339 in UTC with whole seconds (`2020-08-06T17:27:15Z`), Plaid's style.
pub(crate) fn plaid_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn plaid_ids_have_plaid_lengths() {
        assert_eq!(plaid_request_id().len(), 15);
        assert_eq!(plaid_object_id().len(), 37);
        assert!(plaid_object_id().chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn alpaca_timestamps_trim_trailing_zeros_and_end_in_z() {
        let at = Utc.with_ymd_and_hms(2021, 4, 8, 23, 1, 53).unwrap()
            + chrono::Duration::nanoseconds(357_433_280);
        assert_eq!(alpaca_timestamp(at), "2021-04-08T23:01:53.35743328Z");
        let whole = Utc.with_ymd_and_hms(2021, 4, 8, 23, 1, 53).unwrap();
        assert_eq!(alpaca_timestamp(whole), "2021-04-08T23:01:53Z");
        assert_eq!(
            plaid_timestamp(whole + chrono::Duration::milliseconds(5)),
            "2021-04-08T23:01:53Z"
        );
    }

    #[test]
    fn tokens_carry_kind_and_environment() {
        assert!(sandbox_token("processor").starts_with("processor-sandbox-"));
    }
}
