//! A stateful HTTP emulator of Plaid and of the funding side of the Alpaca Broker API. It keeps
//! state, follows the providers' lifecycles and speaks their wire formats (paths, field names,
//! status strings, error bodies, headers, status codes), so the real reqwest adapters run against
//! it unchanged. It runs in-process ([`spawn`], used by `fundingd` in sandbox mode and by tests)
//! or alone as the `funding-sandbox` binary.
//!
//! ```no_run
//! # async fn demo() -> Result<(), funding_sandbox::SandboxError> {
//! let sandbox = funding_sandbox::spawn(funding_sandbox::SandboxConfig::ephemeral()).await?;
//! let plaid_base = sandbox.plaid_url(); // http://127.0.0.1:<port>
//! let alpaca_base = sandbox.alpaca_url();
//! sandbox.control().set_transfer_step_delay(std::time::Duration::from_millis(50));
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Plaid (`POST`, JSON, at the root)
//!
//! `/sandbox/public_token/create`, `/item/public_token/exchange`, `/accounts/get`, `/item/get`,
//! `/item/remove`, `/processor/token/create`, `/sandbox/processor_token/create`,
//! `/processor/auth/get`, `/processor/identity/get`, `/processor/balance/get`,
//! `/processor/account/get`; the risk reads: `/accounts/balance/get`, `/identity/get`,
//! `/identity/match`, `/processor/identity/match`; and the legacy Bank Transfers rail: `/processor/bank_transfer/create`,
//! `/bank_transfer/create`, `/bank_transfer/get`, `/bank_transfer/cancel`, `/bank_transfer/list`,
//! `/bank_transfer/event/list`, `/bank_transfer/event/sync`, `/bank_transfer/balance/get`,
//! `/sandbox/bank_transfer/simulate`, `/sandbox/bank_transfer/fire_webhook`; and
//! `/webhook_verification_key/get`; Link and Items: `/link/token/create`,
//! `/sandbox/item/reset_login`, `/sandbox/item/fire_webhook`.
//!
//! - `Content-Type: application/json` is required (else 400 `INVALID_HEADERS`); bodies over 1 MiB
//!   are refused; credentials come from `PLAID-CLIENT-ID`/`PLAID-SECRET` or `client_id`/`secret`.
//! - Refusals in order: `UNKNOWN_FIELDS` (dotted names), `MISSING_FIELDS` (client_id/secret
//!   included), `INVALID_FIELD`, `INVALID_API_KEYS`, then the endpoint's own errors
//!   (`INVALID_PUBLIC_TOKEN`, `INVALID_ACCESS_TOKEN`, `INVALID_ACCOUNT_ID`, `INVALID_INSTITUTION`,
//!   `INVALID_PROCESSOR_TOKEN`). Every body carries `request_id`.
//! - A public token is **single-use**, as at Plaid: a second exchange fails with
//!   `INVALID_PUBLIC_TOKEN` ("could not find matching public token"); after `public_token_ttl` on
//!   the emulator clock it fails with the same code and an "expired" message.
//! - Every item has "Plaid Checking" (mask 0000) and "Plaid Saving" (mask 1111); the owner is
//!   "Alberta Bobbeth Charleson". Institutions are ids starting with `ins_`.
//! - `/item/remove` revokes the item's access and processor tokens.
//! - Risk data (DESIGN §11), set through control ([`SandboxControl::set_item_risk`]): each account's
//!   `available`/`current` (100/110 and 200/210 by default, nullable) answer `/accounts/balance/get`,
//!   `/processor/balance/get` and `/accounts/get`; the Item's owner names (default the one above)
//!   answer the identity reads and are scored by `/identity/match` and `/processor/identity/match`
//!   (the service's scorer, `funding_domain::risk::names::name_score`); with `balance_unavailable`
//!   the two balance reads answer 400 `INSTITUTION_ERROR`/`INSTITUTION_NOT_RESPONDING`.
//! - A bank transfer is created `pending` and stays so until cancelled or simulated (`posted`,
//!   `failed`; `reversed` after `posted`); each change is an event with the next integer
//!   `event_id`. The same `idempotency_key` with the same request returns the first transfer; with
//!   a different request it is refused (`INVALID_FIELD`). An unknown `bank_transfer_id` is
//!   `INVALID_FIELD` as well. Every event carries `receiver_details: {"available_balance": null}`
//!   (required by plaid-python 46); a wire sent without `ach_class` shows `ccd`.
//! - `/bank_transfer/balance/get`: the one origination account
//!   (`11111111-1111-1111-1111-111111111111`): posted debits minus pending or posted credits,
//!   from zero; `transactable` = `available` (no minimum balance).
//! - Webhooks: after every new bank transfer event (create → `pending`, cancel, simulate), once
//!   the event is visible to `/bank_transfer/event/sync`, `BANK_TRANSFERS_EVENTS_UPDATE` is
//!   POSTed to [`SandboxConfig::plaid_webhook_url`] (`--plaid-webhook-url`; settable at run
//!   time), asynchronously; `/sandbox/bank_transfer/fire_webhook` sends one to the given URL. The
//!   body is Plaid's pretty-printed with 2-space indentation; `Plaid-Verification` is an ES256
//!   JWT (`kid` = current key; claims `iat`, `request_body_sha256`). A failed delivery is logged
//!   and dropped. The P-256 keys are random per start; `/webhook_verification_key/get` serves
//!   them as JWKs (an unknown `key_id` is `INVALID_INPUT`/`INVALID_WEBHOOK_VERIFICATION_KEY_ID`).
//!
//! - Plaid Link, offline (`GET`, on the Plaid listener; docs/sandbox.md has the element ids):
//!   `/link/v2/stable/link-initialize.js` (Plaid's CDN path: `Plaid.create({token, onSuccess,
//!   onExit, onEvent, onLoad})` with `open()`, `exit()`, `destroy()`, framing the Link page and
//!   relaying its `postMessage`s), the Link page `/link/v2/stable/link.html?token=…&origin=…`
//!   (institutions, `user_good`/`pass_good`, account choice) and the hosted form
//!   `/link?token=…&redirect_uri=…`, which ends by redirecting with `public_token` and the
//!   chosen account (or `status` and the error). A link token lives 4 hours (update mode: 30
//!   minutes); a Link Item holds the chosen accounts, the token's products and webhook.
//! - Items: `/sandbox/item/reset_login` puts an Item in `ITEM_LOGIN_REQUIRED` (`/item/get` shows
//!   it; `/accounts/get`, `/processor/token/create` and the processor reads answer it) and sends
//!   `ITEM`/`ERROR`; Link in update mode (a link token made with the Item's `access_token`) clears
//!   it, with no webhook, as at Plaid. `/sandbox/item/fire_webhook` sends Plaid's Item codes
//!   (`SANDBOX_PRODUCT_NOT_ENABLED` for product codes the Item lacks, `SANDBOX_WEBHOOK_INVALID`
//!   with nowhere to send). Item webhooks go to the Item's webhook, else to
//!   [`SandboxConfig::plaid_webhook_url`], signed like the others.
//!
//! # Alpaca Broker (HTTP Basic on everything but `/_sandbox`)
//!
//! - `POST|GET /v1/accounts/{account_id}/ach_relationships`,
//!   `DELETE /v1/accounts/{account_id}/ach_relationships/{id}`: created QUEUED, APPROVED after the
//!   approval delay; one active relationship per account (409); DELETE → CANCEL_REQUESTED, then
//!   CANCELED after the same delay (deleting again is a no-op 204). Every relationship carries
//!   `bank_account_type`, `bank_account_number` (masked: `XXXXXXXXXXXX0000`) and
//!   `bank_routing_number`, as alpaca-py's `ACHRelationship` model requires; a processor-token one
//!   takes them, and the owner name, from the Plaid account behind the token (subtype `checking` →
//!   `CHECKING`, `savings` → `SAVINGS`; the numbers `/processor/auth/get` shows), a manual one
//!   from its request. Only processor tokens issued by this emulator's Plaid side (for `alpaca`,
//!   or by `/sandbox/processor_token/create`) are accepted (422).
//! - `POST|GET /v1/accounts/{account_id}/transfers`, `DELETE …/transfers/{id}`: ACH only; QUEUED →
//!   SENT_TO_CLEARING → COMPLETE one step delay apart, once the relationship is APPROVED (a
//!   transfer made while it is still QUEUED waits; a REJECTED, CANCELED or foreign one is 422
//!   `invalid relationship_id`); the account's cash counts a transfer exactly while it is
//!   COMPLETE (or SETTLED), so RETURNED reverses it. A withdrawal larger than cash minus pending
//!   withdrawals is refused (403), unless [`AlpacaSettings::cash_withdrawable`] is gross (then it
//!   is REJECTED at its next step). [`AlpacaSettings`] also sets an ACH fee, a page cap and
//!   COMPLETE → SETTLED. The list is newest
//!   first with `direction`, `limit`, `offset`. DELETE cancels while QUEUED, APPROVAL_PENDING or
//!   PENDING (422 after). A status set through control stops automatic progress of that entity;
//!   changed delays apply to steps scheduled afterwards.
//! - `GET /v1/trading/accounts/{account_id}/account`: cash, `cash_withdrawable`, pending
//!   transfers. `GET /v1/accounts/{account_id}`: the account (`AccountExtended`) with its owner's
//!   `identity.given_name`/`family_name` ("Alberta Bobbeth" "Charleson" until control says
//!   otherwise: [`SandboxControl::set_account_owner_name`]).
//! - `GET /v2/events/funding/status`: SSE of `StatusFundingEvent`s with ULID ids; `since`,
//!   `until`, `since_id`, `until_id` with Alpaca's cursor rules; `:heartbeat` comments.
//! - Any well-formed account UUID is an ACTIVE account with zero cash until told otherwise.
//!   Every response carries `X-RateLimit-Limit`, `-Remaining`, `-Reset`.
//!
//! # Control API (both listeners, JSON, no auth)
//!
//! | route | body / answer | same as |
//! |---|---|---|
//! | `GET /_sandbox/delays` | `{relationship_approval_delay_ms, transfer_step_delay_ms, heartbeat_interval_ms}` | [`SandboxControl::delays`] |
//! | `POST /_sandbox/delays` | any of those keys; answers the new values | `set_*_delay`, `set_heartbeat_interval` |
//! | `POST /_sandbox/relationships/{id}/status` | `{"status": "REJECTED", "reason": "..."}` → 204 | [`SandboxControl::set_relationship_status`] |
//! | `POST /_sandbox/transfers/{id}/status` | `{"status": "RETURNED", "reason": "R01 insufficient funds"}` → 204 | [`SandboxControl::set_transfer_status`] |
//! | `POST /_sandbox/faults` | `{"host": "plaid"\|"alpaca", "method"?: "POST", "path_prefix": "/v1/", "status": 503, "times"?: 1, "mode"?: "before_effect"\|"after_effect"\|"delayed"\|"late_effect", "delay_ms"?: 16000, "body"?: {…}}` → 204; `status` 0: no answer (the connection closes); `late_effect`: answered at once, performed `delay_ms` later; `body`: the provider error object to answer | [`SandboxControl::inject_fault`] |
//! | `DELETE /_sandbox/faults` | → 204 | [`SandboxControl::clear_faults`] |
//! | `GET /_sandbox/calls` | `[{host, method, path, status}]` | [`SandboxControl::calls`] |
//! | `DELETE /_sandbox/calls` | → 204 | [`SandboxControl::reset_calls`] |
//! | `GET /_sandbox/clock` | `{"now": "..."}` | [`SandboxControl::now`] |
//! | `POST /_sandbox/clock/advance` | `{"seconds": 1800}` → `{"now": "..."}` | [`SandboxControl::advance_clock`] |
//! | `GET /_sandbox/accounts/{id}` | `{account_id, status, cash, owner_name, given_name, family_name}` | [`SandboxControl::account`] |
//! | `POST /_sandbox/accounts/{id}` | `{"status"?: "ACCOUNT_CLOSED", "cash"?: "100.00", "owner_name"?: "John Q Public"}` (or `given_name` with `family_name`) | `set_account_status`, `set_account_cash`, `set_account_owner_name`, `set_account_owner` |
//! | `POST /_sandbox/streams/disconnect` | → 204; open event streams close | [`SandboxControl::disconnect_streams`] |
//! | `GET /_sandbox/events` | every funding event so far | [`SandboxControl::funding_events`] |
//! | `POST /_sandbox/events/faults` | `{"times"?: 1, "duplicate"?: true, "delay_ms"?: 500}` → 204: the next live funding events are sent twice and/or late (after newer ones); or `{"drop": 3}`: the live stream skips the next 3 and says `: you are reading too slowly, dropped 3 messages`; the log and replays keep them once, in order | [`SandboxControl::inject_event_fault`], [`SandboxControl::drop_live_events`] |
//! | `DELETE /_sandbox/events/faults` | → 204 | [`SandboxControl::clear_event_faults`] |
//! | `GET /_sandbox/alpaca/settings` | `{"ach_fee": "0", "cash_withdrawable": "net", "list_page_cap": null, "settled_after_complete_ms": null}` | [`SandboxControl::alpaca_settings`] |
//! | `POST /_sandbox/alpaca/settings` | any of those keys (null turns one off); answers all | [`SandboxControl::set_alpaca_settings`] |
//! | `POST /_sandbox/plaid/public_token` | `{"institution_id"?: "ins_109508"}` → `{public_token, item_id, accounts}` | [`SandboxControl::create_public_token`] |
//! | `GET /_sandbox/plaid/webhook` | `{url, key_id}` (current URL or null, current signing `kid`) | [`SandboxControl::plaid_webhook_url`], [`SandboxControl::webhook_key_id`] |
//! | `POST /_sandbox/plaid/webhook` | `{"url": "http://…"\|null}` → `{url, key_id}` | [`SandboxControl::set_plaid_webhook_url`] |
//! | `DELETE /_sandbox/plaid/webhook` | → 204 (no more events-update webhooks) | `set_plaid_webhook_url(None)` |
//! | `GET /_sandbox/plaid/tokens` | `{access_tokens, processor_tokens}`: every one issued so far | [`SandboxControl::issued_tokens`] |
//! | `GET /_sandbox/plaid/link_tokens` | every link token issued, with the public tokens Link made | [`SandboxControl::link_tokens`] |
//! | `POST /_sandbox/plaid/link/complete` | `{"link_token", "institution_id"?}` → `{public_token, link_session_id, item_id, institution_id, institution_name, accounts, metadata}` | [`SandboxControl::complete_link`] |
//! | `GET /_sandbox/plaid/items/{item_id}` | `{item_id, institution_id, institution_name, webhook, products, error_code, accounts, owner_names, balance_unavailable}` | [`SandboxControl::item`] |
//! | `POST /_sandbox/plaid/items/{item_id}` | `{"available"?: "120.00", "current"?: 130, "account_id"?: "…", "owner_names"?: ["John Q Public"], "balance_unavailable"?: true}` → the Item | [`SandboxControl::set_item_risk`] |
//! | `POST /_sandbox/plaid/items/{item_id}/reset_login` | → 204 | [`SandboxControl::reset_login`] |
//! | `POST /_sandbox/plaid/items/{item_id}/webhook` | `{"webhook_code": "PENDING_EXPIRATION"}` (any [`ItemWebhookCode`]) → 204 | [`SandboxControl::fire_item_webhook`] |
//! | `POST /_sandbox/plaid/webhook_key/rotate` | → `{key_id, expired_key_id}` | [`SandboxControl::rotate_webhook_key`] |
//! | `POST /_sandbox/plaid/webhook_faults` | `{"times"?: 1, "duplicate"?: true, "delay_ms"?: 500}` → 204 | [`SandboxControl::inject_webhook_fault`] |
//! | `DELETE /_sandbox/plaid/webhook_faults` | → 204 | [`SandboxControl::clear_webhook_faults`] |
//! | `GET /_sandbox/plaid/webhook_deliveries` | `[{url, webhook_code, key_id, status, error}]` | [`SandboxControl::webhook_deliveries`] |
//! | `DELETE /_sandbox/plaid/webhook_deliveries` | → 204 | [`SandboxControl::reset_webhook_deliveries`] |
//!
//! Control errors answer `{"error": "..."}` with 400 or 404 (500 if no new key could be made). Control requests are neither
//! recorded nor subject to faults. Injected faults answer the provider's own error body (the rule's
//! `body` when it has one, a Plaid one completed with `request_id`; otherwise Plaid:
//! `RATE_LIMIT_EXCEEDED/RATE_LIMIT` for 429, `API_ERROR/INTERNAL_SERVER_ERROR` for 500,
//! `API_ERROR/PLANNED_MAINTENANCE` for 503; Alpaca: `{"code", "message"}`), with `Retry-After: 1`
//! on 429.

mod alpaca;
mod body;
pub mod cli;
mod clock;
mod config;
mod control;
mod error;
mod ids;
mod plaid;
mod scheduler;
mod server;
mod state;
mod traffic;

pub use alpaca::settings::{AlpacaSettings, CashWithdrawable, INSUFFICIENT_FUNDS};
pub use alpaca::store::AccountSnapshot;
pub use config::{DEFAULT_ALPACA_LISTEN, DEFAULT_PLAID_LISTEN, SandboxConfig};
pub use control::calls::{Host, RecordedCall};
pub use control::faults::{EventFault, Fault, FaultMode, WebhookFault};
pub use control::link::{ItemSnapshot, LinkSuccess};
pub use control::risk::ItemRiskSettings;
pub use control::{Delays, SandboxAccount, SandboxControl, SandboxLink};
pub use error::{ControlError, SandboxError};
pub use plaid::item_webhooks::ItemWebhookCode;
pub use plaid::link_store::LinkTokenSnapshot;
pub use plaid::store::IssuedTokens;
pub use plaid::webhooks::WebhookDelivery;
pub use server::{SandboxHandle, spawn};

/// HTTP method type used by [`Fault::method`].
pub use axum::http::Method;
