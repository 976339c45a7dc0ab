//! The SOPS file layout: the data map plus the `sops:` metadata block.

use regex::Regex;

use super::SopsError;
use super::rules::Rules;
use super::value::Value;

/// The SOPS format version mlsync writes (the features it uses exist since 3.9).
pub const WRITTEN_VERSION: &str = "3.9.0";

/// Master-key lists mlsync does not read; a file using only these cannot be decrypted.
const OTHER_MASTER_KEYS: &[&str] = &["pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];

/// One `sops.age[]` entry: the data key wrapped for one age recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct AgeEntry {
    /// The `age1…` recipient.
    pub recipient: String,
    /// The armored age file holding the data key.
    pub enc: String,
}

/// The `sops:` block of a file.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// The age recipients and their wrapped data keys.
    pub age: Vec<AgeEntry>,
    /// `lastmodified`, exactly as written (it is the MAC's AAD).
    pub lastmodified: String,
    /// The encrypted MAC.
    pub mac: String,
    /// Which values are encrypted.
    pub rules: Rules,
    /// `version`, if present.
    pub version: Option<String>,
    /// Non-empty master-key lists mlsync cannot use (`pgp`, `kms`, …).
    pub other_master_keys: Vec<String>,
}

/// A parsed SOPS file: data (still encrypted) and metadata.
#[derive(Debug)]
pub struct Document {
    /// The top-level map without `sops`.
    pub data: Value,
    /// The `sops:` block.
    pub meta: Metadata,
}

/// Splits a parsed YAML document into data and SOPS metadata.
pub fn split(doc: Value) -> Result<Document, SopsError> {
    let Value::Map(entries) = doc else {
        return Err(SopsError::NotSops);
    };
    let mut data = Vec::with_capacity(entries.len());
    let mut sops = None;
    for (k, v) in entries {
        if k == "sops" {
            sops = Some(v);
        } else {
            data.push((k, v));
        }
    }
    let meta = parse_metadata(sops.ok_or(SopsError::NotSops)?)?;
    Ok(Document {
        data: Value::Map(data),
        meta,
    })
}

fn parse_metadata(sops: Value) -> Result<Metadata, SopsError> {
    let Value::Map(entries) = sops else {
        return Err(SopsError::Metadata("`sops` is not a map".to_owned()));
    };
    let mut meta = Metadata {
        age: Vec::new(),
        lastmodified: String::new(),
        mac: String::new(),
        rules: Rules::default(),
        version: None,
        other_master_keys: Vec::new(),
    };
    for (key, value) in entries {
        match key.as_str() {
            "age" => meta.age = parse_age(&value)?,
            "lastmodified" => meta.lastmodified = super::time::go_rfc3339(&text(&key, &value)?),
            "mac" => meta.mac = text(&key, &value)?,
            "version" => meta.version = Some(text(&key, &value)?),
            "unencrypted_suffix" => meta.rules.unencrypted_suffix = opt_text(&key, &value)?,
            "encrypted_suffix" => meta.rules.encrypted_suffix = opt_text(&key, &value)?,
            "unencrypted_regex" => meta.rules.unencrypted_regex = regex(&key, &value)?,
            "encrypted_regex" => meta.rules.encrypted_regex = regex(&key, &value)?,
            "mac_only_encrypted" => {
                meta.rules.mac_only_encrypted = match value {
                    Value::Bool(b) => b,
                    Value::Null => false,
                    _ => return Err(bad(&key, "a boolean")),
                }
            }
            "shamir_threshold" => {}
            k if OTHER_MASTER_KEYS.contains(&k) => {
                if !is_empty_list(&value) {
                    meta.other_master_keys.push(key);
                }
            }
            "key_groups" => {
                if !is_empty_list(&value) {
                    return Err(SopsError::Unsupported(
                        "key groups (`sops.key_groups`, Shamir secret sharing)".to_owned(),
                    ));
                }
            }
            "unencrypted_comment_regex" | "encrypted_comment_regex" => {
                if !is_empty_scalar(&value) {
                    return Err(SopsError::Unsupported(format!("`sops.{key}`")));
                }
            }
            _ => {
                return Err(SopsError::Unsupported(format!(
                    "the metadata key `sops.{key}`"
                )));
            }
        }
    }
    meta.rules = meta.rules.or_sops_default();
    if meta.lastmodified.is_empty() {
        return Err(SopsError::Metadata(
            "`sops.lastmodified` is missing".to_owned(),
        ));
    }
    if meta.mac.is_empty() {
        return Err(SopsError::Metadata("`sops.mac` is missing".to_owned()));
    }
    Ok(meta)
}

