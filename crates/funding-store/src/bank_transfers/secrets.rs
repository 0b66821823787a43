//! A bank transfer's processor token: sealed by the [`Cipher`](crate::Cipher) into its own row and
//! column (`bank_transfers.processor_token`) before the row is written, and opened when the row is
//! read back. A token that does not open (wrong key, ciphertext moved from another row, damaged
//! bytes) is `Corrupt`, and the error says which column of which row, never what was in it.

use funding_core::ports::StoreError;
use uuid::Uuid;

use crate::Store;
use crate::cipher::Slot;
use crate::error::corrupt;

const TABLE: &str = "bank_transfers";
const PROCESSOR_TOKEN: &str = "processor_token";

fn slot(id: &Uuid) -> Slot<'_> {
    Slot {
        table: TABLE,
        column: PROCESSOR_TOKEN,
        row_id: id.as_bytes(),
    }
}

pub(super) fn seal(store: &Store, id: &Uuid, token: &str) -> Result<Vec<u8>, StoreError> {
    store.cipher.seal(slot(id), token.as_bytes()).map_err(|_| {
        StoreError::Other(format!(
            "{PROCESSOR_TOKEN} of bank transfer {id} cannot be encrypted"
        ))
    })
}

/// The processor token, as text; the domain checks it when the request is rebuilt.
pub(super) fn open(store: &Store, id: &Uuid, sealed: &[u8]) -> Result<String, StoreError> {
    let plaintext = store
        .cipher
        .open(slot(id), sealed)
        .map_err(|error| crate::cipher::open_failure(TABLE, id, PROCESSOR_TOKEN, &error))?;
    String::from_utf8(plaintext)
        .map_err(|_| corrupt(TABLE, id, &format!("{PROCESSOR_TOKEN} is not text")))
}
