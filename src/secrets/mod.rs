//! Secret values and where they come from.
//!
//! Decrypted values live only in memory, inside [`SecretValue`], which redacts itself in
//! `Debug` and zeroizes on drop. Renderers ask a [`SecretSource`] for the data of a
//! `spec.secrets` file; [`SopsSource`] reads SOPS files encrypted to age recipients
//! ([`sops`]), with identities from [`keys`]. [`cli`] holds `mlsync secrets …`.

pub mod keys;
pub mod sops;
pub mod sops_config;
mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub use source::{HASH_KEY_LABEL, SopsSource, secret_data, validate_secret_map};

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

/// Errors from loading, writing and decrypting secrets files and age identities. Every
/// message names the file (or the key source) and none contains a plaintext value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Any failure of another [`SecretSource`], already phrased as `failed to … <file>: reason`.
    #[error("{0}")]
    Failed(String),
    /// The file could not be read.
    #[error("failed to read {}: {cause}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file could not be written.
    #[error("failed to write {}: {cause}", file.display())]
    Write {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// Decryption failed: wrong key, MAC failure, unsupported feature, bad format.
    #[error("failed to decrypt {}: {cause}", file.display())]
    Decrypt {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        cause: sops::SopsError,
    },
    /// Encryption failed.
    #[error("failed to encrypt {}: {cause}", file.display())]
    Encrypt {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        cause: sops::SopsError,
    },
    /// No age identity is configured.
    #[error(
        "failed to decrypt {}: no age identity is configured; the file is encrypted to: {}; \
         provide the identity with --age-key-file FILE, SOPS_AGE_KEY_FILE=FILE, \
         SOPS_AGE_KEY=AGE-SECRET-KEY-1…, or the systemd credential `{}` \
         (LoadCredential={}:FILE)",
        file.display(),
        if recipients.is_empty() { "(no age recipients)".to_owned() } else { recipients.join(", ") },
        keys::CREDENTIAL_NAME,
        keys::CREDENTIAL_NAME
    )]
    NoKey {
        /// The file.
        file: PathBuf,
        /// Its age recipients.
        recipients: Vec<String>,
    },
    /// A `.sops.yaml` cannot be used for the file being encrypted.
    #[error("failed to use the sops config {}: {cause}", file.display())]
    SopsConfig {
        /// The `.sops.yaml`.
        file: PathBuf,
        /// What is wrong with it, or why its rule cannot be honoured.
        cause: sops::creation::CreationError,
    },
    /// Neither `--age` nor a creation rule names age recipients.
    #[error(
        "failed to encrypt {}: no age recipients: pass --age age1… (or SOPS_AGE_RECIPIENTS), \
         or give the matching creation rule in .sops.yaml an `age` list ({why})",
        file.display()
    )]
    NoRecipients {
        /// The file being encrypted.
        file: PathBuf,
        /// Where mlsync looked.
        why: String,
    },
    /// The encryption rule would leave every value of the file in plaintext.
    #[error(
        "failed to encrypt {}: {rule} encrypts none of its values ({selector} leaves every \
         key in plaintext: {keys}); mlsync refuses to write secrets in plaintext (sops would \
         write them): change the rule or the keys",
        file.display()
    )]
    NothingEncrypted {
        /// The file being encrypted.
        file: PathBuf,
        /// Which rule: "creation rule N of FILE", or sops' default.
        rule: String,
        /// The rule's selector, e.g. "encrypted_regex `^data$`".
        selector: String,
        /// The keys left in plaintext, comma-separated.
        keys: String,
    },
    /// The decrypted content is not a flat map of valid keys to scalars.
    #[error("failed to load {}: {reason}", file.display())]
    Content {
        /// The file.
        file: PathBuf,
        /// What is wrong (key names only).
        reason: String,
    },
    /// An age identity source does not parse.
    #[error("failed to load age identities from {origin}: {reason}")]
    Identity {
        /// The file, or `$SOPS_AGE_KEY`.
        origin: String,
        /// What is wrong (never the key material).
        reason: String,
    },
    /// An identity file is accessible by group or others.
    #[error(
        "refusing to use age identity file {}: its permissions {mode:04o} let group or others \
         access it; fix with `chmod 600 {}`",
        file.display(),
        file.display()
    )]
    IdentityPermissions {
        /// The identity file.
        file: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Supplies the decrypted data of a `spec.secrets` file.
pub trait SecretSource: Send + Sync {
    /// Decrypts `file` (a path inside the config repo, already checked to exist).
    fn load(&self, file: &Path) -> Result<SecretData, SecretsError>;
}
