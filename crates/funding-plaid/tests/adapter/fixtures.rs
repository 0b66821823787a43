//! Plaid's answers as the tests serve them, shaped after the spec's own examples. The conformance
//! test holds each of them to the spec's response schema, so a fixture cannot drift from Plaid.

use serde_json::{Value, json};

use crate::support::{ACCESS_TOKEN, ACCOUNT_ID, ITEM_ID, PROCESSOR_TOKEN, PUBLIC_TOKEN};

pub const BANK_TRANSFER_ID: &str = "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9";

pub fn exchange() -> Value {
    json!({"access_token": ACCESS_TOKEN, "item_id": ITEM_ID, "request_id": "Aim3b"})
}

pub fn processor_token() -> Value {
    json!({"processor_token": PROCESSOR_TOKEN, "request_id": "xrQNYZ7Zoh6R7gV"})
}

pub fn sandbox_public_token() -> Value {
    json!({"public_token": PUBLIC_TOKEN, "request_id": "Aim3b"})
}

pub fn accounts() -> Value {
    json!({
        "accounts": [
            {
                "account_id": ACCOUNT_ID,
                "balances": {"available": 100, "current": 110, "iso_currency_code": "USD",
                             "limit": null, "unofficial_currency_code": null},
                "holder_category": "personal",
                "mask": "0000",
                "name": "Plaid Checking",
                "official_name": "Plaid Gold Standard 0% Interest Checking",
                "subtype": "checking",
                "type": "depository"
            },
            {
                "account_id": "6PdjjRP6LmugpBy5NgQvUqpRXMWxzktg3rwrk",
                "balances": {"available": 200, "current": 210, "iso_currency_code": "USD",
                             "limit": null, "unofficial_currency_code": null},
                "mask": null,
                "name": "Plaid Saving",
                "official_name": null,
                "subtype": null,
                "type": "depository"
            }
        ],
        "item": {
            "available_products": ["balance", "identity"],
            "billed_products": ["auth"],
            "consent_expiration_time": null,
            "error": null,
            "institution_id": "ins_109508",
            "institution_name": "First Platypus Bank",
            "item_id": ITEM_ID,
            "update_type": "background",
            "webhook": "https://www.genericwebhookurl.com/webhook",
            "auth_method": "INSTANT_AUTH"
        },
        "request_id": "bkVE1BHWMAZ9Rnr"
    })
}

/// Plaid's `BankTransfer` example, all 17 fields.
pub fn bank_transfer_object() -> Value {
    json!({
        "account_id": "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B",
        "ach_class": "ppd",
        "amount": "12.34",
        "cancellable": true,
        "created": "2020-08-06T17:27:15Z",
        "custom_tag": "my tag",
        "description": "Testing2",
        "direction": "outbound",
        "failure_reason": null,
        "id": BANK_TRANSFER_ID,
        "iso_currency_code": "USD",
        "metadata": {"key1": "value1", "key2": "value2"},
        "network": "ach",
        "origination_account_id": "11111111-1111-1111-1111-111111111111",
        "status": "pending",
        "type": "credit",
        "user": {"email_address": "plaid@plaid.com", "legal_name": "John Smith", "routing_number": "111111111"}
    })
}

pub fn bank_transfer() -> Value {
    json!({"bank_transfer": bank_transfer_object(), "request_id": "saKrIBuEB9qJZno"})
}

pub fn request_id_only() -> Value {
    json!({"request_id": "mdqfuVxeoza6mhu"})
}

pub fn event_sync() -> Value {
    json!({
        "bank_transfer_events": [
            {
                "account_id": "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B",
                "bank_transfer_amount": "12.34",
                "bank_transfer_id": BANK_TRANSFER_ID,
                "bank_transfer_iso_currency_code": "USD",
                "bank_transfer_type": "credit",
                "direction": "outbound",
                "event_id": 1,
                "event_type": "pending",
                "failure_reason": null,
                "origination_account_id": "",
                "timestamp": "2020-08-06T17:27:15Z"
            },
            {
                "account_id": "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B",
                "bank_transfer_amount": "12.34",
                "bank_transfer_id": BANK_TRANSFER_ID,
                "bank_transfer_iso_currency_code": "USD",
                "bank_transfer_type": "credit",
                "direction": null,
                "event_id": 2,
                "event_type": "reversed",
                "failure_reason": {"ach_return_code": "R01", "description": "Insufficient funds"},
                "origination_account_id": null,
                "timestamp": "2020-08-07T17:27:15Z"
            }
        ],
        "request_id": "mdqfuVxeoza6mhu"
    })
}

