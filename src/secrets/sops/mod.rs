//! Reading and writing SOPS files encrypted to age recipients, compatible with `sops` 3.x.
//!
//! [`decrypt`] unwraps the data key with an age identity, decrypts every value and verifies
//! the MAC; [`encrypt`] and [`reencrypt`] write files that `sops` (and any SOPS reader)
//! decrypts. Nothing here does I/O; the caller reads and writes files.

pub mod creation;
pub mod crypto;
pub mod emit;
pub mod format;
pub mod rules;
pub mod time;
pub mod tree;
pub mod value;
pub mod yaml;

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::x25519::{Identity, Recipient};
use zeroize::Zeroizing;

pub use crypto::DataKey;
pub use format::{AgeEntry, Metadata};
pub use rules::Rules;
pub use value::{Value, go_float as go_float_text};

/// Why a SOPS document could not be read or written. Messages never contain values.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The YAML does not parse.
    #[error("invalid YAML near line {line}: {reason}")]
    Yaml {
        /// 1-based line of the problem.
        line: usize,
        /// The parser's description.
        reason: String,
    },
    /// A map has the same key twice.
    #[error("duplicate key `{0}`")]
    DuplicateKey(String),
    /// There is no top-level `sops:` block.
    #[error("not a SOPS file: no top-level `sops` metadata")]
    NotSops,
    /// The `sops:` block is malformed.
    #[error("invalid SOPS metadata: {0}")]
    Metadata(String),
    /// A SOPS or YAML feature mlsync does not implement.
    #[error("unsupported: {0} (see docs/secrets.md)")]
    Unsupported(String),
    /// The file has no age recipients (only PGP/KMS/… master keys).
    #[error(
        "the file has no age recipients (it uses {0}); mlsync decrypts only age-encrypted SOPS files"
    )]
    NoAgeRecipients(String),
    /// None of the identities unwraps the data key.
    #[error(
        "none of the configured age identities can decrypt it; it is encrypted to: {}",
        .0.join(", ")
    )]
    WrongKey(Vec<String>),
    /// Integrity failure: a value, a key, their order, the MAC or `lastmodified` changed.
    #[error("MAC check failed, the file was modified after encryption: {0}")]
    Tampered(String),
    /// A cryptographic step failed for another reason.
    #[error("{0}")]
    Crypto(String),
    /// An age recipient string does not parse.
    #[error("invalid age recipient `{0}` (expected age1…)")]
    BadRecipient(String),
}

/// A decrypted file: plaintext tree, data key and metadata.
pub struct Decrypted {
    /// The data map with every value decrypted, in file order.
    pub tree: Value,
    /// The file's data key (used to derive the config-hash key).
    pub data_key: DataKey,
    /// The file's `sops:` block.
    pub meta: Metadata,
}

/// Parses an age recipient (`age1…`).
pub fn parse_recipient(s: &str) -> Result<Recipient, SopsError> {
    s.trim()
        .parse()
        .map_err(|_| SopsError::BadRecipient(s.trim().to_owned()))
}

/// The age recipients a SOPS file is encrypted to (no key needed); a file with none (PGP- or
/// KMS-only) is [`SopsError::NoAgeRecipients`], since no age identity could ever read it.
pub fn recipients(text: &str) -> Result<Vec<String>, SopsError> {
    let doc = format::split(yaml::parse(text)?)?;
    if doc.meta.age.is_empty() {
        return Err(no_age_recipients(&doc.meta));
    }
    Ok(doc.meta.age.into_iter().map(|e| e.recipient).collect())
}

fn no_age_recipients(meta: &Metadata) -> SopsError {
    SopsError::NoAgeRecipients(if meta.other_master_keys.is_empty() {
        "no master keys at all".to_owned()
    } else {
        meta.other_master_keys.join(", ")
    })
}

/// Decrypts a SOPS file with the first identity that unwraps its data key, and verifies
/// the MAC.
pub fn decrypt(text: &str, identities: &[Identity]) -> Result<Decrypted, SopsError> {
    let doc = format::split(yaml::parse(text)?)?;
    let data_key = unwrap_data_key(&doc.meta, identities)?;
    let (tree, mac) = tree::decrypt_tree(&doc.data, &data_key, &doc.meta.rules)?;
    tree::verify_mac(&doc.meta.mac, &mac, &data_key, &doc.meta.lastmodified)?;
    Ok(Decrypted {
        tree,
        data_key,
        meta: doc.meta,
    })
}

