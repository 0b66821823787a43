//! Checks a Plaid `/processor/bank_transfer/create` request against every rule of the domain.
//!
//! Reads the request as JSON on stdin, with Plaid's field names (`type`, `network`, `amount`,
//! `user.legal_name`, `metadata`, …), and prints each broken rule as `field: rule`, or `valid`.
//! The exit code is 1 when the request is invalid, 2 when stdin is not a JSON object.
//!
//! ```sh
//! echo '{"idempotency_key": "k1", "processor_token": "processor-sandbox-1", "type": "debit",
//!        "network": "ach", "amount": "10.001", "iso_currency_code": "USD",
//!        "description": "Deposit", "user": {"legal_name": "Jane Doe"}}' |
//!   cargo run -q -p funding-domain --example validate_bank_transfer
//! ```

use std::io::Read as _;
use std::process::ExitCode;

use funding_domain::{BankTransferDraft, BankTransferRequest, BankTransferUserDraft};
use serde_json::Value;

/// A string field; absent or `null` is empty, any other JSON value is kept as its JSON text, so
/// that the domain names it rather than this program.
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn optional(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        some => Some(text(some)),
    }
}

fn draft(json: &serde_json::Map<String, Value>) -> BankTransferDraft {
    let user = json.get("user").and_then(Value::as_object);
    let metadata = json
        .get("metadata")
        .and_then(Value::as_object)
        .map(|pairs| {
            pairs
                .iter()
                .map(|(key, value)| (key.clone(), text(Some(value))))
                .collect()
        })
        .unwrap_or_default();
    BankTransferDraft {
        idempotency_key: text(json.get("idempotency_key")),
        processor_token: text(json.get("processor_token")),
        transfer_type: text(json.get("type")),
        network: text(json.get("network")),
        amount: text(json.get("amount")),
        iso_currency_code: text(json.get("iso_currency_code")),
        description: text(json.get("description")),
        ach_class: optional(json.get("ach_class")),
        user: BankTransferUserDraft {
            legal_name: text(user.and_then(|u| u.get("legal_name"))),
            email_address: optional(user.and_then(|u| u.get("email_address"))),
            routing_number: optional(user.and_then(|u| u.get("routing_number"))),
        },
        custom_tag: optional(json.get("custom_tag")),
        metadata,
        origination_account_id: optional(json.get("origination_account_id")),
    }
}

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("cannot read stdin: {error}");
        return ExitCode::from(2);
    }
    let json = match serde_json::from_str::<Value>(&input) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            eprintln!("stdin is not a JSON object");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("stdin is not JSON: {error}");
            return ExitCode::from(2);
        }
    };
    match BankTransferRequest::parse(&draft(&json)) {
        Ok(_) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in errors.iter() {
                println!("{}: {}", error.field(), error.rule());
            }
            ExitCode::from(1)
        }
    }
}
