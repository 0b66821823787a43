//! Creating a transfer under an idempotency key, in one transaction: claim the key in the shared
//! `idempotency_records` table with `INSERT … ON CONFLICT DO NOTHING`; if the claim inserted a row,
//! store the transfer (SUBMITTING) and the work that submits it; otherwise read back the fingerprint
//! and the transfer of whoever claimed it first. On PostgreSQL a concurrent claim waits for the first
//! transaction and then sees its rows; on SQLite the transaction holds the write lock from its start.
//! Either way exactly one caller creates.

use funding_core::model::Transfer;
use funding_core::ports::{Begin, Begun, FastStart, IdempotencyClaim, NewTransfer, StoreError};
use funding_domain::AlpacaTransferStatus;
use sea_orm::{EntityTrait as _, IntoActiveModel as _};

use crate::Store;
use crate::convert::transfer_row;
use crate::entity::transfer;
use crate::error::from_db;
use crate::idempotency::Claimed;
use crate::sqlite_reads::ReadOne;

pub(super) async fn begin_transfer(
    store: &Store,
    claim: IdempotencyClaim,
    new: NewTransfer,
    start: Option<FastStart>,
) -> Result<Begun<Transfer>, StoreError> {
    let mut row = transfer_row(&new.transfer);
    if claim.caller != row.caller || claim.key != row.idempotency_key {
        return Err(StoreError::Other(
            "the idempotency claim and the transfer disagree on caller or key".into(),
        ));
    }
    if new.transfer.status != AlpacaTransferStatus::Submitting {
        return Err(StoreError::Other(format!(
            "a new transfer is stored SUBMITTING, not {}",
            new.transfer.status
        )));
    }
    // A repeat is answered from a read, without the write lock.
    // (The fast path's caller has just read it.)
    if start.is_none()
        && let Some(claimed) = crate::idempotency::find_claimed(store, &claim).await?
    {
        return Ok(Begun::existing(existing(store, claimed).await?));
    }
    let (_permit, txn) = store.begin_write().await?;
    let claimed = crate::idempotency::claim_key(&txn, claim, row.id, row.created_at).await?;

    if let Claimed::New = claimed {
        // The work first: its claim decides whether the request mark goes in with the row.
        crate::work::insert_work(&txn, &new.work).await?;
        let (work, mark) = crate::work::claim_for_start(&txn, &new.work, start).await?;
        let marked = mark.is_some();
        if let Some(mark) = mark {
            row.submit_requested_at = Some(mark.at);
            row.updated_at = mark.at;
            row.risk_decision = mark.decision;
        }
        transfer::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(from_db)?;
        super::changes::append_many(&txn, &[(row.clone(), "api:create")]).await?;
        txn.commit().await.map_err(from_db)?;
        return Ok(Begun {
            begin: Begin::Created(Transfer::try_from(row)?),
            claimed: work,
            marked,
        });
    }

    // Claimed by a create that committed after the read above.
    let answer = existing(&txn, claimed).await?;
    txn.commit().await.map_err(from_db)?;
    Ok(Begun::existing(answer))
}

/// What an earlier claim of the key stored, from a read on the pool.
pub(super) async fn existing_transfer(
    store: &Store,
    claim: &IdempotencyClaim,
) -> Result<Option<Begin<Transfer>>, StoreError> {
    match crate::idempotency::find_claimed(store, claim).await? {
        Some(claimed) => existing(store, claimed).await.map(Some),
        None => Ok(None),
    }
}

/// The transfer an earlier claim of the key stored, with that claim's fingerprint.
async fn existing(db: &impl ReadOne, claimed: Claimed) -> Result<Begin<Transfer>, StoreError> {
    let Claimed::Existing {
        fingerprint,
        resource_id,
    } = claimed
    else {
        return Err(StoreError::Other(
            "an idempotency claim that was neither new nor existing".into(),
        ));
    };
    let existing = db
        .read_one(transfer::Entity::find_by_id(resource_id))
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!("transfer {resource_id} of an idempotency record"))
        })?;
    Ok(Begin::Existing {
        fingerprint,
        resource: Transfer::try_from(existing)?,
    })
}
