//! Plaid's wire format (2020-09-14): the request bodies this adapter sends, which serialize only the
//! fields the spec declares and leave out unset optional ones (Plaid refuses unknown fields), and the
//! response bodies it reads, which tolerate fields added later. Credentials travel in headers, never
//! in a body. Structs that hold a token have no `Debug`.

pub mod bank_transfer;
pub(crate) mod link;
pub(crate) mod webhook;
