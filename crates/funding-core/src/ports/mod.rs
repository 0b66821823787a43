//! The ports: what the use cases need from the outside, as traits owned here. Adapters (Plaid,
//! Alpaca, the store) implement them; each method says which error it returns in which case.

mod bank_transfer_store;
mod bank_transfers;
mod broker;
mod clock;
mod inbox;
mod orphans;
mod outbox;
mod plaid;
mod provider_error;
mod reconcile;
mod sandbox;
mod store;
mod transfers;
mod work;

pub use bank_transfer_store::{
    BankTransferChange, BankTransferFilter, BankTransferHistoryEntry, BankTransferStore,
    NewBankTransfer, PLAID_BANK_TRANSFER_STREAM, PendingPlaidEvent, PlaidAnswerSaved,
};
pub use bank_transfers::{
    BankTransferBalance, BankTransferFailure, BankTransferGateway, BankTransferSandbox,
    PlaidBankTransfer, PlaidBankTransferEvent, PlaidBankTransferEventFilter,
    PlaidBankTransferListFilter, SimulatedBankTransferEvent, SyncedPlaidEvent,
    WebhookVerificationKey,
};
pub use broker::{
    AccountFunds, AchRelationship, AlpacaTransfer, Broker, FundingEntity, FundingEvent,
    FundingEventStream, TransferDirection,
};
pub use clock::{Clock, SystemClock};
pub use inbox::{InboxEvent, InboxMark, InboxState, InboxStats, InboxStore, IncomingEvent};
pub use orphans::{OrphanKind, OrphanStore, ProviderOrphan, SweptAccount};
pub use outbox::{OutboxEntry, OutboxResource, OutboxStore};
pub use plaid::{
    ExchangedItem, ItemState, LinkToken, LinkTokenRequest, PlaidAccount, PlaidGateway,
};
pub use provider_error::{Provider, ProviderError, ProviderErrorKind};
pub use reconcile::{Unresolved, UnresolvedCounts};
pub use sandbox::SandboxProvider;
pub use store::{
    BankLinkStore, Begin, CursorStore, IdempotencyClaim, LinkSecretStore, LinkSecrets,
    LinkStatusStore, NewBankLink, Page, PageRequest, RelationshipSaved, SavedRelationship,
    StatusChange, StoreError,
};
pub use transfers::{
    NewTransfer, TransferChange, TransferEvent, TransferFilter, TransferSaved, TransferStore,
};
pub use work::{
    Claim, ClaimedWork, NewWork, WorkKind, WorkQueue, WorkStats, WorkWaiting, alpaca_account_key,
};
