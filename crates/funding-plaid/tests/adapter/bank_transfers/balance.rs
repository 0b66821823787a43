//! The balance, read for the origination account given or for the only one.

use funding_core::ports::BankTransferGateway;
use rust_decimal::Decimal;
use serde_json::json;

use crate::fixtures;
use crate::support::*;

#[tokio::test]
async fn the_balance_is_read_for_the_origination_account_given_or_the_only_one() {
    for (account, expected) in [
        (
            Some("8945fedc-e703-463d-86b1-dc0607b55460"),
            json!({"origination_account_id": "8945fedc-e703-463d-86b1-dc0607b55460"}),
        ),
        (None, json!({})),
    ] {
        let (server, client) = plaid().await;
        on("/bank_transfer/balance/get", ok(fixtures::balance()))
            .mount(&server)
            .await;

        let balance = client.bank_transfer_balance(account).await.unwrap();

        let request = the_request(&server).await;
        assert_eq!(request.url.path(), "/bank_transfer/balance/get");
        assert_eq!(body(&request), expected);
        assert_eq!(balance.available, Decimal::new(172170, 2));
        assert_eq!(balance.transactable, Decimal::new(72170, 2));
        assert_eq!(
            balance.origination_account_id.as_deref(),
            Some("8945fedc-e703-463d-86b1-dc0607b55460")
        );
    }
}
