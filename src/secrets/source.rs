//! [`SopsSource`]: the [`SecretSource`] that decrypts SOPS/age files, and the mapping from
//! a decrypted file to Secret data.
//!
//! Value mapping: strings as their UTF-8 bytes; integers in decimal; floats in shortest
//! decimal form (`1234.56789`, `1.5`, `1`: what `sops` stores, so `1.50` becomes `1.5`;
//! quote a value to keep its exact text); booleans as `true`/`false`; null and empty
//! values as empty bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use age::x25519::Identity;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::keys::{self, KeyOptions};
use super::sops::{self, Decrypted, Value, go_float_text};
use super::{SecretData, SecretSource, SecretValue, SecretsError};
use crate::spec::limits;

/// The HMAC label that derives [`SecretData::hash_key`] from a file's data key.
pub const HASH_KEY_LABEL: &[u8] = b"mlsync config-hash v1";

/// Decrypts SOPS files with the configured age identities.
pub struct SopsSource {
    identities: Vec<Identity>,
}

impl fmt::Debug for SopsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SopsSource(<{} age identities>)", self.identities.len())
    }
}

impl SopsSource {
    /// Loads identities from `--age-key-file`/`SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY` and
    /// `$CREDENTIALS_DIRECTORY/age-key`. Having none is not an error until a file is loaded.
    pub fn from_options(args: &KeyOptions) -> Result<Self, SecretsError> {
        Ok(Self::from_identities(keys::load_identities(args)?))
    }

    /// A source with the given identities.
    pub fn from_identities(identities: Vec<Identity>) -> Self {
        Self { identities }
    }

    /// Decrypts `file` into its full tree (any SOPS YAML layout), verifying the MAC.
    pub fn decrypt_file(&self, file: &Path) -> Result<Decrypted, SecretsError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(file).map_err(|cause| SecretsError::Read {
                    file: file.to_owned(),
                    cause,
                })?,
            );
        let decrypt_err = |cause| SecretsError::Decrypt {
            file: file.to_owned(),
            cause,
        };
        if self.identities.is_empty() {
            let recipients = sops::recipients(&text).map_err(decrypt_err)?;
            return Err(SecretsError::NoKey {
                file: file.to_owned(),
                recipients,
            });
        }
        tracing::debug!(file = %file.display(), "decrypting secrets file");
        sops::decrypt(&text, &self.identities).map_err(decrypt_err)
    }
}

impl SecretSource for SopsSource {
    fn load(&self, file: &Path) -> Result<SecretData, SecretsError> {
        let dec = self.decrypt_file(file)?;
        secret_data(file, &dec)
    }
}

/// Checks that a (plaintext) tree is a flat map of `[A-Za-z_][A-Za-z0-9_]*` keys to
/// scalars. The reason names keys, never values.
pub fn validate_secret_map(tree: &Value) -> Result<(), String> {
    let Value::Map(entries) = tree else {
        return Err(format!(
            "expected a map of KEY: value, found a {}",
            tree.kind()
        ));
    };
    for (key, value) in entries {
        if !valid_key(key) {
            return Err(format!(
                "`{key}` is not a valid Secret key / environment variable name \
                 (expected [A-Za-z_][A-Za-z0-9_]*)"
            ));
        }
        if let Some(why) = limits::data_key(key) {
            return Err(format!("`{key}`: {why}"));
        }
        if matches!(value, Value::Map(_) | Value::Seq(_)) {
            return Err(format!(
                "the value of `{key}` is a {}; secrets files hold a flat map of KEY: value",
                value.kind()
            ));
        }
    }
    Ok(())
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Turns a decrypted file into Secret data and derives the config-hash key.
pub fn secret_data(file: &Path, dec: &Decrypted) -> Result<SecretData, SecretsError> {
    validate_secret_map(&dec.tree).map_err(|reason| SecretsError::Content {
        file: file.to_owned(),
        reason,
    })?;
    let Value::Map(entries) = &dec.tree else {
        return Err(SecretsError::Content {
            file: file.to_owned(),
            reason: "expected a map".to_owned(),
        });
    };
    let entries: BTreeMap<String, SecretValue> = entries
        .iter()
        .map(|(k, v)| (k.clone(), SecretValue::new(secret_bytes(v))))
        .collect();
    // The API server refuses larger Secrets; the sizes are known only now, after decryption.
    if let Some(why) = limits::check_data(entries.values().map(|v| v.expose().len())) {
        return Err(SecretsError::Content {
            file: file.to_owned(),
            reason: format!("the decrypted {why}"),
        });
    }
    let hash_key = derive_hash_key(&dec.data_key).ok_or_else(|| SecretsError::Content {
        file: file.to_owned(),
        reason: "could not derive the config-hash key".to_owned(),
    })?;
    Ok(SecretData { entries, hash_key })
}

/// The Secret bytes of one scalar (see the module docs).
pub fn secret_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Float(f) => go_float_text(*f).into_bytes(),
        Value::Bool(b) => if *b { "true" } else { "false" }.as_bytes().to_vec(),
        Value::Null | Value::Seq(_) | Value::Map(_) => Vec::new(),
    }
}

