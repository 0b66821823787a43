//! Reading request bodies with a hard cap (1 MiB), so no request can make the emulator buffer
//! unbounded data. Each provider turns [`BodyError`] into its own error body.

use axum::body::{Body, Bytes};

/// Largest request body accepted, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The connection failed while reading.
    Unreadable,
}

/// Reads the whole body, refusing anything over the cap.
pub(crate) async fn read_capped(body: Body) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            // `Limited` reports "length limit exceeded"; anything else is a broken connection.
            if error.into_inner().to_string().contains("length limit") {
                BodyError::TooLarge
            } else {
                BodyError::Unreadable
            }
        })
}
