//! Walking a SOPS tree to encrypt or decrypt it, and the MAC.
//!
//! The walk mirrors `sops`' `Tree.Encrypt`/`Tree.Decrypt`: depth first in file order, list
//! items share their parent's path, nulls are skipped, empty strings stay empty, and the
//! MAC is SHA-512 over every scalar (or only encrypted ones with `mac_only_encrypted`),
//! stored as upper-case hex encrypted with `lastmodified` as AAD.

use sha2::{Digest, Sha512};

use super::SopsError;
use super::crypto::{DataKey, ValueFailure, decrypt_scalar, encrypt_scalar};
use super::rules::Rules;
use super::value::Value;

/// `sha256("sops")`: the MAC prefix when only encrypted values are authenticated.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Encrypts every selected value of `tree`; returns the encrypted tree and the MAC (hex).
pub fn encrypt_tree(
    tree: &Value,
    key: &DataKey,
    rules: &Rules,
) -> Result<(Value, String), SopsError> {
    let mut hash = new_hash(rules);
    let out = walk(tree, &mut Vec::new(), &mut |v, path| {
        let encrypted = rules.should_encrypt(path);
        if !rules.mac_only_encrypted || encrypted {
            hash_value(&mut hash, v, path)?;
        }
        if encrypted {
            encrypt_scalar(v, key, &aad(path))
        } else {
            Ok(v.clone())
        }
    })?;
    Ok((out, hex_upper(&hash.finalize())))
}

/// Decrypts every selected value of `tree`; returns the plaintext tree and the MAC (hex).
pub fn decrypt_tree(
    tree: &Value,
    key: &DataKey,
    rules: &Rules,
) -> Result<(Value, String), SopsError> {
    let mut hash = new_hash(rules);
    let out = walk(tree, &mut Vec::new(), &mut |v, path| {
        let encrypted = rules.should_encrypt(path);
        let plain = if encrypted {
            let Value::Str(enc) = v else {
                return Err(SopsError::Tampered(format!(
                    "the value at `{}` is a plaintext {}, not an encrypted value",
                    path.join(":"),
                    v.kind()
                )));
            };
            decrypt_scalar(enc, key, &aad(path)).map_err(|f| value_error(f, path))?
        } else {
            v.clone()
        };
        if !rules.mac_only_encrypted || encrypted {
            hash_value(&mut hash, &plain, path)?;
        }
        Ok(plain)
    })?;
    Ok((out, hex_upper(&hash.finalize())))
}

/// What `rules` would do to `tree`: how many non-empty values they encrypt, and the paths
/// (`a:b`) of the non-empty values they leave in plaintext. Nulls and empty strings are never
/// encrypted by SOPS, so they count as neither.
pub fn encryption_plan(tree: &Value, rules: &Rules) -> (usize, Vec<String>) {
    let (mut encrypted, mut plain) = (0, Vec::new());
    let _ = walk(tree, &mut Vec::new(), &mut |v, path| {
        if !matches!(v, Value::Str(s) if s.is_empty()) {
            if rules.should_encrypt(path) {
                encrypted += 1;
            } else {
                plain.push(path.join(":"));
            }
        }
        Ok(v.clone())
    });
    (encrypted, plain)
}

fn value_error(f: ValueFailure, path: &[String]) -> SopsError {
    let at = path.join(":");
    match f {
        ValueFailure::NotEncrypted => SopsError::Tampered(format!(
            "the value at `{at}` is not an ENC[AES256_GCM,…] value"
        )),
        ValueFailure::Authentication => SopsError::Tampered(format!(
            "the value at `{at}` does not authenticate with the data key (changed or moved)"
        )),
        ValueFailure::UnknownType(t) => {
            SopsError::Unsupported(format!("the value type `{t}` (at `{at}`)"))
        }
        ValueFailure::BadType(t) => {
            SopsError::Crypto(format!("the decrypted value at `{at}` is not a valid {t}"))
        }
    }
}

/// Encrypts the MAC for storage, with `lastmodified` as AAD.
pub fn seal_mac(mac: &str, key: &DataKey, lastmodified: &str) -> Result<String, SopsError> {
    match encrypt_scalar(&Value::str(mac), key, lastmodified)? {
        Value::Str(s) => Ok(s.to_string()),
        _ => Err(SopsError::Crypto("MAC encryption failed".to_owned())),
    }
}

/// Checks the stored (encrypted) MAC against the one computed over the decrypted values.
pub fn verify_mac(
    stored: &str,
    computed: &str,
    key: &DataKey,
    lastmodified: &str,
) -> Result<(), SopsError> {
    match decrypt_scalar(stored, key, lastmodified) {
        Ok(Value::Str(s)) if s.as_str() == computed => Ok(()),
        Ok(_) => Err(SopsError::Tampered(
            "the MAC over the values does not match: a value, a key or their order changed"
                .to_owned(),
        )),
        Err(_) => Err(SopsError::Tampered(
            "the stored MAC does not authenticate: `sops.mac` or `sops.lastmodified` changed"
                .to_owned(),
        )),
    }
}

fn new_hash(rules: &Rules) -> Sha512 {
    let mut hash = Sha512::new();
    if rules.mac_only_encrypted {
        hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    hash
}

fn hash_value(hash: &mut Sha512, v: &Value, path: &[String]) -> Result<(), SopsError> {
    let bytes = v.mac_bytes().ok_or_else(|| {
        SopsError::Crypto(format!(
            "cannot hash a {} at `{}`",
            v.kind(),
            path.join(":")
        ))
    })?;
    hash.update(&*bytes);
    Ok(())
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

type Leaf<'a> = dyn FnMut(&Value, &[String]) -> Result<Value, SopsError> + 'a;

fn walk(v: &Value, path: &mut Vec<String>, leaf: &mut Leaf<'_>) -> Result<Value, SopsError> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, child) in entries {
                path.push(k.clone());
                let res = walk(child, path, leaf);
                path.pop();
                out.push((k.clone(), res?));
            }
            Ok(Value::Map(out))
        }
        Value::Seq(items) => items
            .iter()
            .map(|i| walk(i, path, leaf))
            .collect::<Result<_, _>>()
            .map(Value::Seq),
        scalar => leaf(scalar, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_only_encrypted_leaves_plaintext_values_out_of_the_mac() {
        let key = crate::secrets::sops::crypto::new_data_key();
        let tree = |v: &str| {
            Value::Map(vec![
                ("a_unencrypted".into(), Value::str(v)),
                ("b".into(), Value::str("secret")),
            ])
        };
        let mut rules = Rules {
            unencrypted_suffix: Some("_unencrypted".into()),
            mac_only_encrypted: true,
            ..Rules::default()
        };
        let (enc, mac) = encrypt_tree(&tree("one"), &key, &rules).unwrap();
        let (dec, mac2) = decrypt_tree(&enc, &key, &rules).unwrap();
        assert_eq!(dec, tree("one"));
        assert_eq!(mac, mac2);
        let (_, other) = encrypt_tree(&tree("two"), &key, &rules).unwrap();
        assert_eq!(mac, other, "plaintext values are outside the MAC");
        rules.mac_only_encrypted = false;
        let (_, full) = encrypt_tree(&tree("one"), &key, &rules).unwrap();
        assert_ne!(mac, full, "the init block makes the two MAC modes differ");
    }
}
