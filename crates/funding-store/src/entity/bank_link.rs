//! A row of `bank_links`: every field of a bank link, its Plaid tokens as ciphertext, and the lease
//! of whoever is driving it while it is CREATING.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bank_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub caller: String,
    pub idempotency_key: String,
    pub account_id: Uuid,
    pub plaid_account_id: String,
    pub plaid_item_id: Option<String>,
    pub nickname: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub failure_code: Option<String>,
    pub ach_relationship_id: Option<Uuid>,
    pub account_owner_name: Option<String>,
    pub relationship_requested_at: Option<DateTimeUtc>,
    /// Sealed by [`crate::Cipher`]; never plaintext.
    pub access_token: Option<Vec<u8>>,
    /// Sealed by [`crate::Cipher`]; never plaintext.
    pub processor_token: Option<Vec<u8>>,
    /// Sealed by [`crate::Cipher`] until it is exchanged; never plaintext.
    pub public_token: Option<Vec<u8>>,
    pub exchange_requested_at: Option<DateTimeUtc>,
    pub bank_account_type: Option<String>,
    pub bank_account_mask: Option<String>,
    /// Unused since the engine's work claims (kept for the applied migration).
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    /// `BankLinkHealth::as_str`.
    pub health: String,
    pub health_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the reconciler last took the row to look it up; NULL: never.
    pub reconciled_at: Option<DateTimeUtc>,
    /// Why that look left it unresolved (`unchanged`, `missing`, `lookup_failed`,
    /// `unknown_status`); NULL: nothing wrong.
    pub reconcile_issue: Option<String>,
    /// The link of the same account this one replaces (changing banks); NULL: none.
    pub replaces_bank_link_id: Option<Uuid>,
    /// When the reconciler last read the link's Item at Plaid (`/item/get`); NULL: never.
    pub item_checked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
