//! The key file of sandbox mode: read it if it exists, otherwise create it with a fresh key,
//! readable by the owner only, atomically (a concurrent creator never sees a half-written file).

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{KeyInit, OsRng};

use super::{Cipher, CipherError};

pub(crate) fn load_or_create(path: &Path) -> Result<Cipher, CipherError> {
    let key_file_error = |source: io::Error| CipherError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    match fs::read_to_string(path) {
        Ok(text) => return Cipher::from_base64(&text),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(key_file_error(error)),
    }
    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
    match create_new(path, Cipher::key_file_contents(&key).as_bytes()) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new encryption key file");
            Ok(Cipher::from_key_bytes(&key))
        }
        // Someone else created it first: theirs is the key.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path).map_err(key_file_error)?;
            Cipher::from_base64(&text)
        }
        Err(error) => Err(key_file_error(error)),
    }
}

/// Writes `contents` to a private temporary file next to `path`, then links it into place; the link
/// fails with `AlreadyExists` if `path` appeared meanwhile.
fn create_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let temporary = std::path::PathBuf::from(temporary);
    let result = write_private(&temporary, contents).and_then(|()| fs::hard_link(&temporary, path));
    // The temporary name goes whether or not the link worked.
    let _ = fs::remove_file(&temporary);
    result
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
