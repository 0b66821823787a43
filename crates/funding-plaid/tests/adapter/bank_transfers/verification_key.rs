//! The webhook verification key: fetched by key id and read field by field, with no expiry until
//! Plaid sets one.

use funding_core::ports::BankTransferGateway;
use serde_json::json;

use crate::fixtures;
use crate::support::*;

#[tokio::test]
async fn a_webhook_verification_key_is_fetched_by_key_id_and_read_field_by_field() {
    let (server, client) = plaid().await;
    let mut answer = fixtures::webhook_verification_key();
    answer["key"]["expired_at"] = json!(1700000000);
    answer["key"]["brand_new_field"] = json!("x");
    on("/webhook_verification_key/get", ok(answer))
        .mount(&server)
        .await;

    let key = client
        .webhook_verification_key(fixtures::WEBHOOK_KEY_ID)
        .await
        .unwrap();

    let request = the_request(&server).await;
    assert_eq!(request.url.path(), "/webhook_verification_key/get");
    assert_eq!(body(&request), json!({"key_id": fixtures::WEBHOOK_KEY_ID}));
    assert_eq!(key.alg, "ES256");
    assert_eq!(key.crv, "P-256");
    assert_eq!(key.kid, fixtures::WEBHOOK_KEY_ID);
    assert_eq!(key.kty, "EC");
    assert_eq!(key.key_use, "sig");
    assert_eq!(key.x, "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ");
    assert_eq!(key.y, "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys");
    assert_eq!(key.created_at, 1560466150);
    assert_eq!(key.expired_at, Some(1700000000));
}

#[tokio::test]
async fn a_key_that_has_not_expired_has_no_expiry() {
    let (server, client) = plaid().await;
    on(
        "/webhook_verification_key/get",
        ok(fixtures::webhook_verification_key()),
    )
    .mount(&server)
    .await;

    let key = client
        .webhook_verification_key(fixtures::WEBHOOK_KEY_ID)
        .await
        .unwrap();

    assert_eq!(key.expired_at, None);
}