fn parse_age(value: &Value) -> Result<Vec<AgeEntry>, SopsError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Seq(items) => items,
        _ => return Err(bad("age", "a list")),
    };
    items
        .iter()
        .map(|item| {
            let field = |name: &str| match item.get(name) {
                Some(Value::Str(s)) if !s.is_empty() => Ok(s.to_string()),
                _ => Err(bad("age", "a list of {recipient, enc} maps")),
            };
            Ok(AgeEntry {
                recipient: field("recipient")?,
                enc: field("enc")?,
            })
        })
        .collect()
}

fn is_empty_list(v: &Value) -> bool {
    matches!(v, Value::Null) || matches!(v, Value::Seq(items) if items.is_empty())
}

fn is_empty_scalar(v: &Value) -> bool {
    matches!(v, Value::Null) || matches!(v, Value::Str(s) if s.is_empty())
}

fn bad(key: &str, expected: &str) -> SopsError {
    SopsError::Metadata(format!("`sops.{key}` must be {expected}"))
}

fn text(key: &str, value: &Value) -> Result<String, SopsError> {
    match value {
        Value::Str(s) => Ok(s.to_string()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        _ => Err(bad(key, "a string")),
    }
}

fn opt_text(key: &str, value: &Value) -> Result<Option<String>, SopsError> {
    Ok(Some(text(key, value)?).filter(|s| !s.is_empty()))
}

fn regex(key: &str, value: &Value) -> Result<Option<Regex>, SopsError> {
    opt_text(key, value)?
        .map(|r| Regex::new(&r).map_err(|e| SopsError::Metadata(format!("`sops.{key}`: {e}"))))
        .transpose()
}

/// Builds the full document (data followed by the `sops:` block) for emitting.
pub fn join(data: Value, meta: &Metadata) -> Value {
    let mut sops: Vec<(String, Value)> = Vec::new();
    let age = meta
        .age
        .iter()
        .map(|e| {
            Value::Map(vec![
                ("recipient".into(), Value::str(e.recipient.clone())),
                ("enc".into(), Value::str(e.enc.clone())),
            ])
        })
        .collect();
    sops.push(("age".into(), Value::Seq(age)));
    sops.push(("lastmodified".into(), Value::str(meta.lastmodified.clone())));
    sops.push(("mac".into(), Value::str(meta.mac.clone())));
    let r = &meta.rules;
    let opt = [
        ("unencrypted_suffix", r.unencrypted_suffix.clone()),
        ("encrypted_suffix", r.encrypted_suffix.clone()),
        (
            "unencrypted_regex",
            r.unencrypted_regex.as_ref().map(|x| x.as_str().to_owned()),
        ),
        (
            "encrypted_regex",
            r.encrypted_regex.as_ref().map(|x| x.as_str().to_owned()),
        ),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            sops.push((k.into(), Value::str(v)));
        }
    }
    if r.mac_only_encrypted {
        sops.push(("mac_only_encrypted".into(), Value::Bool(true)));
    }
    sops.push((
        "version".into(),
        Value::str(
            meta.version
                .clone()
                .unwrap_or_else(|| WRITTEN_VERSION.to_owned()),
        ),
    ));
    let mut entries = match data {
        Value::Map(entries) => entries,
        _ => Vec::new(),
    };
    entries.push(("sops".into(), Value::Map(sops)));
    Value::Map(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_age_features_are_refused_or_noted() {
        let doc =
            |sops: &str| split(super::super::yaml::parse(&format!("a: b\nsops:\n{sops}")).unwrap());
        let ok = doc("  lastmodified: x\n  mac: y\n  pgp:\n  - fp: z\n  kms: []\n").unwrap();
        assert_eq!(ok.meta.other_master_keys, ["pgp"]);
        assert!(matches!(
            doc("  lastmodified: x\n  mac: y\n  key_groups:\n  - age: []\n"),
            Err(SopsError::Unsupported(_))
        ));
        assert!(matches!(
            doc("  lastmodified: x\n  mac: y\n  encrypted_comment_regex: sops\n"),
            Err(SopsError::Unsupported(_))
        ));
        assert!(matches!(split(Value::Map(vec![])), Err(SopsError::NotSops)));
    }

    #[test]
    fn no_selector_means_sops_default_unencrypted_suffix() {
        let meta = |extra: &str| {
            let text = format!("a: b\nsops:\n  lastmodified: x\n  mac: y\n{extra}");
            split(super::super::yaml::parse(&text).unwrap())
                .unwrap()
                .meta
        };
        let rules = meta("").rules;
        assert_eq!(rules.unencrypted_suffix.as_deref(), Some("_unencrypted"));
        let rules = meta("  encrypted_regex: ^a$\n").rules;
        assert_eq!(rules.unencrypted_suffix, None);
        assert!(rules.encrypted_regex.is_some());
    }
}
