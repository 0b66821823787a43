//! The ports: what the use cases need from the outside, as traits owned here. Adapters (Plaid,
//! Alpaca, the store) implement them; each method says which error it returns in which case.

mod bank_transfer_gateway;
mod bank_transfer_store;
mod broker;
mod clock;
mod cursors;
mod database;
mod idempotency;
mod inbox;
mod link_secrets;
mod link_status;
mod link_store;
mod orphans;
mod outbox;
mod plaid;
mod provider_error;
mod reconcile;
mod risk_store;
mod sandbox;
mod store_error;
mod transfer_store;
mod work;

pub use bank_transfer_gateway::{
    BankTransferBalance, BankTransferFailure, BankTransferGateway, BankTransferSandbox,
    PlaidBankTransfer, PlaidBankTransferEvent, PlaidBankTransferEventFilter,
    PlaidBankTransferListFilter, SimulatedBankTransferEvent, SyncedPlaidEvent,
    WebhookVerificationKey,
};
pub use bank_transfer_store::{
    BankTransferChange, BankTransferFilter, BankTransferHistoryEntry, BankTransferStore,
    NewBankTransfer, PLAID_BANK_TRANSFER_STREAM, PendingPlaidEvent, PlaidAnswerSaved,
};
pub use broker::{
    AccountFunds, AchRelationship, AlpacaTransfer, Broker, FundingEntity, FundingEvent,
    FundingEventStream, TransferDirection,
};
pub use clock::{Clock, SystemClock};
pub use cursors::CursorStore;
pub use database::DatabasePing;
pub use idempotency::{Begin, IdempotencyClaim};
pub use inbox::{InboxEvent, InboxMark, InboxState, InboxStats, InboxStore, IncomingEvent};
pub use link_secrets::{LinkSecretStore, LinkSecrets};
pub use link_status::{LinkStatusChange, LinkStatusStore, RelationshipSaved, SavedRelationship};
pub use link_store::{BankLinkStore, LinkPage, LinkPageRequest, NewBankLink};
pub use orphans::{OrphanKind, OrphanStore, ProviderOrphan, SweptAccount};
pub use outbox::{OutboxEntry, OutboxResource, OutboxStore};
pub use plaid::{
    AccountBalance, ExchangedItem, ItemState, LinkToken, LinkTokenRequest, PlaidAccount,
    PlaidGateway,
};
pub use provider_error::{Provider, ProviderError, ProviderErrorKind};
pub use reconcile::{Unresolved, UnresolvedCounts};
pub use risk_store::{
    AccountControls, AccountFreeze, AuditEvent, AuditFilter, BankTransferReviewDecision,
    FundingFlow, LimitOverride, NewAuditEvent, Review, ReviewDecision, ReviewState, RiskStore,
};
pub use sandbox::SandboxProvider;
pub use store_error::StoreError;
pub use transfer_store::{
    Begun, FastStart, NewTransfer, TransferChange, TransferEvent, TransferFilter, TransferSaved,
    TransferStore,
};
pub use work::{
    Claim, ClaimedWork, NewWork, WorkKind, WorkQueue, WorkStats, WorkWaiting, alpaca_account_key,
};
