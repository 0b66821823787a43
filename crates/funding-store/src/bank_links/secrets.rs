//! A link's Plaid tokens: sealed by the [`Cipher`](crate::Cipher) into their own row and column before
//! they are written, opened when the link use case asks for them. A token that does not open (wrong
//! key, ciphertext moved from another row, damaged bytes) is `Corrupt`, and the error says which
//! column of which row, never what was in it.

use chrono::{DateTime, Utc};
use funding_core::ports::Claim;
use funding_core::ports::{LinkSecrets, StoreError};
use funding_domain::{AccessToken, BankLinkId, PlaidItemId, ProcessorToken, PublicToken};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use uuid::Uuid;

use crate::Store;
use crate::cipher::Slot;
use crate::convert::db_time;
use crate::entity::bank_link::{Column, Entity};
use crate::error::{corrupt, from_db};
use crate::sqlite_reads::ReadOne as _;

const TABLE: &str = "bank_links";
const ACCESS_TOKEN: &str = "access_token";
const PROCESSOR_TOKEN: &str = "processor_token";
pub(super) const PUBLIC_TOKEN: &str = "public_token";

fn slot<'a>(id: &'a Uuid, column: &'a str) -> Slot<'a> {
    Slot {
        table: TABLE,
        column,
        row_id: id.as_bytes(),
    }
}

pub(super) async fn link_secrets(store: &Store, id: BankLinkId) -> Result<LinkSecrets, StoreError> {
    let row = store
        .read_one(Entity::find_by_id(id.as_uuid()))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("bank link {id}")))?;
    let access_token = row
        .access_token
        .as_deref()
        .map(|sealed| open(store, &row.id, ACCESS_TOKEN, sealed, AccessToken::parse))
        .transpose()?;
    let processor_token = row
        .processor_token
        .as_deref()
        .map(|sealed| {
            open(
                store,
                &row.id,
                PROCESSOR_TOKEN,
                sealed,
                ProcessorToken::parse,
            )
        })
        .transpose()?;
    let public_token = row
        .public_token
        .as_deref()
        .map(|sealed| open(store, &row.id, PUBLIC_TOKEN, sealed, PublicToken::parse))
        .transpose()?;
    Ok(LinkSecrets {
        public_token,
        access_token,
        processor_token,
    })
}

fn open<T, E>(
    store: &Store,
    id: &Uuid,
    column: &str,
    sealed: &[u8],
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    let plaintext = store
        .cipher
        .open(slot(id, column), sealed)
        .map_err(|error| crate::cipher::open_failure(TABLE, id, column, &error))?;
    let text = std::str::from_utf8(&plaintext)
        .map_err(|_| corrupt(TABLE, id, &format!("{column} is not text")))?;
    parse(text).map_err(|_| corrupt(TABLE, id, &format!("{column} is not a valid token")))
}

pub(super) fn seal(
    store: &Store,
    id: &Uuid,
    column: &str,
    secret: &str,
) -> Result<Vec<u8>, StoreError> {
    store
        .cipher
        .seal(slot(id, column), secret.as_bytes())
        .map_err(|_| StoreError::Other(format!("{column} of bank link {id} cannot be encrypted")))
}

pub(super) async fn save_exchange(
    store: &Store,
    fence: &Claim,
    id: BankLinkId,
    access_token: &AccessToken,
    item_id: &PlaidItemId,
) -> Result<(), StoreError> {
    let uuid = id.as_uuid();
    let sealed = seal(store, &uuid, ACCESS_TOKEN, access_token.expose_secret())?;
    update(
        store,
        fence,
        id,
        [
            (Column::AccessToken, Expr::value(sealed)),
            (Column::PlaidItemId, Expr::value(item_id.as_str())),
            (Column::PublicToken, Expr::value(Option::<Vec<u8>>::None)),
        ],
    )
    .await
}

pub(super) async fn save_processor_token(
    store: &Store,
    fence: &Claim,
    id: BankLinkId,
    processor_token: &ProcessorToken,
) -> Result<(), StoreError> {
    let uuid = id.as_uuid();
    let sealed = seal(
        store,
        &uuid,
        PROCESSOR_TOKEN,
        processor_token.expose_secret(),
    )?;
    update(
        store,
        fence,
        id,
        [(Column::ProcessorToken, Expr::value(sealed))],
    )
    .await
}

pub(super) async fn mark_exchange_requested(
    store: &Store,
    fence: &Claim,
    id: BankLinkId,
    at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    update(
        store,
        fence,
        id,
        [(Column::ExchangeRequestedAt, Expr::value(at.map(db_time)))],
    )
    .await
}

pub(super) async fn forget_tokens(
    store: &Store,
    fence: &Claim,
    id: BankLinkId,
) -> Result<(), StoreError> {
    update(
        store,
        fence,
        id,
        [
            (Column::AccessToken, Expr::value(Option::<Vec<u8>>::None)),
            (Column::ProcessorToken, Expr::value(Option::<Vec<u8>>::None)),
            (Column::PublicToken, Expr::value(Option::<Vec<u8>>::None)),
        ],
    )
    .await
}

/// Sets `values` and the update time on the link, under the work's fence; `NotFound` if there is
/// no such link, `Fenced` if the claim is no longer held.
pub(super) async fn update(
    store: &Store,
    fence: &Claim,
    id: BankLinkId,
    values: impl IntoIterator<Item = (Column, SimpleExpr)>,
) -> Result<(), StoreError> {
    let mut statement = Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(db_time(store.clock.now())))
        .filter(Column::Id.eq(id.as_uuid()));
    for (column, value) in values {
        statement = statement.col_expr(column, value);
    }
    let (_permit, txn) = store.begin_write().await?;
    crate::work::fence(&txn, fence).await?;
    let result = statement.exec(&txn).await.map_err(from_db)?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound(format!("bank link {id}")));
    }
    txn.commit().await.map_err(from_db)?;
    Ok(())
}
