//! How fast the domain's checks run on the request path: an amount, a whole Plaid bank-transfer
//! request with 50 metadata pairs, and a lifecycle move. `cargo bench -p funding-domain`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use funding_domain::lifecycle::apply;
use funding_domain::{
    AlpacaTransferStatus, Amount, BankTransferDraft, BankTransferRequest, BankTransferUserDraft,
};

fn draft() -> BankTransferDraft {
    BankTransferDraft {
        idempotency_key: "b0e2c4ee-a763-4df5-bfe9-46a46bce993d".into(),
        processor_token: "processor-sandbox-0asd1-a92nc".into(),
        transfer_type: "debit".into(),
        network: "same-day-ach".into(),
        amount: "1234.56".into(),
        iso_currency_code: "USD".into(),
        description: "Deposit".into(),
        ach_class: Some("web".into()),
        user: BankTransferUserDraft {
            legal_name: "John Smith".into(),
            email_address: Some("john@example.com".into()),
            routing_number: None,
        },
        custom_tag: Some("tag".into()),
        metadata: (0..50)
            .map(|i| (format!("key{i}"), "v".repeat(100)))
            .collect(),
        origination_account_id: None,
    }
}

fn benches(c: &mut Criterion) {
    c.bench_function("amount_parse", |b| {
        b.iter(|| Amount::parse(black_box("1234.56")).unwrap())
    });
    let draft = draft();
    c.bench_function("bank_transfer_request_parse_50_metadata_pairs", |b| {
        b.iter(|| BankTransferRequest::parse(black_box(&draft)).unwrap())
    });
    c.bench_function("lifecycle_apply", |b| {
        b.iter(|| {
            apply(
                black_box(&AlpacaTransferStatus::SentToClearing),
                black_box(AlpacaTransferStatus::Complete),
            )
            .unwrap()
        })
    });
}

criterion_group!(parse, benches);
criterion_main!(parse);
