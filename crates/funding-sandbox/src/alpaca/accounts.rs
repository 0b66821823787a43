//! `GET /v1/trading/accounts/{account_id}/account`: the trading account's cash picture
//! (`TradeAccount`), so a caller can check `cash_withdrawable` before a withdrawal or reconcile
//! completed transfers. With no positions, equity and buying power equal cash. Every field
//! alpaca-py's `TradeAccount` requires is present. `cash_withdrawable`
//! nets the withdrawals not yet complete, or not (`"gross"` setting); `pending_transfer_out` sums
//! them (requested amounts: what cash will lose) and `pending_transfer_in` the deposits (net).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::json;

use super::request::{parse_id, path_error};
use super::store::{ACTIVE, Direction};
use crate::ids::alpaca_timestamp;
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

pub(crate) async fn trading_account(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let account_id = match path
        .map_err(|rejection| path_error(&rejection))
        .and_then(|Path(raw)| parse_id("account_id", &raw))
    {
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
    let number = u128::from_be_bytes(*account_id.as_bytes()) % 1_000_000_000;
    let text = |value: Decimal| value.normalize().to_string();
    Json(json!({
        "id": account_id,
        "account_number": format!("9{number:09}"),
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
