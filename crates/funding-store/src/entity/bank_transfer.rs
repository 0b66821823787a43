//! A row of `bank_transfers`: a bank transfer of this service on the Plaid processor rail — the
//! request's fields as JSON (without the processor token, which is kept sealed apart), the status
//! and the columns that overlay Plaid's object after every move, and Plaid's object as saved.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bank_transfers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub caller: String,
    pub idempotency_key: String,
    /// JSON of the request's fields, the processor token left out.
    pub request: String,
    /// Sealed by [`crate::Cipher`]; never plaintext.
    pub processor_token: Vec<u8>,
    pub status: String,
    pub cancellable: bool,
    /// Of Plaid's `failure_reason`, as given.
    pub ach_return_code: Option<String>,
    /// Of Plaid's `failure_reason`.
    pub failure_description: Option<String>,
    pub status_reason: Option<String>,
    pub failure_code: Option<String>,
    pub plaid_bank_transfer_id: Option<String>,
    /// JSON of Plaid's `BankTransfer` as saved.
    pub plaid: Option<String>,
    /// The request's, or Plaid's when the request named none.
    pub origination_account_id: Option<String>,
    /// Plaid's.
    pub direction: Option<String>,
    pub submit_requested_at: Option<DateTimeUtc>,
    /// The key sent to Plaid, derived from the caller and its key; NULL on rows made before it
    /// was (they are sent with `idempotency_key`).
    pub plaid_idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the reconciler last took the row to look it up; NULL: never.
    pub reconciled_at: Option<DateTimeUtc>,
    /// Why that look left it unresolved (`unchanged`, `missing`, `lookup_failed`,
    /// `unknown_status`); NULL: nothing wrong.
    pub reconcile_issue: Option<String>,
    /// What the risk checks decided (JSON, `RiskDecision`); NULL until they ran.
    pub risk_decision: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