/// Encrypts a plaintext map into a new SOPS file with a fresh data key and `sops`' default
/// rule: every value is encrypted except under keys ending in `_unencrypted`.
pub fn encrypt(plain: &Value, recipients: &[Recipient]) -> Result<String, SopsError> {
    encrypt_with_rules(plain, recipients, Rules::default())
}

/// Encrypts a plaintext map into a new SOPS file with a fresh data key, encrypting the values
/// `rules` select (a `.sops.yaml` creation rule's; with no suffix or regex, `sops`' default
/// `unencrypted_suffix: _unencrypted`) and recording the rules in `sops:`.
pub fn encrypt_with_rules(
    plain: &Value,
    recipients: &[Recipient],
    rules: Rules,
) -> Result<String, SopsError> {
    if plain.get("sops").is_some() {
        return Err(SopsError::Metadata(
            "the input already has a `sops` block (already encrypted?)".to_owned(),
        ));
    }
    seal(plain, recipients, rules.or_sops_default())
}

/// Re-encrypts a decrypted file to a new recipient list with a fresh data key, keeping
/// its encryption rules. Refused if it also uses master keys mlsync cannot re-create.
pub fn reencrypt(dec: &Decrypted, recipients: &[Recipient]) -> Result<String, SopsError> {
    if !dec.meta.other_master_keys.is_empty() {
        return Err(SopsError::Unsupported(format!(
            "rotating a file that also uses {} master keys",
            dec.meta.other_master_keys.join(", ")
        )));
    }
    seal(&dec.tree, recipients, dec.meta.rules.clone())
}

fn seal(plain: &Value, recipients: &[Recipient], rules: Rules) -> Result<String, SopsError> {
    if recipients.is_empty() {
        return Err(SopsError::Crypto("no age recipients given".to_owned()));
    }
    if !matches!(plain, Value::Map(_)) {
        return Err(SopsError::Unsupported(format!(
            "a top-level {} (SOPS YAML files are maps)",
            plain.kind()
        )));
    }
    let key = crypto::new_data_key();
    let (data, mac) = tree::encrypt_tree(plain, &key, &rules)?;
    let lastmodified = time::now_rfc3339();
    let meta = Metadata {
        age: recipients
            .iter()
            .map(|r| {
                Ok(AgeEntry {
                    recipient: r.to_string(),
                    enc: wrap_data_key(&key, r)?,
                })
            })
            .collect::<Result<_, SopsError>>()?,
        mac: tree::seal_mac(&mac, &key, &lastmodified)?,
        lastmodified,
        rules,
        version: None,
        other_master_keys: Vec::new(),
    };
    Ok(yaml::emit(&format::join(data, &meta)).to_string())
}

/// Wraps the data key for one recipient as an armored age file (one per recipient, as
/// `sops` does).
pub fn wrap_data_key(key: &DataKey, recipient: &Recipient) -> Result<String, SopsError> {
    let fail = |e: &dyn std::fmt::Display| SopsError::Crypto(format!("age encryption failed: {e}"));
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| fail(&e))?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| fail(&e))?;
    writer.write_all(key.as_ref()).map_err(|e| fail(&e))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| fail(&e))?;
    String::from_utf8(out).map_err(|e| fail(&e))
}

fn unwrap_data_key(meta: &Metadata, identities: &[Identity]) -> Result<DataKey, SopsError> {
    if meta.age.is_empty() {
        return Err(no_age_recipients(meta));
    }
    let ours: Vec<String> = identities
        .iter()
        .map(|i| i.to_public().to_string())
        .collect();
    for entry in &meta.age {
        match unwrap_one(&entry.enc, identities) {
            Ok(key) => return Ok(key),
            Err(reason) if ours.contains(&entry.recipient) => {
                return Err(SopsError::Crypto(format!(
                    "the data key wrapped for {} does not decrypt with its identity: {reason}",
                    entry.recipient
                )));
            }
            Err(_) => {}
        }
    }
    Err(SopsError::WrongKey(
        meta.age.iter().map(|e| e.recipient.clone()).collect(),
    ))
}

fn unwrap_one(enc: &str, identities: &[Identity]) -> Result<DataKey, String> {
    let decryptor =
        age::Decryptor::new(ArmoredReader::new(enc.as_bytes())).map_err(|e| e.to_string())?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| e.to_string())?;
    let mut buf = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let mut key = Zeroizing::new([0u8; 32]);
    if buf.len() != key.len() {
        return Err(format!("the data key is {} bytes, not 32", buf.len()));
    }
    key.copy_from_slice(&buf);
    Ok(key)
}
