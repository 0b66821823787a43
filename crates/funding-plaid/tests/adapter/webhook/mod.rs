//! The webhook verifier against real P-256 keys generated here (aws-lc-rs), signed the way Plaid
//! signs (ES256 JWT in `Plaid-Verification`, `iat` and `request_body_sha256` claims), its key
//! served by a fake [`BankTransferGateway`] or by wiremock through a real `PlaidClient`: what
//! passes, every forgery and what each is refused as, and how keys are cached.
//!
//! One file a concern: [`signatures`], [`claims`], [`malformed`], [`keys`], [`cache`] and
//! [`through_plaid`]; the signer, the fake key endpoint and the clock are in
//! [`crate::support::webhook`].

mod cache;
mod claims;
mod keys;
mod malformed;
mod signatures;
mod through_plaid;
