//! The processor rail's shared pieces: bank transfer requests with every optional field set or
//! none, Plaid's transfer id of the fixtures, and every endpoint of the rail's two ports with a
//! call of the port method behind each.

use funding_core::ports::{
    BankTransferGateway, BankTransferSandbox, PlaidBankTransferEventFilter,
    PlaidBankTransferListFilter, SimulatedBankTransferEvent,
};
use funding_domain::{
    BankTransferDraft, BankTransferRequest, BankTransferUserDraft, PlaidBankTransferId,
};

use crate::fixtures::{self, BANK_TRANSFER_ID};
use crate::support::{INSTITUTION_ID, PROCESSOR_TOKEN};

/// A request with every optional field set.
pub fn full_request() -> BankTransferRequest {
    BankTransferRequest::parse(&BankTransferDraft {
        idempotency_key: "key-1".into(),
        processor_token: PROCESSOR_TOKEN.into(),
        transfer_type: "credit".into(),
        network: "same-day-ach".into(),
        amount: "12.3".into(),
        iso_currency_code: "USD".into(),
        description: "Payout".into(),
        ach_class: Some("ppd".into()),
        user: BankTransferUserDraft {
            legal_name: "John Smith".into(),
            email_address: Some("plaid@plaid.com".into()),
            routing_number: None,
        },
        custom_tag: Some("my tag".into()),
        metadata: vec![
            ("key1".into(), "value1".into()),
            ("key2".into(), "value2".into()),
        ],
        origination_account_id: Some("11111111-1111-1111-1111-111111111111".into()),
    })
    .unwrap()
}

/// A wire transfer with no optional field set.
pub fn minimal_request() -> BankTransferRequest {
    BankTransferRequest::parse(&BankTransferDraft {
        idempotency_key: "key-2".into(),
        processor_token: PROCESSOR_TOKEN.into(),
        transfer_type: "debit".into(),
        network: "wire".into(),
        amount: "1000".into(),
        iso_currency_code: "USD".into(),
        description: "Deposit".into(),
        ach_class: None,
        user: BankTransferUserDraft {
            legal_name: "Acme Inc".into(),
            email_address: None,
            routing_number: None,
        },
        custom_tag: None,
        metadata: vec![],
        origination_account_id: None,
    })
    .unwrap()
}

pub fn transfer_id() -> PlaidBankTransferId {
    PlaidBankTransferId::parse(BANK_TRANSFER_ID).unwrap()
}

/// Every endpoint of the rail's two ports.
pub const RAIL_ENDPOINTS: &[&str] = &[
    "/processor/bank_transfer/create",
    "/bank_transfer/get",
    "/bank_transfer/cancel",
    "/bank_transfer/list",
    "/bank_transfer/event/list",
    "/bank_transfer/event/sync",
    "/bank_transfer/balance/get",
    "/processor/balance/get",
    "/webhook_verification_key/get",
    "/sandbox/processor_token/create",
    "/sandbox/bank_transfer/simulate",
    "/sandbox/bank_transfer/fire_webhook",
];

/// Calls the port method behind `endpoint` (one of [`RAIL_ENDPOINTS`]) with typical arguments.
pub async fn call_endpoint(
    client: &funding_plaid::PlaidClient,
    endpoint: &str,
) -> Result<(), funding_core::ports::ProviderError> {
    match endpoint {
        "/processor/bank_transfer/create" => {
            client.create_bank_transfer(&full_request()).await.map(drop)
        }
        "/bank_transfer/get" => client.get_bank_transfer(&transfer_id()).await.map(drop),
        "/bank_transfer/cancel" => client.cancel_bank_transfer(&transfer_id()).await,
        "/bank_transfer/list" => client
            .list_bank_transfers(&PlaidBankTransferListFilter::default())
            .await
            .map(drop),
        "/bank_transfer/event/list" => client
            .list_bank_transfer_events(&PlaidBankTransferEventFilter::default())
            .await
            .map(drop),
        "/bank_transfer/event/sync" => client.sync_bank_transfer_events(0, 25).await.map(drop),
        "/bank_transfer/balance/get" => client.bank_transfer_balance(None).await.map(drop),
        "/processor/balance/get" => client
            .processor_balance(&super::processor_token())
            .await
            .map(drop),
        "/webhook_verification_key/get" => client
            .webhook_verification_key(fixtures::WEBHOOK_KEY_ID)
            .await
            .map(drop),
        "/sandbox/processor_token/create" => {
            BankTransferSandbox::create_processor_token(client, INSTITUTION_ID, None)
                .await
                .map(drop)
        }
        "/sandbox/bank_transfer/simulate" => {
            client
                .simulate_bank_transfer(&transfer_id(), SimulatedBankTransferEvent::Posted, None)
                .await
        }
        "/sandbox/bank_transfer/fire_webhook" => {
            client
                .fire_webhook("https://funding.example/webhooks/plaid")
                .await
        }
        other => panic!("no port method for {other}"),
    }
}
