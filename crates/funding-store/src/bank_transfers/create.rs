//! Creating a bank transfer under an idempotency key, in one transaction: claim the key in the
//! shared `idempotency_records` table with `INSERT … ON CONFLICT DO NOTHING`; if the claim inserted
//! a row, store the transfer (SUBMITTING, its processor token sealed), the work that submits it and
//! its first history entry (`api:create`); otherwise read back the fingerprint and the transfer of
//! whoever claimed it first, writing nothing. On PostgreSQL a concurrent claim waits for the first
//! transaction and then sees its rows; on SQLite the transaction holds the write lock from its
//! start. Either way exactly one caller creates.

use funding_core::model::BankTransfer;
use funding_core::ports::{
    BankTransferChange, Begin, Begun, FastStart, IdempotencyClaim, NewBankTransfer, OutboxResource,
    StoreError,
};
use funding_domain::PlaidBankTransferStatus;
use sea_orm::{EntityTrait as _, IntoActiveModel as _};

use crate::Store;
use crate::convert::{bank_transfer_history_row, bank_transfer_row};
use crate::entity::{bank_transfer, bank_transfer_status_history as history};
use crate::error::from_db;
use crate::idempotency::Claimed;
use crate::sqlite_reads::ReadOne;

pub(super) async fn begin_bank_transfer(
    store: &Store,
    claim: IdempotencyClaim,
    new: NewBankTransfer,
    start: Option<FastStart>,
) -> Result<Begun<BankTransfer>, StoreError> {
    let transfer = &new.transfer;
    if claim.caller != transfer.caller || claim.key != transfer.request.idempotency_key().as_str() {
        return Err(StoreError::Other(
            "the idempotency claim and the bank transfer disagree on caller or key".into(),
        ));
    }
    if transfer.status != PlaidBankTransferStatus::Submitting {
        return Err(StoreError::Other(format!(
            "a new bank transfer is stored SUBMITTING, not {}",
            transfer.status
        )));
    }
    let id = transfer.id.as_uuid();
    let sealed = super::secrets::seal(
        store,
        &id,
        transfer.request.processor_token().expose_secret(),
    )?;
    let mut row = bank_transfer_row(transfer, sealed)?;
    let first = BankTransferChange {
        from: PlaidBankTransferStatus::Submitting,
        to: PlaidBankTransferStatus::Submitting,
        cancellable: false,
        failure: None,
        reason: None,
        failure_code: None,
        source: "api:create".to_owned(),
        event_id: None,
        at: row.created_at,
    };

    // A repeat is answered from a read, without the write lock (the fast path's caller has just
    // read it).
    if start.is_none()
        && let Some(claimed) = crate::idempotency::find_claimed(store, &claim).await?
    {
        return Ok(Begun::existing(existing(store, store, claimed).await?));
    }
    let (_permit, txn) = store.begin_write().await?;
    let claimed = crate::idempotency::claim_key(&txn, claim, id, row.created_at).await?;

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
        bank_transfer::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(from_db)?;
        let entry = bank_transfer_history_row(transfer.id, &first);
        let entry_id = entry.id;
        history::Entity::insert(entry.into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(from_db)?;
        crate::outbox::record(
            &txn,
            entry_id.to_string(),
            OutboxResource::BankTransfer,
            id,
            first.to.as_str(),
            first.at,
        )
        .await?;
        txn.commit().await.map_err(from_db)?;
        return Ok(Begun {
            begin: Begin::Created(super::read::record(store, row)?),
            claimed: work,
            marked,
        });
    }

    // Claimed by a create that committed after the read above.
    let answer = existing(store, &txn, claimed).await?;
    txn.commit().await.map_err(from_db)?;
    Ok(Begun::existing(answer))
}

/// What an earlier claim of the key stored, from a read on the pool.
pub(super) async fn existing_bank_transfer(
    store: &Store,
    claim: &IdempotencyClaim,
) -> Result<Option<Begin<BankTransfer>>, StoreError> {
    match crate::idempotency::find_claimed(store, claim).await? {
        Some(claimed) => existing(store, store, claimed).await.map(Some),
        None => Ok(None),
    }
}

/// The bank transfer an earlier claim of the key stored, with that claim's fingerprint.
async fn existing(
    store: &Store,
    db: &impl ReadOne,
    claimed: Claimed,
) -> Result<Begin<BankTransfer>, StoreError> {
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
        .read_one(bank_transfer::Entity::find_by_id(resource_id))
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "bank transfer {resource_id} of an idempotency record"
            ))
        })?;
    Ok(Begin::Existing {
        fingerprint,
        resource: super::read::record(store, existing)?,
    })
}
