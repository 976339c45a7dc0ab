//! `.sops.yaml` creation rules, read the way `sops` 3.x reads them for a new file.
//!
//! The first rule whose `path_regex` matches the file's path (relative to the config file's
//! directory, or absolute when the file is outside it) applies; a rule without `path_regex`
//! matches every file; a config with rules none of which matches is an error, as in `sops`.
//! From the chosen rule mlsync takes `age` recipients (a comma-separated string or a list, or a
//! single `key_groups` entry holding only `age`) and the encryption rules
//! (`encrypted_regex`, `unencrypted_regex`, `encrypted_suffix`, `unencrypted_suffix`,
//! `mac_only_encrypted`). Keys mlsync cannot write (PGP, KMS, Vault, several key groups,
//! comment regexes) are refused naming the rule. Other keys are ignored, as `sops` ignores them.
//! Pure: the caller finds and reads the file ([`crate::secrets::sops_config`]).

use regex::Regex;
use serde_json::Value as Json;

use super::rules::Rules;

/// Why a `.sops.yaml` cannot be used for a file. Messages name rules and keys, never values.
#[derive(Debug, thiserror::Error)]
pub enum CreationError {
    /// The file is not YAML, or not a map.
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// A field has the wrong shape.
    #[error("creation rule {rule}: `{field}` must be {expected}")]
    Field {
        /// 1-based rule number.
        rule: usize,
        /// The key.
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A regex does not compile.
    #[error("creation rule {rule}: `{field}` is not a valid regex: {reason}")]
    Regex {
        /// 1-based rule number.
        rule: usize,
        /// The key.
        field: &'static str,
        /// The regex engine's message.
        reason: String,
    },
    /// No rule matches the file.
    #[error("no creation rule matches `{0}` (sops refuses to encrypt it too)")]
    NoMatch(String),
    /// More than one of the suffix/regex rules.
    #[error(
        "creation rule {0}: use only one of encrypted_suffix, unencrypted_suffix, \
         encrypted_regex, unencrypted_regex (as sops requires)"
    )]
    Conflict(usize),
    /// The rule asks for something mlsync does not write.
    #[error(
        "creation rule {rule}: mlsync encrypts only to age recipients and cannot honour `{field}` \
         ({what}); pass --age to encrypt to age recipients only, or use sops for this file"
    )]
    Unsupported {
        /// 1-based rule number.
        rule: usize,
        /// The key.
        field: String,
        /// Why.
        what: &'static str,
    },
}

/// The creation rule that applies to a file.
#[derive(Debug, Clone)]
pub struct CreationRule {
    /// 1-based position in `creation_rules`.
    pub number: usize,
    /// Its `path_regex` (`None`: it matches every file).
    pub path_regex: Option<String>,
    /// Its age recipients (`age1…`), in order; empty if the rule has none.
    pub age: Vec<String>,
    /// Which values to encrypt.
    pub rules: Rules,
}

/// Master-key fields of a rule; with `--age` on the command line `sops` ignores them.
const KEY_FIELDS: &[(&str, &str)] = &[
    ("pgp", "PGP keys"),
    ("kms", "AWS KMS keys"),
    ("gcp_kms", "GCP KMS keys"),
    ("hckms", "HuaweiCloud KMS keys"),
    ("azure_keyvault", "Azure Key Vault keys"),
    ("hc_vault_transit_uri", "HashiCorp Vault keys"),
];

/// Picks the rule of `config` (the text of a `.sops.yaml`) for `path` (already made relative
/// to the config's directory, as `sops` does). `Ok(None)`: the config has no
/// `creation_rules`, which `sops` treats as no config. With `keys_from_flag` (`--age` given)
/// the rule's master keys are ignored, as `sops` ignores them.
pub fn select(
    config: &str,
    path: &str,
    keys_from_flag: bool,
) -> Result<Option<CreationRule>, CreationError> {
    let doc: Json = serde_saphyr::from_str(config)
        .map_err(|e| CreationError::Yaml(e.to_string().lines().next().unwrap_or("").into()))?;
    let rules = match doc.get("creation_rules") {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::Array(rules)) => rules,
        Some(_) => return Err(CreationError::Yaml("`creation_rules` is not a list".into())),
    };
    for (i, rule) in rules.iter().enumerate() {
        let number = i + 1;
        let path_regex = opt_str(rule, "path_regex", number)?;
        let matches = match &path_regex {
            None => true,
            Some(re) => Regex::new(re)
                .map_err(|e| regex_err(number, "path_regex", &e))?
                .is_match(path),
        };
        if matches {
            return read_rule(rule, number, path_regex, keys_from_flag).map(Some);
        }
    }
    Err(CreationError::NoMatch(path.to_owned()))
}

