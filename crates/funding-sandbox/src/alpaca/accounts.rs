//! The account reads: `GET /v1/trading/accounts/{account_id}/account`, the trading account's cash
//! picture (`TradeAccount`), so a caller can check `cash_withdrawable` before a withdrawal or
//! reconcile completed transfers; and `GET /v1/accounts/{account_id}` (`AccountExtended`), the
//! brokerage account with its owner (`identity.given_name`, `family_name`; settable through
//! control) for the owner-name check. With no positions, equity and buying power equal cash.
//! Every field alpaca-py's `TradeAccount` and `Account` require is present. `cash_withdrawable`
//! nets the withdrawals not yet complete, or not (`"gross"` setting); `pending_transfer_out` sums
//! them (requested amounts: what cash will lose) and `pending_transfer_in` the deposits (net).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::json;

use super::error::AlpacaError;
use super::request::{parse_id, path_error};
use super::store::{ACTIVE, Direction};
use crate::ids::alpaca_timestamp;
use crate::plaid::model::{
    OWNER_CITY, OWNER_EMAIL, OWNER_PHONE, OWNER_POSTAL_CODE, OWNER_REGION, OWNER_STREET,
};
use crate::state::Shared;

/// When every emulated account was opened (2020-01-01T00:00:00Z).
const ACCOUNTS_OPENED: chrono::DateTime<chrono::Utc> =
    chrono::DateTime::from_timestamp_nanos(1_577_836_800_000_000_000);

/// The last market close before `now`: 16:00 New York, taken as 20:00 UTC (daylight time).
fn previous_close(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let close = |day: chrono::NaiveDate| {
        day.and_hms_opt(20, 0, 0)
            .map_or(ACCOUNTS_OPENED, |at| at.and_utc())
    };
    let today = close(now.date_naive());
    if today < now {
        today
    } else {
        now.date_naive().pred_opt().map_or(ACCOUNTS_OPENED, close)
    }
}

fn account_id(path: Result<Path<String>, PathRejection>) -> Result<uuid::Uuid, AlpacaError> {
    path.map_err(|rejection| path_error(&rejection))
        .and_then(|Path(raw)| parse_id("account_id", &raw))
}

/// The account's number: a stable 10-digit one derived from its id.
fn account_number(account_id: uuid::Uuid) -> String {
    let number = u128::from_be_bytes(*account_id.as_bytes()) % 1_000_000_000;
    format!("9{number:09}")
}

pub(crate) async fn trading_account(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let account_id = match account_id(path) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    let world = shared.world();
    let account = world.alpaca.account(account_id);
    let cash = account.cash.normalize();
    let mode = world.settings.alpaca.cash_withdrawable;
    let withdrawable = world
        .alpaca
        .withdrawable(account_id, mode)
        .max(Decimal::ZERO);
    let pending_in = world.alpaca.pending(account_id, Direction::Incoming);
    let pending_out = world.alpaca.pending(account_id, Direction::Outgoing);
    let text = |value: Decimal| value.normalize().to_string();
    Json(json!({
        "id": account_id,
        "account_number": account_number(account_id),
        "status": account.status,
        "currency": "USD",
        "cash": text(cash),
        "cash_withdrawable": text(withdrawable),
        "cash_transferable": text(withdrawable),
        "pending_transfer_in": text(pending_in),
        "pending_transfer_out": text(pending_out),
        "buying_power": text(cash),
        "regt_buying_power": text(cash),
        "daytrading_buying_power": "0",
        "equity": text(cash),
        "last_equity": text(cash),
        "last_cash": text(cash),
        "portfolio_value": text(cash),
        "long_market_value": "0",
        "short_market_value": "0",
        "multiplier": "1",
        "pattern_day_trader": false,
        "trading_blocked": false,
        "transfers_blocked": account.status != ACTIVE,
        "account_blocked": false,
        "trade_suspended_by_user": false,
        "shorting_enabled": false,
        "created_at": alpaca_timestamp(ACCOUNTS_OPENED),
        // alpaca-py's TradeAccount requires these (nullable, but present).
        "previous_close": alpaca_timestamp(previous_close(shared.clock.now())),
        "last_long_market_value": "0",
        "last_short_market_value": "0",
        "last_initial_margin": "0",
        "last_regt_buying_power": text(cash),
        "last_buying_power": text(cash),
        "clearing_broker": "ALPACA_APCA",
    }))
    .into_response()
}

/// `GET /v1/accounts/{account_id}`: `AccountExtended`. The owner's name is the account's (control:
/// `owner_name`); the contact details are Plaid's sandbox owner's (the same person by default).
/// No tax id is shown, and no trusted contact (alpaca-py refuses one without a way to reach it).
pub(crate) async fn broker_account(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let account_id = match account_id(path) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    let account = shared.world().alpaca.account(account_id);
    let opened = alpaca_timestamp(ACCOUNTS_OPENED);
    let agreement =
        |kind: &str| json!({"agreement": kind, "signed_at": opened, "ip_address": "127.0.0.1"});
    Json(json!({
        "id": account_id,
        "account_number": account_number(account_id),
        "status": account.status,
        "currency": "USD",
        "last_equity": account.cash.normalize().to_string(),
        "created_at": opened,
        "account_type": "trading",
        "contact": {
            "email_address": OWNER_EMAIL,
            "phone_number": format!("+1{OWNER_PHONE}"),
            "street_address": [OWNER_STREET],
            "city": OWNER_CITY,
            "state": OWNER_REGION,
            "postal_code": OWNER_POSTAL_CODE,
            "country": "USA",
        },
        "identity": {
            "given_name": account.given_name,
            "family_name": account.family_name,
            "date_of_birth": "1970-01-01",
            "country_of_citizenship": "USA",
            "country_of_birth": "USA",
            "country_of_tax_residence": "USA",
            "funding_source": ["employment_income"],
        },
        "disclosures": {
            "is_control_person": false,
            "is_affiliated_exchange_or_finra": false,
            "is_politically_exposed": false,
            "immediate_family_exposed": false,
        },
        "agreements": [
            agreement("customer_agreement"),
            agreement("account_agreement"),
            agreement("margin_agreement"),
        ],
        "documents": [],
    }))
    .into_response()
}
