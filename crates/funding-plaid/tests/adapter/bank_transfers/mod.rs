//! The processor rail's ports on the wire — every Bank Transfers endpoint of
//! [`BankTransferGateway`] and [`BankTransferSandbox`] pinned to its path and exact JSON body —
//! and Plaid's bank transfer, event, balance and key objects read field by field into the core's
//! types, enum strings exactly as Plaid sent them.
//!
//! One file a concern: [`transfers`] (create, get, cancel), [`lists`], [`events`], [`balance`],
//! [`verification_key`], [`sandbox`] and [`refusals`]; the requests and the endpoint table shared
//! with other tests are in [`crate::support::bank_transfers`].

mod balance;
mod events;
mod lists;
mod refusals;
mod sandbox;
mod transfers;
mod verification_key;
