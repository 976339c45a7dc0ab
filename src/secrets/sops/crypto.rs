//! SOPS value encryption: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` with a 32-byte IV and
//! the key path as AAD. The tree walk and MAC are in [`super::tree`].

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use zeroize::Zeroizing;

use super::SopsError;
use super::value::{Value, go_float};

/// AES-256-GCM with SOPS' 32-byte nonce.
type Cipher = AesGcm<Aes256, U32>;

/// The 32-byte data key that encrypts every value of one file.
pub type DataKey = Zeroizing<[u8; 32]>;

/// A fresh random data key.
pub fn new_data_key() -> DataKey {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    key
}

/// Encrypts one scalar as `ENC[AES256_GCM,…]`; empty strings stay empty.
pub fn encrypt_scalar(value: &Value, key: &DataKey, aad: &str) -> Result<Value, SopsError> {
    let (plain, kind): (Zeroizing<Vec<u8>>, &str) = match value {
        Value::Str(s) if s.is_empty() => return Ok(Value::str("")),
        Value::Str(s) => (Zeroizing::new(s.as_bytes().to_vec()), "str"),
        Value::Int(i) => (Zeroizing::new(i.to_string().into_bytes()), "int"),
        Value::Float(f) => (Zeroizing::new(go_float(*f).into_bytes()), "float"),
        Value::Bool(b) => (
            Zeroizing::new(if *b { "True" } else { "False" }.as_bytes().to_vec()),
            "bool",
        ),
        other => {
            return Err(SopsError::Unsupported(format!(
                "encrypting a {} value",
                other.kind()
            )));
        }
    };
    let mut iv = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let cipher = Cipher::new(aes_gcm::Key::<Cipher>::from_slice(&key[..]));
    let sealed = cipher
        .encrypt(
            Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: &plain,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| SopsError::Crypto("AES-GCM encryption failed".to_owned()))?;
    let (data, tag) = sealed.split_at(sealed.len() - 16);
    Ok(Value::str(format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        B64.encode(data),
        B64.encode(iv),
        B64.encode(tag)
    )))
}

/// Why one value could not be decrypted; the caller adds the key path.
#[derive(Debug)]
pub enum ValueFailure {
    /// Not an `ENC[AES256_GCM,…]` string.
    NotEncrypted,
    /// The ciphertext, IV, tag or AAD (the key path) was changed.
    Authentication,
    /// A value type mlsync does not read (e.g. `bytes`).
    UnknownType(String),
    /// The plaintext does not parse as its declared type.
    BadType(&'static str),
}

/// Decrypts one `ENC[AES256_GCM,…]` string (or the empty string) into a typed value.
pub fn decrypt_scalar(enc: &str, key: &DataKey, aad: &str) -> Result<Value, ValueFailure> {
    if enc.is_empty() {
        return Ok(Value::str(""));
    }
    let body = enc
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|s| s.strip_suffix(']'))
        .ok_or(ValueFailure::NotEncrypted)?;
    let mut fields = [None; 4];
    for part in body.split(',') {
        let (name, val) = part.split_once(':').ok_or(ValueFailure::NotEncrypted)?;
        let slot = ["data", "iv", "tag", "type"]
            .iter()
            .position(|n| *n == name)
            .ok_or(ValueFailure::NotEncrypted)?;
        fields[slot] = Some(val);
    }
    let [Some(data), Some(iv), Some(tag), Some(kind)] = fields else {
        return Err(ValueFailure::NotEncrypted);
    };
    let decode = |s: &str| B64.decode(s).map_err(|_| ValueFailure::NotEncrypted);
    let (mut sealed, iv, tag) = (decode(data)?, decode(iv)?, decode(tag)?);
    if iv.len() != 32 || tag.len() != 16 {
        return Err(ValueFailure::NotEncrypted);
    }
    sealed.extend_from_slice(&tag);
    let cipher = Cipher::new(aes_gcm::Key::<Cipher>::from_slice(&key[..]));
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: &sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| ValueFailure::Authentication)?,
    );
    let text = std::str::from_utf8(&plain).map_err(|_| ValueFailure::BadType("UTF-8 text"))?;
    match kind {
        "str" | "comment" => Ok(Value::str(text)),
        "int" | "int64" => text
            .parse()
            .map(Value::Int)
            .map_err(|_| ValueFailure::BadType("int")),
        "float" => text
            .parse()
            .map(Value::Float)
            .map_err(|_| ValueFailure::BadType("float")),
        "bool" => match text {
            "True" | "true" | "TRUE" | "1" | "t" | "T" => Ok(Value::Bool(true)),
            "False" | "false" | "FALSE" | "0" | "f" | "F" => Ok(Value::Bool(false)),
            _ => Err(ValueFailure::BadType("bool")),
        },
        other => Err(ValueFailure::UnknownType(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_round_trip_keeps_type_and_binds_path() {
        let key = new_data_key();
        for v in [
            Value::str("s3cret"),
            Value::Int(5),
            Value::Float(2.5),
            Value::Bool(true),
        ] {
            let Value::Str(enc) = encrypt_scalar(&v, &key, "A:").unwrap() else {
                panic!()
            };
            assert!(enc.starts_with("ENC[AES256_GCM,data:"), "{}", enc.as_str());
            assert_eq!(decrypt_scalar(&enc, &key, "A:").unwrap(), v);
            assert!(matches!(
                decrypt_scalar(&enc, &key, "B:"),
                Err(ValueFailure::Authentication)
            ));
        }
        assert_eq!(
            encrypt_scalar(&Value::str(""), &key, "A:").unwrap(),
            Value::str("")
        );
    }
}
