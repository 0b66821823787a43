//! The funding service's model and rules, with no IO and no async runtime, so that other tools can
//! reuse it on its own.
//!
//! - Money and identity: [`Amount`], [`Currency`], [`IdempotencyKey`], the id types, and Plaid's tokens
//!   as secrets ([`PublicToken`], [`AccessToken`], [`ProcessorToken`]).
//! - Plaid's `/processor/bank_transfer/create`: [`BankTransferRequest`], built only valid from a
//!   [`BankTransferDraft`], with [`Description`], [`CustomTag`], [`Metadata`], [`AchClass`], [`Network`]
//!   and the [`BankTransferUser`].
//! - The lifecycles of an ACH relationship, an Alpaca transfer and a Plaid bank transfer, and
//!   [`lifecycle::apply`], which moves a status only along its table.
//! - [`AchReturnCode`], R01–R85 with descriptions.
//!
//! Every constructor checks its rule and every refusal is a [`ValidationError`] naming the field.

mod ach;
mod amount;
mod bank_transfer;
mod error;
mod ids;
pub mod lifecycle;
mod metadata;
mod redact;
mod return_code;
mod secret;
mod text;

pub use ach::{AchClass, BankTransferType, Network};
pub use amount::{Amount, Currency, MAX_AMOUNT_CENTS};
pub use bank_transfer::{
    BankTransferDraft, BankTransferRequest, BankTransferUser, BankTransferUserDraft,
};
pub use error::{ValidationError, ValidationErrors};
pub use ids::{
    AccountId, AchRelationshipId, BankLinkId, BankTransferId, FundingBankTransferId,
    OriginationAccountId, PlaidAccountId, PlaidItemId, ProviderTransferId, TransferId,
};
pub use lifecycle::{AchRelationshipStatus, AlpacaTransferStatus, PlaidBankTransferStatus};
pub use metadata::Metadata;
pub use redact::redact_tokens;
pub use return_code::{AchReturnCode, ReturnCategory};
pub use secret::{AccessToken, PlaidEnvironment, ProcessorToken, PublicToken};
pub use text::{CustomTag, Description, EmailAddress, IdempotencyKey, LegalName, Nickname};