/// `HMAC-SHA256(data_key, "mlsync config-hash v1")` (`None` only if HMAC refused the key,
/// which it does not for 32 bytes).
pub fn derive_hash_key(data_key: &[u8; 32]) -> Option<Zeroizing<Vec<u8>>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(data_key).ok()?;
    mac.update(HASH_KEY_LABEL);
    Some(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        for ok in ["DB_USER", "_x", "a1"] {
            assert!(valid_key(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "a.b", "ÄB", "A B"] {
            assert!(!valid_key(bad), "{bad}");
        }
        let err =
            validate_secret_map(&Value::Map(vec![("my-key".into(), Value::str("v"))])).unwrap_err();
        assert!(err.contains("`my-key`"), "{err}");
        let err =
            validate_secret_map(&Value::Map(vec![("A".into(), Value::Seq(vec![]))])).unwrap_err();
        assert!(err.contains("`A` is a list"), "{err}");
    }

    #[test]
    fn api_limits_apply_to_the_decrypted_data() {
        let long = "K".repeat(254);
        let err =
            validate_secret_map(&Value::Map(vec![(long.clone(), Value::str("v"))])).unwrap_err();
        assert_eq!(
            err,
            format!("`{long}`: key is 254 characters long; Kubernetes allows at most 253")
        );
        let id = Identity::generate();
        let decrypted = |size: usize| {
            let tree = Value::Map(vec![("A".into(), Value::str("v".repeat(size)))]);
            let text = sops::encrypt(&tree, &[id.to_public()]).unwrap();
            sops::decrypt(&text, std::slice::from_ref(&id)).unwrap()
        };
        let file = Path::new("secrets/big.enc.yaml");
        assert!(secret_data(file, &decrypted(limits::MAX_DATA_BYTES)).is_ok());
        let err = secret_data(file, &decrypted(limits::MAX_DATA_BYTES + 1))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "failed to load secrets/big.enc.yaml: the decrypted values total 1048577 bytes; \
             a ConfigMap or Secret holds at most 1048576 (1 MiB)"
        );
    }

    #[test]
    fn non_strings_become_their_yaml_text() {
        let bytes = |v: Value| String::from_utf8(secret_bytes(&v)).unwrap();
        assert_eq!(bytes(Value::Int(5432)), "5432");
        assert_eq!(bytes(Value::Int(-1)), "-1");
        assert_eq!(bytes(Value::Float(1234.56789)), "1234.56789");
        assert_eq!(bytes(Value::Float(1.5)), "1.5");
        assert_eq!(bytes(Value::Bool(true)), "true");
        assert_eq!(bytes(Value::Bool(false)), "false");
        assert_eq!(bytes(Value::Null), "");
        assert_eq!(bytes(Value::str("")), "");
        assert_eq!(bytes(Value::str("s p a c e")), "s p a c e");
    }

    #[test]
    fn hash_key_is_a_keyed_derivation() {
        let a = derive_hash_key(&[1; 32]).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(*a, *derive_hash_key(&[2; 32]).unwrap());
        assert_ne!(a.as_slice(), &[1u8; 32][..]);
    }
}
