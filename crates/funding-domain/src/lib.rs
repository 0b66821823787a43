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
//!
//! # Examples
//!
//! An [`Amount`] is a positive USD decimal with at most two fraction digits, printed with two:
//!
//! ```
//! use funding_domain::Amount;
//!
//! let amount = Amount::parse("10.5")?;
//! assert_eq!(amount.to_string(), "10.50");
//! assert_eq!(amount.cents(), 1050);
//! for bad in ["10.001", "0", "-1", "1e3", "NaN", ""] {
//!     let error = Amount::parse(bad).unwrap_err();
//!     assert_eq!(error.field(), "amount");
//! }
//! # Ok::<(), funding_domain::ValidationError>(())
//! ```
//!
//! A [`BankTransferRequest`] exists only valid: it is parsed from a [`BankTransferDraft`] (the
//! wire's strings), and a draft that breaks rules is refused with every broken rule at once:
//!
//! ```
//! use funding_domain::{BankTransferDraft, BankTransferRequest, BankTransferUserDraft};
//!
//! let draft = BankTransferDraft {
//!     idempotency_key: "debit-1".into(),
//!     processor_token: "processor-sandbox-0a1b2c3d".into(),
//!     transfer_type: "debit".into(),
//!     network: "ach".into(),
//!     amount: "25.00".into(),
//!     iso_currency_code: "USD".into(),
//!     description: "Deposit".into(),
//!     ach_class: Some("web".into()),
//!     user: BankTransferUserDraft {
//!         legal_name: "Jane Doe".into(),
//!         ..Default::default()
//!     },
//!     ..Default::default()
//! };
//! let request = BankTransferRequest::parse(&draft).expect("a valid request");
//! assert_eq!(request.amount().to_string(), "25.00");
//! assert_eq!(request.description().as_str(), "Deposit");
//!
//! let broken = BankTransferDraft {
//!     description: "far more than ten characters".into(),
//!     ach_class: None,
//!     iso_currency_code: "EUR".into(),
//!     ..draft
//! };
//! let errors = BankTransferRequest::parse(&broken).unwrap_err();
//! for field in ["description", "ach_class", "iso_currency_code"] {
//!     assert!(errors.names(field), "{field} is named");
//! }
//! for error in errors.iter() {
//!     println!("{}: {}", error.field(), error.rule());
//! }
//! ```
//!
//! [`lifecycle::apply`] moves a status only along its table: a repeat is a no-op, anything else is
//! refused and the state stays as it was.
//!
//! ```
//! use funding_domain::AlpacaTransferStatus as S;
//! use funding_domain::lifecycle::{apply, Transition, TransitionError};
//!
//! assert_eq!(
//!     apply(&S::Queued, S::Complete),
//!     Ok(Transition::Moved { from: S::Queued, to: S::Complete })
//! );
//! assert_eq!(apply(&S::Complete, S::Complete), Ok(Transition::Unchanged));
//! // COMPLETE is provisional: an ACH return may follow...
//! assert!(apply(&S::Complete, S::Returned).is_ok());
//! // ...but a returned transfer does not go back.
//! assert!(matches!(apply(&S::Returned, S::Queued), Err(TransitionError::Illegal { .. })));
//! // An unknown provider string is kept, and refused loudly.
//! assert_eq!(
//!     apply(&S::Queued, S::from_provider("TELEPORTED")),
//!     Err(TransitionError::UnknownStatus("TELEPORTED".into()))
//! );
//! ```
//!
//! [`AchReturnCode`]: R01–R85 with their descriptions; an unknown code is kept as given.
//!
//! ```
//! use funding_domain::{AchReturnCode, ReturnCategory};
//!
//! let code = AchReturnCode::parse("r01");
//! assert_eq!(code.code(), "R01");
//! assert_eq!(code.description(), Some("Insufficient funds"));
//! assert_eq!(AchReturnCode::parse("R10").category(), ReturnCategory::Unauthorized);
//! assert_eq!(
//!     AchReturnCode::find_in("R01: insufficient funds"),
//!     Some(AchReturnCode::parse("R01"))
//! );
//! let unknown = AchReturnCode::parse("X99");
//! assert_eq!(unknown, AchReturnCode::Unknown("X99".into()));
//! assert_eq!(unknown.description(), None);
//! ```
//!
//! `examples/validate_bank_transfer.rs` checks a request given as JSON on stdin:
//! `echo '{"type": "debit", …}' | cargo run -p funding-domain --example validate_bank_transfer`.

mod ach;
mod amount;
pub mod audit;
mod bank_transfer;
mod error;
mod health;
mod ids;
pub mod lifecycle;
mod metadata;
mod or_unknown;
mod redact;
mod return_code;
pub mod returns;
pub mod risk;
mod secret;
mod text;

pub use ach::{AchClass, BankTransferDirection, BankTransferType, Network};
pub use amount::{Amount, Currency, MAX_AMOUNT_CENTS};
pub use bank_transfer::{
    BankTransferDraft, BankTransferRequest, BankTransferUser, BankTransferUserDraft,
};
pub use error::{ValidationError, ValidationErrors};
pub use health::BankLinkHealth;
pub use ids::{
    AccountId, AchRelationshipId, AlpacaTransferId, BankLinkId, BankTransferId,
    OriginationAccountId, PlaidAccountId, PlaidBankTransferId, PlaidItemId, TransferId,
};
pub use lifecycle::{AchRelationshipStatus, AlpacaTransferStatus, PlaidBankTransferStatus};
pub use metadata::Metadata;
pub use or_unknown::OrUnknown;
pub use redact::redact_tokens;
pub use return_code::{AchReturnCode, ReturnCategory};
pub use secret::{AccessToken, PlaidEnvironment, ProcessorToken, PublicToken};
pub use text::{CustomTag, Description, EmailAddress, IdempotencyKey, LegalName, Nickname};
