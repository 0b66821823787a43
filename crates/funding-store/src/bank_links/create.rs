//! Creating a bank link under an idempotency key, in one transaction: claim the key with
//! `INSERT … ON CONFLICT DO NOTHING`; if the claim inserted a row, store the link (its public token
//! sealed) and the work that creates it; otherwise read back
//! the fingerprint and the link of whoever claimed it first. On PostgreSQL a concurrent claim waits
//! for the first transaction and then sees its rows; on SQLite the transaction holds the write lock
//! from its start. Either way exactly one caller creates.

use funding_core::model::BankLink;
use funding_core::ports::{Begin, IdempotencyClaim, NewBankLink, StoreError};
use sea_orm::{EntityTrait as _, IntoActiveModel as _};

use crate::Store;
use crate::convert::new_link_row;
use crate::entity::bank_link;
use crate::error::from_db;
use crate::idempotency::Claimed;
use crate::sqlite_reads::ReadOne;

pub(super) async fn begin_link(
    store: &Store,
    claim: IdempotencyClaim,
    new: NewBankLink,
) -> Result<Begin<BankLink>, StoreError> {
    let row = new_link_row(&new.link);
    if claim.caller != row.caller || claim.key != row.idempotency_key {
        return Err(StoreError::Other(
            "the idempotency claim and the link disagree on caller or key".into(),
        ));
    }
    // A repeat is answered from a read, without the write lock.
    if let Some(claimed) = crate::idempotency::find_claimed(store, &claim).await? {
        return existing(store, claimed).await;
    }
    let (_permit, txn) = store.begin_write().await?;
    let claimed = crate::idempotency::claim_key(&txn, claim, row.id, row.created_at).await?;

    if let Claimed::New = claimed {
        let mut sealed = row.clone();
        sealed.public_token = Some(super::secrets::seal(
            store,
            &row.id,
            super::secrets::PUBLIC_TOKEN,
            new.public_token.expose_secret(),
        )?);
        bank_link::Entity::insert(sealed.into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(from_db)?;
        crate::work::insert_work(&txn, &new.work).await?;
        txn.commit().await.map_err(from_db)?;
        return Ok(Begin::Created(BankLink::try_from(row)?));
    }

    // Claimed by a create that committed after the read above.
    let answer = existing(&txn, claimed).await?;
    txn.commit().await.map_err(from_db)?;
    Ok(answer)
}

/// The link an earlier claim of the key stored, with that claim's fingerprint.
async fn existing(db: &impl ReadOne, claimed: Claimed) -> Result<Begin<BankLink>, StoreError> {
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
        .read_one(bank_link::Entity::find_by_id(resource_id))
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!("bank link {resource_id} of an idempotency record"))
        })?;
    Ok(Begin::Existing {
        fingerprint,
        resource: BankLink::try_from(existing)?,
    })
}
