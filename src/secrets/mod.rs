//! Secret values and where they come from.
//!
//! Decrypted values live only in memory, inside [`SecretValue`], which redacts itself in
//! `Debug` and zeroizes on drop. Renderers ask a [`SecretSource`] for the data of a
//! `spec.secrets` file; the SOPS/age implementation lives in this module's children.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

/// One decrypted secret value. Never printed: `Debug` shows only its length.
#[derive(Clone)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Wraps raw bytes; the buffer is zeroized when the value is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The plaintext bytes. Callers must not log or persist them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<redacted {} bytes>)", self.0.len())
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice() == other.0.as_slice()
    }
}

/// The decrypted content of one secrets file: Secret data keys to values, plus a key for
/// the config-hash HMAC so that the pod-template hash never reveals low-entropy values.
#[derive(Clone)]
pub struct SecretData {
    /// Data keys (also the environment variable names) to decrypted values.
    pub entries: BTreeMap<String, SecretValue>,
    /// Secret key for the keyed config hash (derived from the file's data key, never stored).
    pub hash_key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretData")
            .field("keys", &self.entries.keys().collect::<Vec<_>>())
            .field("hash_key", &"<redacted>")
            .finish()
    }
}

/// Errors from loading a secrets file.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Any failure, already phrased as "failed to … <file>: reason".
    #[error("{0}")]
    Failed(String),
}

/// Supplies the decrypted data of a `spec.secrets` file.
pub trait SecretSource: Send + Sync {
    /// Decrypts `file` (a path inside the config repo, already checked to exist).
    fn load(&self, file: &Path) -> Result<SecretData, SecretsError>;
}
