//! Encryption of secrets at rest. A [`Cipher`] seals a value with XChaCha20-Poly1305 under a fresh
//! random 24-byte nonce, and binds the ciphertext to where it is stored (table, column, row id) through
//! the associated data: a ciphertext copied into another row or column no longer opens. The stored
//! form is `version (1 byte) ‖ nonce (24 bytes) ‖ ciphertext and tag`. The key never shows in `Debug`
//! and no error carries the key or the plaintext.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

mod key_file;

/// The format of a sealed value; the first byte of what is stored.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// Prefix of the associated data, so that these ciphertexts mean nothing to any other use of the key.
const AAD_DOMAIN: &[u8] = b"funding-store/v1";

/// Why a key could not be loaded. Never carries the key itself.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("the encryption key must be the base64 (standard alphabet) of exactly 32 bytes")]
    InvalidKey,
    #[error("encryption key file {path}: {source}")]
    KeyFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "encryption key file {path} is open to its group or others (mode {mode:o}): chmod 600 it"
    )]
    KeyFileShared { path: std::path::PathBuf, mode: u32 },
}

/// A sealed value could not be opened: wrong key, wrong place, or damaged bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ciphertext cannot be decrypted with this key in this place")]
pub struct OpenError;

/// Where a sealed value lives; it is part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: &'a [u8],
}

impl Slot<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            AAD_DOMAIN.len() + self.table.len() + self.column.len() + self.row_id.len() + 3,
        );
        for part in [
            AAD_DOMAIN,
            self.table.as_bytes(),
            self.column.as_bytes(),
            self.row_id,
        ] {
            aad.extend_from_slice(part);
            aad.push(0);
        }
        aad
    }
}

/// The key that encrypts secrets at rest. Cheap to clone.
#[derive(Clone)]
pub struct Cipher {
    aead: Arc<XChaCha20Poly1305>,
}

impl Cipher {
    /// A cipher from a base64-encoded 32-byte key (surrounding whitespace ignored).
    pub fn from_base64(encoded: &str) -> Result<Cipher, CipherError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| CipherError::InvalidKey)?;
        if bytes.len() != KEY_LEN {
            return Err(CipherError::InvalidKey);
        }
        let aead =
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| CipherError::InvalidKey)?;
        Ok(Cipher {
            aead: Arc::new(aead),
        })
    }

    /// A cipher under a fresh random key.
    pub fn generate() -> Cipher {
        Self::from_key_bytes(&XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    fn from_key_bytes(key: &chacha20poly1305::Key) -> Cipher {
        Cipher {
            aead: Arc::new(XChaCha20Poly1305::new(key)),
        }
    }

    /// Reads the base64 key in `path`, or creates the file with a fresh key (mode 0600 on unix) when it
    /// does not exist. For sandbox mode; production passes its key through configuration.
    pub fn load_or_create(path: impl AsRef<std::path::Path>) -> Result<Cipher, CipherError> {
        key_file::load_or_create(path.as_ref())
    }

    /// Reads the base64 key in an existing `path`; never creates it. Refused with
    /// [`CipherError::KeyFileShared`] when its group or others may read it (unix mode & 0o077).
    /// For keys given as a file outside sandbox mode.
    pub fn load_private(path: impl AsRef<std::path::Path>) -> Result<Cipher, CipherError> {
        key_file::load_private(path.as_ref())
    }

    /// Seals `plaintext` for `slot`.
    pub(crate) fn seal(&self, slot: Slot<'_>, plaintext: &[u8]) -> Result<Vec<u8>, OpenError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = slot.associated_data();
        let sealed = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError)?;
        let mut stored = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        stored.push(FORMAT_V1);
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&sealed);
        Ok(stored)
    }

    /// Opens what [`seal`](Self::seal) stored for the same `slot`.
    pub(crate) fn open(&self, slot: Slot<'_>, stored: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (version, rest) = stored.split_first().ok_or(OpenError)?;
        if *version != FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let aad = slot.associated_data();
        self.aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError)
    }

    /// The key as base64, for the key file only.
    fn key_file_contents(key: &chacha20poly1305::Key) -> String {
        let mut text = STANDARD.encode(key);
        text.push('\n');
        text
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(XChaCha20Poly1305, key: [REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW_A: Slot<'static> = Slot {
        table: "bank_links",
        column: "access_token",
        row_id: b"row-a",
    };

    #[test]
    fn a_sealed_value_opens_in_its_own_slot() {
        let cipher = Cipher::generate();
        let sealed = cipher.seal(ROW_A, b"access-sandbox-secret").unwrap();
        assert_eq!(sealed[0], FORMAT_V1);
        assert_eq!(
            sealed.len(),
            1 + NONCE_LEN + b"access-sandbox-secret".len() + 16
        );
        assert_eq!(
            cipher.open(ROW_A, &sealed).unwrap(),
            b"access-sandbox-secret"
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let cipher = Cipher::generate();
        let first = cipher.seal(ROW_A, b"same").unwrap();
        let second = cipher.seal(ROW_A, b"same").unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn a_sealed_value_does_not_open_in_another_row_or_column() {
        let cipher = Cipher::generate();
        let sealed = cipher.seal(ROW_A, b"secret").unwrap();
        let other_row = Slot {
            row_id: b"row-b",
            ..ROW_A
        };
        let other_column = Slot {
            column: "processor_token",
            ..ROW_A
        };
        assert_eq!(cipher.open(other_row, &sealed), Err(OpenError));
        assert_eq!(cipher.open(other_column, &sealed), Err(OpenError));
    }

    #[test]
    fn a_sealed_value_does_not_open_under_another_key_or_damaged() {
        let sealed = Cipher::generate().seal(ROW_A, b"secret").unwrap();
        assert_eq!(Cipher::generate().open(ROW_A, &sealed), Err(OpenError));
        let cipher = Cipher::generate();
        let mut sealed = cipher.seal(ROW_A, b"secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(cipher.open(ROW_A, &sealed), Err(OpenError));
        assert_eq!(cipher.open(ROW_A, &[]), Err(OpenError));
        assert_eq!(cipher.open(ROW_A, &[FORMAT_V1, 1, 2]), Err(OpenError));
        assert_eq!(cipher.open(ROW_A, &[9; 64]), Err(OpenError));
    }

    #[test]
    fn a_key_must_be_base64_of_32_bytes() {
        Cipher::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        Cipher::from_base64(&format!(" {}\n", STANDARD.encode([7u8; 32]))).unwrap();
        for bad in [
            String::new(),
            "not base64!".to_owned(),
            STANDARD.encode([7u8; 31]),
            STANDARD.encode([7u8; 33]),
        ] {
            assert!(matches!(
                Cipher::from_base64(&bad),
                Err(CipherError::InvalidKey)
            ));
        }
    }

    #[test]
    fn the_same_key_opens_what_it_sealed_after_a_reload() {
        let encoded = STANDARD.encode([42u8; 32]);
        let sealed = Cipher::from_base64(&encoded)
            .unwrap()
            .seal(ROW_A, b"secret")
            .unwrap();
        let reloaded = Cipher::from_base64(&encoded).unwrap();
        assert_eq!(reloaded.open(ROW_A, &sealed).unwrap(), b"secret");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let encoded = STANDARD.encode([0xABu8; 32]);
        let shown = format!("{:?}", Cipher::from_base64(&encoded).unwrap());
        assert!(!shown.contains(&encoded));
        assert!(!shown.to_lowercase().contains("abab"));
        assert!(shown.contains("REDACTED"));
        let error = Cipher::from_base64("c2VjcmV0").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("c2VjcmV0"));
    }
}
