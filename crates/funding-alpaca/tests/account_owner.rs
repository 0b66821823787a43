//! `Broker::account_owner_name`: the owner's name from `GET /v1/accounts/{id}`'s `identity`, for
//! the owner-name check; `None` without one; Alpaca's errors classified as for every read.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use common::{ACCOUNT, BASIC_AUTH, account, alpaca_error, broker};
use funding_core::ports::ProviderErrorKind;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn account_path() -> String {
    format!("/v1/accounts/{ACCOUNT}")
}

async fn owner_of(
    status: u16,
    body: Value,
) -> Result<Option<String>, funding_core::ports::ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(account_path()))
        .and(header("authorization", BASIC_AUTH))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    broker(&server.uri()).account_owner_name(account()).await
}

#[tokio::test]
async fn the_owner_is_given_middle_and_family_name_of_the_identity() {
    let name = owner_of(
        200,
        json!({
            "id": ACCOUNT, "account_number": "935142145", "status": "ACTIVE",
            "identity": {"given_name": "Alberta", "middle_name": "Bobbeth",
                         "family_name": "Charleson", "date_of_birth": "1990-01-01"},
            "contact": {"email_address": "a@example.com"}
        }),
    )
    .await
    .unwrap();
    assert_eq!(name.as_deref(), Some("Alberta Bobbeth Charleson"));
    let without_middle = owner_of(
        200,
        json!({"id": ACCOUNT, "identity": {"given_name": "John", "family_name": "Doe"}}),
    )
    .await
    .unwrap();
    assert_eq!(without_middle.as_deref(), Some("John Doe"));
}

#[tokio::test]
async fn an_account_without_a_name_has_none() {
    assert_eq!(owner_of(200, json!({"id": ACCOUNT})).await.unwrap(), None);
    assert_eq!(
        owner_of(
            200,
            json!({"id": ACCOUNT, "identity": {"given_name": " ", "family_name": ""}})
        )
        .await
        .unwrap(),
        None
    );
}

#[tokio::test]
async fn alpacas_errors_are_classified() {
    let missing = owner_of(404, alpaca_error(40410000, "account not found"))
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ProviderErrorKind::NotFound);
    let unreadable = owner_of(200, json!({"identity": "not an object"}))
        .await
        .unwrap_err();
    assert_eq!(unreadable.kind, ProviderErrorKind::Decode);
}
