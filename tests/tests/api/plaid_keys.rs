//! Plaid's idempotency keys are scoped to the calling client (DESIGN §9): Plaid deduplicates
//! `/processor/bank_transfer/create` by key across everything this service sends, so the key sent
//! is derived from the caller and its key. Two callers that happen to use one key each get their
//! own bank transfer; one caller's repeat still makes one.

use funding_client::FundingClient;
use funding_client::v1::BankTransferStatus;
use funding_tests::{AppOptions, Backend, TestApp};
use fundingd::settings::ClientSettings;

fn client(name: &str, token: &str) -> ClientSettings {
    use sha2::Digest;
    ClientSettings {
        name: name.into(),
        token_sha256: sha2::Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        scopes: ["bank_transfers:write", "read", "sandbox"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    }
}

async fn two_callers_with_one_key_each_get_their_own_bank_transfer_at_plaid(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        clients: vec![
            client("treasury", "treasury-token"),
            client("payroll", "payroll-token"),
        ],
        token: Some("treasury-token".into()),
        ..AppOptions::default()
    })
    .await;
    let payroll = FundingClient::connect(app.address.clone(), Some("payroll-token"))
        .await
        .unwrap();
    let token = app.processor_token().await;
    let mut first = app.bank_transfer_request(&token, "12.34");
    first.idempotency_key = "shared-key-1".into();
    let mut second = app.bank_transfer_request(&token, "56.78");
    second.idempotency_key = "shared-key-1".into();
    second.description = "Payroll".into();

    let a = app.create_bank_transfer(first.clone()).await.unwrap();
    let b = payroll
        .bank_transfers()
        .create_bank_transfer(second.clone())
        .await
        .expect("another caller's key is its own")
        .into_inner()
        .bank_transfer
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.status(), BankTransferStatus::Pending);
    assert_eq!(b.status(), BankTransferStatus::Pending);
    assert_ne!(
        a.provider_bank_transfer_id, b.provider_bank_transfer_id,
        "two at Plaid"
    );
    assert_eq!((a.amount.as_str(), b.amount.as_str()), ("12.34", "56.78"));

    // A repeat by either caller answers its own, and Plaid still holds two.
    let again = payroll
        .bank_transfers()
        .create_bank_transfer(second)
        .await
        .unwrap()
        .into_inner()
        .bank_transfer
        .unwrap();
    assert_eq!(again.id, b.id);
    let repeat = app.create_bank_transfer(first).await.unwrap();
    assert_eq!(repeat.id, a.id);
    let at_plaid = app.bank_transfers_at_plaid().await;
    assert_eq!(at_plaid.len(), 2, "{at_plaid:?}");
    let mut amounts: Vec<_> = at_plaid
        .iter()
        .map(|t| t["amount"].as_str().unwrap_or_default().to_owned())
        .collect();
    amounts.sort();
    assert_eq!(
        amounts,
        ["12.34", "56.78"],
        "each caller's own request reached Plaid"
    );
    app.stop().await;
}

funding_tests::on_both_backends!(
    two_callers_with_one_key_each_get_their_own_bank_transfer_at_plaid,
);
