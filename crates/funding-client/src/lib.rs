//! The funding service's gRPC API, `funding.v1`, for Rust callers and for the server.
//!
//! - [`v1`]: the generated messages, and the tonic clients (feature `client`, on by default) and
//!   servers (feature `server`).
//! - [`FundingClient`] (feature `client`): a small typed client that sends a bearer token and an
//!   `x-request-id` on every call; over TLS, with an optional client certificate, with feature
//!   `tls`.
//! - [`FILE_DESCRIPTOR_SET`]: the compiled API, for server reflection.

#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    // The proto's comments are written for protobuf readers (`public-<env>-…`, `[…]`), not rustdoc.
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls
)]
pub mod v1 {
    tonic::include_proto!("funding.v1");
}

/// The encoded `FileDescriptorSet` of `funding.v1`, for reflection services.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/funding_descriptor.bin"));

#[cfg(feature = "client")]
mod typed;

#[cfg(feature = "client")]
pub use typed::{ClientError, FundingClient, RequestMetadata};

/// What [`FundingClient::connect_tls`] takes (feature `tls`: rustls on aws-lc-rs).
#[cfg(feature = "tls")]
pub use tonic::transport::{Certificate, ClientTlsConfig, Identity};
