//! The pod-template config hash: changes whenever config or secret values change, so pods roll;
//! reveals nothing about secret values.
//!
//! Without secrets it is a plain SHA-256 of the (non-secret) config. With secrets it is an
//! HMAC-SHA256 keyed with [`SecretData::hash_key`], a secret derived from the encrypted file's
//! data key: without that key, nobody can brute-force a low-entropy value like `secure123` from
//! the annotation.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secrets::SecretData;

/// Annotation on the pod template that carries the hash.
pub const CONFIG_HASH_ANNOTATION: &str = "mlsync.dev/config-hash";

fn encode(out: &mut Vec<u8>, tag: u8, key: &str, value: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(key.len() as u64).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(value.len() as u64).to_be_bytes());
    out.extend_from_slice(value);
}

/// Hex digest (32 characters) over `config` and, when present, the secret entries.
pub fn config_hash(config: &BTreeMap<String, String>, secrets: Option<&SecretData>) -> String {
    let mut config_bytes = Vec::new();
    for (k, v) in config {
        encode(&mut config_bytes, b'c', k, v.as_bytes());
    }
    let digest: Vec<u8> = match secrets {
        None => Sha256::digest(&config_bytes).to_vec(),
        Some(s) => {
            // Hmac accepts keys of any length; new_from_slice cannot fail for HMAC.
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&s.hash_key) else {
                return String::new();
            };
            mac.update(&config_bytes);
            for (k, v) in &s.entries {
                let mut entry = zeroize::Zeroizing::new(Vec::new());
                encode(&mut entry, b's', k, v.expose());
                mac.update(&entry);
            }
            mac.finalize().into_bytes().to_vec()
        }
    };
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Annotation on every rendered object: a digest of what mlsync applies, so that a later run can
/// tell "git changed" (including fields removed from git) without writing anything.
pub const APPLIED_HASH_ANNOTATION: &str = "mlsync.dev/applied-hash";

/// Digest of an object body as rendered, without the [`APPLIED_HASH_ANNOTATION`] itself and
/// without Secret `data` (its values are covered by the keyed config hash the Secret carries in
/// its [`CONFIG_HASH_ANNOTATION`]; an unkeyed digest of them could be brute-forced).
pub fn applied_hash(body: &serde_json::Value) -> String {
    let is_secret = body.get("kind").and_then(|k| k.as_str()) == Some("Secret");
    let stamped = body
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
        .is_some();
    if !is_secret && !stamped {
        return digest_json(body);
    }
    let mut copy = body.clone();
    if let Some(obj) = copy.as_object_mut() {
        if obj.get("kind").and_then(|k| k.as_str()) == Some("Secret") {
            obj.remove("data");
            obj.remove("stringData");
        }
        if let Some(a) = obj
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            .and_then(|a| a.as_object_mut())
        {
            a.remove(APPLIED_HASH_ANNOTATION);
        }
    }
    digest_json(&copy)
}

/// SHA-256 of the compact JSON text of `v`, streamed into the hasher (no intermediate string).
fn digest_json(v: &serde_json::Value) -> String {
    struct HashWriter(Sha256);
    impl std::io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(Sha256::new());
    // Writing a Value to an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut w, v);
    hex16(&w.0.finalize())
}

fn hex16(digest: &[u8]) -> String {
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Sets the [`APPLIED_HASH_ANNOTATION`] on `body`.
pub fn stamp(body: &mut serde_json::Value) {
    let hash = applied_hash(body);
    if let Some(meta) = body.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(APPLIED_HASH_ANNOTATION.to_owned(), hash.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretValue;

    fn secrets(key: &[u8], pass: &str) -> SecretData {
        let mut entries = BTreeMap::new();
        entries.insert(
            "DB_PASS".to_owned(),
            SecretValue::new(pass.as_bytes().to_vec()),
        );
        SecretData {
            entries,
            hash_key: zeroize::Zeroizing::new(key.to_vec()),
        }
    }

    #[test]
    fn changes_with_config_and_secret_values() {
        let mut config = BTreeMap::new();
        config.insert("MODEL_VERSION".to_owned(), "v1".to_owned());
        let a = config_hash(&config, Some(&secrets(b"k", "secure123")));
        let b = config_hash(&config, Some(&secrets(b"k", "secure124")));
        config.insert("MODEL_VERSION".to_owned(), "v2".to_owned());
        let c = config_hash(&config, Some(&secrets(b"k", "secure123")));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            config_hash(
                &BTreeMap::from([("MODEL_VERSION".into(), "v1".into())]),
                Some(&secrets(b"k", "secure123"))
            )
        );
    }

    #[test]
    fn secret_hash_depends_on_the_key_not_only_the_value() {
        // Guessing "secure123" and hashing it without the key must not reproduce the annotation.
        let config = BTreeMap::new();
        let with_key = config_hash(&config, Some(&secrets(b"data-key-derived", "secure123")));
        let guess = config_hash(&config, Some(&secrets(b"", "secure123")));
        assert_ne!(with_key, guess);
    }
}