/// A `BankTransferEvent` as plaid-python 46 (spec 2020-09-14_1.778) shapes it: with the
/// `receiver_details` it requires, and a field no version has yet.
pub fn event_with_receiver_details(event_id: u64) -> Value {
    json!({
        "account_id": "6qL6lWoQkAfNE3mB8Kk5tAnvpX81qefrvvl7B",
        "bank_transfer_amount": "100.00",
        "bank_transfer_id": BANK_TRANSFER_ID,
        "bank_transfer_iso_currency_code": "USD",
        "bank_transfer_type": "debit",
        "direction": "inbound",
        "event_id": event_id,
        "event_type": "posted",
        "failure_reason": null,
        "origination_account_id": "8945fedc-e703-463d-86b1-dc0607b55460",
        "receiver_details": {"available_balance": "1721.70"},
        "timestamp": "2024-03-01T09:00:00Z",
        "brand_new_field": {"nested": [1, 2]}
    })
}

pub fn event_list() -> Value {
    json!({
        "bank_transfer_events": [event_with_receiver_details(9)],
        "request_id": "mdqfuVxeoza6mhu"
    })
}

pub fn bank_transfer_list() -> Value {
    let mut second = bank_transfer_object();
    second["id"] = json!("8f0b2c7e-11aa-4c1e-9d3f-2b7c5e6a9d01");
    second["status"] = json!("reversed");
    second["cancellable"] = json!(false);
    second["failure_reason"] =
        json!({"ach_return_code": "R13", "description": "Invalid ACH routing number"});
    second["metadata"] = json!(null);
    second["direction"] = json!(null);
    second["originator_client_id"] = json!("569ed2f36b3a3a021713abc1");
    json!({"bank_transfers": [bank_transfer_object(), second], "request_id": "saKrIBuEB9qJZno"})
}

pub fn balance() -> Value {
    json!({
        "balance": {"available": "1721.70", "transactable": "721.70"},
        "origination_account_id": "8945fedc-e703-463d-86b1-dc0607b55460",
        "request_id": "mdqfuVxeoza6mhu"
    })
}

pub const WEBHOOK_KEY_ID: &str = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";

/// The spec's `/webhook_verification_key/get` example.
pub fn webhook_verification_key() -> Value {
    json!({
        "key": {
            "alg": "ES256",
            "created_at": 1560466150,
            "crv": "P-256",
            "expired_at": null,
            "kid": WEBHOOK_KEY_ID,
            "kty": "EC",
            "use": "sig",
            "x": "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ",
            "y": "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys"
        },
        "request_id": "RZ6Omi1bzzwDaLo"
    })
}

pub fn sandbox_processor_token() -> Value {
    json!({"processor_token": PROCESSOR_TOKEN, "request_id": "Aim3b"})
}

/// Plaid's error object.
pub fn plaid_error(error_type: &str, error_code: &str, message: &str, request_id: &str) -> Value {
    json!({
        "error_type": error_type,
        "error_code": error_code,
        "error_message": message,
        "display_message": null,
        "request_id": request_id,
        "causes": [],
        "status": null,
        "documentation_url": "https://plaid.com/docs/errors/",
        "suggested_action": null
    })
}

/// `/processor/balance/get`: the account behind the processor token, as the spec's example has it.
pub fn processor_balance() -> Value {
    json!({
        "account": {
            "account_id": ACCOUNT_ID,
            "balances": {"available": 120.5, "current": 130, "iso_currency_code": "USD",
                         "limit": null, "unofficial_currency_code": null},
            "mask": "0000",
            "name": "Plaid Checking",
            "official_name": "Plaid Gold Standard 0% Interest Checking",
            "subtype": "checking",
            "type": "depository"
        },
        "request_id": "1zlMf"
    })
}

/// Every success fixture with the endpoint that serves it.
pub fn all_responses() -> Vec<(&'static str, Value)> {
    vec![
        ("/item/public_token/exchange", exchange()),
        ("/processor/token/create", processor_token()),
        ("/accounts/get", accounts()),
        ("/sandbox/public_token/create", sandbox_public_token()),
        ("/processor/bank_transfer/create", bank_transfer()),
        ("/bank_transfer/get", bank_transfer()),
        ("/bank_transfer/cancel", request_id_only()),
        ("/bank_transfer/event/sync", event_sync()),
        ("/sandbox/bank_transfer/simulate", request_id_only()),
        ("/bank_transfer/list", bank_transfer_list()),
        ("/bank_transfer/event/list", event_list()),
        ("/bank_transfer/balance/get", balance()),
        ("/processor/balance/get", processor_balance()),
        ("/webhook_verification_key/get", webhook_verification_key()),
        ("/sandbox/processor_token/create", sandbox_processor_token()),
        ("/sandbox/bank_transfer/fire_webhook", request_id_only()),
    ]
}