fn read_rule(
    rule: &Json,
    number: usize,
    path_regex: Option<String>,
    keys_from_flag: bool,
) -> Result<CreationRule, CreationError> {
    let unsupported = |field: &str, what| CreationError::Unsupported {
        rule: number,
        field: field.to_owned(),
        what,
    };
    for field in ["encrypted_comment_regex", "unencrypted_comment_regex"] {
        if opt_str(rule, field, number)?.is_some() {
            return Err(unsupported(field, "mlsync drops comments"));
        }
    }
    let mut age = Vec::new();
    if !keys_from_flag {
        for (field, what) in KEY_FIELDS {
            if !key_list(rule, field, number)?.is_empty() {
                return Err(unsupported(field, what));
            }
        }
        age = key_list(rule, "age", number)?;
        age.extend(single_age_group(rule, number)?);
    }
    let mut rules = Rules {
        unencrypted_suffix: opt_str(rule, "unencrypted_suffix", number)?,
        encrypted_suffix: opt_str(rule, "encrypted_suffix", number)?,
        unencrypted_regex: opt_regex(rule, "unencrypted_regex", number)?,
        encrypted_regex: opt_regex(rule, "encrypted_regex", number)?,
        mac_only_encrypted: false,
    };
    let set = [
        rules.unencrypted_suffix.is_some(),
        rules.encrypted_suffix.is_some(),
        rules.unencrypted_regex.is_some(),
        rules.encrypted_regex.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(CreationError::Conflict(number));
    }
    rules.mac_only_encrypted = match rule.get("mac_only_encrypted") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => return Err(field_err(number, "mac_only_encrypted", "true or false")),
    };
    Ok(CreationRule {
        number,
        path_regex,
        age,
        rules,
    })
}

/// `key_groups`: one group of only `age` recipients is what `sops` writes as a plain `age`
/// list; anything else needs Shamir secret sharing or other key types.
fn single_age_group(rule: &Json, number: usize) -> Result<Vec<String>, CreationError> {
    let groups = match rule.get("key_groups") {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(groups)) => groups,
        Some(_) => return Err(field_err(number, "key_groups", "a list")),
    };
    let unsupported = |what| CreationError::Unsupported {
        rule: number,
        field: "key_groups".to_owned(),
        what,
    };
    match groups.as_slice() {
        [] => Ok(Vec::new()),
        [group] => {
            let Json::Object(fields) = group else {
                return Err(field_err(number, "key_groups", "a list of maps"));
            };
            for (field, value) in fields {
                if field != "age" && !is_empty(value) {
                    return Err(unsupported("a key group with keys other than age"));
                }
            }
            key_list(group, "age", number)
        }
        _ => Err(unsupported(
            "several key groups (Shamir secret sharing); mlsync reads and writes one",
        )),
    }
}

fn is_empty(v: &Json) -> bool {
    matches!(v, Json::Null) || matches!(v, Json::Array(a) if a.is_empty())
}

/// A key field: a comma-separated string or a list of strings (as `sops`' `parseKeyField`).
fn key_list(rule: &Json, field: &str, number: usize) -> Result<Vec<String>, CreationError> {
    let items: Vec<String> = match rule.get(field) {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::String(s)) => s.split(',').map(|k| k.trim().to_owned()).collect(),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| match i {
                Json::String(s) => Ok(s.trim().to_owned()),
                // `pgp`/`kms` entries inside key groups may be maps; they are keys all the same.
                Json::Object(_) => Ok("(a key)".to_owned()),
                _ => Err(field_err(number, field, "a string or a list of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(field_err(number, field, "a string or a list of strings")),
    };
    Ok(items.into_iter().filter(|k| !k.is_empty()).collect())
}

fn opt_str(rule: &Json, field: &str, number: usize) -> Result<Option<String>, CreationError> {
    match rule.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(_) => Err(field_err(number, field, "a string")),
    }
}

fn opt_regex(
    rule: &Json,
    field: &'static str,
    number: usize,
) -> Result<Option<Regex>, CreationError> {
    opt_str(rule, field, number)?
        .map(|r| Regex::new(&r).map_err(|e| regex_err(number, field, &e)))
        .transpose()
}

fn field_err(rule: usize, field: &str, expected: &'static str) -> CreationError {
    CreationError::Field {
        rule,
        field: field.to_owned(),
        expected,
    }
}

fn regex_err(rule: usize, field: &'static str, e: &regex::Error) -> CreationError {
    CreationError::Regex {
        rule,
        field,
        reason: e.to_string().lines().last().unwrap_or("").trim().to_owned(),
    }
}

#[cfg(test)]
#[path = "creation_tests.rs"]
mod tests;
