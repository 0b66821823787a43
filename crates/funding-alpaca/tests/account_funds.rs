//! `Broker::account_funds`: `cash`, `cash_withdrawable` and `pending_transfer_out` of the trading
//! account, read exactly; the first two are required (`Decode` without them), the third is optional.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use common::{ACCOUNT, BASIC_AUTH, account, alpaca_error, broker, trading_path};
use funding_core::ports::{AccountFunds, ProviderErrorKind};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The port's answer to a trading account of `body`.
async fn funds_of(body: Value) -> Result<AccountFunds, funding_core::ports::ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(trading_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    broker(&server.uri()).account_funds(account()).await
}

#[tokio::test]
async fn the_three_figures_of_the_trading_account_are_read_exactly() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(trading_path()))
        .and(header("authorization", BASIC_AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": ACCOUNT, "account_number": "935142145", "status": "ACTIVE", "currency": "USD",
            "cash": "24861.91", "cash_withdrawable": "17861.91", "cash_transferable": "24861.91",
            "pending_transfer_out": "125.5", "pending_transfer_in": "500", "buying_power": "1",
            "transfers_blocked": false, "created_at": "2021-03-01T13:28:49.270232Z"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let funds = broker(&server.uri())
        .account_funds(account())
        .await
        .unwrap();

    assert_eq!(
        funds,
        AccountFunds {
            cash: Decimal::new(2_486_191, 2),
            cash_withdrawable: Decimal::new(1_786_191, 2),
            pending_transfer_out: Some(Decimal::new(1255, 1)),
        }
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[0].method.as_str(), "GET");
    assert_eq!(requests[0].url.query(), None);
}

#[tokio::test]
async fn figures_without_decimals_are_read_and_a_missing_pending_transfer_out_is_none() {
    for pending in [None, Some(Value::Null), Some(json!(""))] {
        let mut body = json!({"cash": "10", "cash_withdrawable": "0"});
        if let Some(pending) = pending.clone() {
            body["pending_transfer_out"] = pending;
        }
        let funds = funds_of(body).await.unwrap();
        assert_eq!(funds.cash, Decimal::from(10), "{pending:?}");
        assert_eq!(funds.cash_withdrawable, Decimal::ZERO, "{pending:?}");
        assert_eq!(funds.pending_transfer_out, None, "{pending:?}");
    }
}

#[tokio::test]
async fn a_missing_or_unreadable_cash_or_cash_withdrawable_is_a_decode_error() {
    for body in [
        json!({"cash": "10"}),
        json!({"cash_withdrawable": "10"}),
        json!({"cash": "ten", "cash_withdrawable": "10"}),
        json!({"cash": "10", "cash_withdrawable": ""}),
        json!({"cash": "10", "cash_withdrawable": null}),
        json!({"cash": "10", "cash_withdrawable": "10", "pending_transfer_out": "lots"}),
    ] {
        let error = funds_of(body.clone()).await.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Decode, "{body}");
        assert_eq!(error.http_status, Some(200), "{body}");
    }
}

#[tokio::test]
async fn the_funds_of_an_unknown_account_are_not_found_after_retrying_a_429() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(alpaca_error(42910000, "rate limit exceeded")),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(alpaca_error(40410000, "account not found")),
        )
        .mount(&server)
        .await;
    let error = broker(&server.uri())
        .account_funds(account())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}
