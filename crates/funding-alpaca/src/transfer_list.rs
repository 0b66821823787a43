//! `GET /v1/accounts/{account_id}/transfers`: one page ([`AlpacaClient::list_transfers`]) or every
//! page ([`AlpacaClient::list_all_transfers`]). A page is a bare JSON array; each element is decoded
//! on its own and one that cannot be read is logged, counted and skipped (see [`crate::items`]).
//!
//! Paging: `limit`/`offset` until an **empty** page. Alpaca may answer fewer than `limit` elements
//! before the end (a cap of its own), so a short page is not the end. A page that brings no id not
//! seen before is tolerated once (the list moved under us: a transfer created meanwhile pushes the
//! last ones onto the next page); two such pages in a row mean Alpaca ignores `offset`, and reading
//! on would never end: a `Decode` error.

use std::collections::HashSet;

use funding_core::ports::{Provider, ProviderError, ProviderErrorKind};
use funding_domain::AccountId;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::client::AlpacaClient;
use crate::http::{Call, Idempotency};
use crate::items::decode_each;
use crate::transfers::{Transfer, TransferDirection};

/// Filters and paging for [`AlpacaClient::list_transfers`]: the spec's `direction`, `limit`, `offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferQuery {
    pub direction: Option<TransferDirection>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// The page size [`AlpacaClient::list_all_transfers`] asks for (Alpaca may answer fewer).
pub const TRANSFER_PAGE_SIZE: u32 = 100;
/// More pages than this (a million transfers) means something is wrong: given up with an error.
const MAX_TRANSFER_PAGES: u32 = 10_000;
/// Pages in a row that bring nothing new before Alpaca is taken to ignore `offset`.
const MAX_STALE_PAGES: u32 = 2;

/// Every transfer of an account that could be read, and the ids of those that could not.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Oldest first, each id once.
    pub(crate) transfers: Vec<Transfer>,
    /// An element without a UUID id is `None`.
    pub(crate) unreadable: Vec<Option<Uuid>>,
}

const WHAT: &str = "transfer";

impl AlpacaClient {
    /// One page, as Alpaca sent it: a JSON array of anything.
    async fn transfer_page(
        &self,
        account_id: AccountId,
        query: &TransferQuery,
    ) -> Result<Vec<Value>, ProviderError> {
        let mut url = self.transfers_url(account_id);
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(direction) = &query.direction {
                pairs.append_pair("direction", direction.as_str());
            }
            // The spec declares int32.
            if let Some(limit) = query.limit {
                pairs.append_pair("limit", &limit.min(i32::MAX as u32).to_string());
            }
            if let Some(offset) = query.offset {
                pairs.append_pair("offset", &offset.min(i32::MAX as u32).to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let answer = self
            .send(Call {
                method: Method::GET,
                url,
                body: None,
                idempotency: Idempotency::Idempotent,
                operation: "list transfers",
            })
            .await?;
        answer.json::<Vec<Value>>("Transfer list")
    }

    /// `GET /v1/accounts/{account_id}/transfers`: one page, a bare array ordered by `created_at`.
    /// A transfer that cannot be read is logged, counted and left out. Errors: `NotFound` (404),
    /// `Decode` when the page is not a JSON array.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn list_transfers(
        &self,
        account_id: AccountId,
        query: &TransferQuery,
    ) -> Result<Vec<Transfer>, ProviderError> {
        let page = self.transfer_page(account_id, query).await?;
        let (transfers, _) = decode_each::<Transfer>(page, WHAT);
        transfers.iter().for_each(Transfer::warn_if_unknown);
        Ok(transfers)
    }

    /// Every transfer of the account (only `direction` when given) that could be read, oldest
    /// first, each id once: pages of [`TRANSFER_PAGE_SIZE`] by `limit`/`offset` until an empty
    /// page. Errors: those of [`list_transfers`](Self::list_transfers), and `Decode` when Alpaca
    /// ignores `offset` (two pages in a row bring nothing new).
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn list_all_transfers(
        &self,
        account_id: AccountId,
        direction: Option<TransferDirection>,
    ) -> Result<Vec<Transfer>, ProviderError> {
        Ok(self
            .read_all_transfers(account_id, direction)
            .await?
            .transfers)
    }

    /// As [`list_all_transfers`](Self::list_all_transfers), with the ids of what could not be read.
    pub(crate) async fn read_all_transfers(
        &self,
        account_id: AccountId,
        direction: Option<TransferDirection>,
    ) -> Result<Listing, ProviderError> {
        let mut elements = Vec::new();
        let mut seen = HashSet::new();
        let mut offset: u32 = 0;
        let mut stale_pages = 0;
        for _ in 0..MAX_TRANSFER_PAGES {
            let query = TransferQuery {
                direction: direction.clone(),
                limit: Some(TRANSFER_PAGE_SIZE),
                offset: Some(offset),
            };
            let page = self.transfer_page(account_id, &query).await?;
            if page.is_empty() {
                return Ok(decode_listing(elements));
            }
            let count = u32::try_from(page.len()).unwrap_or(u32::MAX);
            let (fresh, unidentified): (Vec<Value>, Vec<Value>) = page
                .into_iter()
                .filter(|value| id_key(value).is_none_or(|key| seen.insert(key)))
                .partition(|value| id_key(value).is_some());
            if fresh.is_empty() {
                stale_pages += 1;
                if stale_pages >= MAX_STALE_PAGES {
                    return Err(paging_error(format!(
                        "Alpaca answered {MAX_STALE_PAGES} pages in a row of transfers already listed (offset {offset}): it seems to ignore offset"
                    )));
                }
            } else {
                stale_pages = 0;
                elements.extend(fresh);
                // Only a page that moved on may add what has no id: a repeated page would add it again.
                elements.extend(unidentified);
            }
            offset = offset.saturating_add(count);
        }
        Err(paging_error(format!(
            "more than {MAX_TRANSFER_PAGES} pages of transfers"
        )))
    }
}

/// The key an element is recognised by on another page: its id (a UUID in its canonical form).
fn id_key(value: &Value) -> Option<String> {
    let text = value.get("id")?.as_str()?.trim();
    Some(Uuid::parse_str(text).map_or_else(|_| text.to_owned(), |id| id.to_string()))
}

fn decode_listing(elements: Vec<Value>) -> Listing {
    let (mut transfers, unreadable) = decode_each::<Transfer>(elements, WHAT);
    transfers.iter().for_each(Transfer::warn_if_unknown);
    transfers.sort_by_key(|transfer| transfer.created_at);
    Listing {
        transfers,
        unreadable,
    }
}

fn paging_error(message: String) -> ProviderError {
    ProviderError::new(
        Provider::Alpaca,
        ProviderErrorKind::Decode,
        "PAGING",
        message,
    )
}
