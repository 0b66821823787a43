//! `BankTransferRequest::parse`: any draft is a request or a list of broken rules, each naming a
//! field, never a panic. A request read gives back a draft that reads to the same request, and no
//! refusal quotes the processor token.
#![no_main]

use arbitrary::Arbitrary;
use funding_domain::{BankTransferDraft, BankTransferRequest, BankTransferUserDraft};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Draft {
    idempotency_key: String,
    processor_token: String,
    transfer_type: String,
    network: String,
    amount: String,
    iso_currency_code: String,
    description: String,
    ach_class: Option<String>,
    legal_name: String,
    email_address: Option<String>,
    routing_number: Option<String>,
    custom_tag: Option<String>,
    metadata: Vec<(String, String)>,
    origination_account_id: Option<String>,
}

fuzz_target!(|input: Draft| {
    let draft = BankTransferDraft {
        idempotency_key: input.idempotency_key,
        processor_token: input.processor_token,
        transfer_type: input.transfer_type,
        network: input.network,
        amount: input.amount,
        iso_currency_code: input.iso_currency_code,
        description: input.description,
        ach_class: input.ach_class,
        user: BankTransferUserDraft {
            legal_name: input.legal_name,
            email_address: input.email_address,
            routing_number: input.routing_number,
        },
        custom_tag: input.custom_tag,
        metadata: input.metadata,
        origination_account_id: input.origination_account_id,
    };
    match BankTransferRequest::parse(&draft) {
        Ok(request) => {
            let again = BankTransferRequest::parse(&request.to_draft());
            assert!(
                again.as_ref().ok() == Some(&request),
                "a request's draft reads back to it"
            );
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in errors.iter() {
                assert!(!error.field().is_empty() && !error.rule().is_empty());
                // A token-shaped value (the rules' own words are not tokens) is never quoted.
                if draft.processor_token.starts_with("processor-") {
                    assert!(!error.rule().contains(&draft.processor_token));
                    assert!(!error.field().contains(&draft.processor_token));
                }
            }
        }
    }
});
