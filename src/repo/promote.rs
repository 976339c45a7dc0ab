//! Promotion by commit (`mlsync promote`): the overlay change that makes one environment run
//! what another runs (pure: JSON values in, JSON values out; the command reads and writes files).
//!
//! What runs is `spec.model`, `spec.image` and `spec.config` ([`Field::RUNS`]), and with
//! `--secrets` also `spec.secrets` (the path of the encrypted file, never its content).
//! Everything else (replicas, autoscaling, resources, namespace, …) stays per environment.
//!
//! For each promoted field `F`, the new overlay of the target environment holds the JSON merge
//! patch ([`merge_diff`]) that turns the base spec's `F` into the source environment's merged
//! `F`, or nothing when the base already has that value. An overlay left without fields is no
//! overlay at all ([`Promotion::overlay`] is `None`: the file goes).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

mod patch;

use patch::merged_field;
pub use patch::{field_patch, merge_diff};

/// A field of `spec` that promotion copies from one environment to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `spec.model` (name, version, uri, format).
    Model,
    /// `spec.image`.
    Image,
    /// `spec.config`, as a whole.
    Config,
    /// `spec.secrets` (the path of the encrypted file), only with `--secrets`.
    Secrets,
}

impl Field {
    /// What an environment runs: promoted always.
    pub const RUNS: [Field; 3] = [Field::Model, Field::Image, Field::Config];

    /// The key under `spec`.
    pub fn key(self) -> &'static str {
        match self {
            Field::Model => "model",
            Field::Image => "image",
            Field::Config => "config",
            Field::Secrets => "secrets",
        }
    }
}

/// Why a promotion cannot be computed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// `--from` and `--to` name the same environment.
    #[error("failed to promote {service}: --from and --to are both {env}")]
    SameEnvironment {
        /// The service.
        service: String,
        /// The environment named twice.
        env: String,
    },
    /// No base spec has that name.
    #[error("failed to promote {service}: no service named {service} in the base specs{hint}")]
    UnknownService {
        /// The name asked for.
        service: String,
        /// ` (did you mean …?)`, or empty.
        hint: String,
    },
    /// The target overlay (or its `spec`) is not a mapping, so no field can be set in it.
    #[error("failed to promote into {}: {what} is not a mapping", file.display())]
    NotMapping {
        /// The overlay file, relative to the repo root.
        file: PathBuf,
        /// `the document` or `spec`.
        what: &'static str,
    },
}
/// What a promotion changes in the target environment, for the summary and commit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The model is now this one.
    Model {
        /// `spec.model.name`.
        name: String,
        /// `spec.model.version`.
        version: String,
    },
    /// The image is now this one.
    Image(String),
    /// This many config keys were added, changed or removed.
    Config(usize),
    /// The secrets file is now this one (`None`: no secrets any more).
    Secrets(Option<String>),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Model { name, version } => write!(f, "model {name} {version}"),
            Change::Image(image) => write!(f, "image {image}"),
            Change::Config(1) => f.write_str("config (1 key)"),
            Change::Config(n) => write!(f, "config ({n} keys)"),
            Change::Secrets(Some(file)) => write!(f, "secrets {file}"),
            Change::Secrets(None) => f.write_str("no secrets"),
        }
    }
}

/// The result of a promotion that changes something.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    /// The target environment's new overlay of the service; `None` when it is left empty (no
    /// overlay needed: the file goes).
    pub overlay: Option<Value>,
    /// What changes in the target environment, in field order.
    pub changes: Vec<Change>,
    /// Config keys the target's overlay set itself whose value the promotion replaces or
    /// removes (`spec.config` is promoted as a whole).
    pub replaced_config: Vec<String>,
}

/// Computes the promotion of `fields` into the overlay `to_overlay` (`{}` when the target has
/// none; `file` names it in errors): `base` is the service's base spec, `from` its merged spec
/// in the source environment. `Ok(None)`: the target already runs the same.
pub fn promote(
    base: &Value,
    from: &Value,
    to_overlay: &Value,
    fields: &[Field],
    file: &Path,
) -> Result<Option<Promotion>, PromoteError> {
    let not_mapping = |what| PromoteError::NotMapping {
        file: file.to_owned(),
        what,
    };
    let Value::Object(doc) = to_overlay else {
        return Err(not_mapping("the document"));
    };
    let old_spec = match doc.get("spec") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(not_mapping("spec")),
    };
    let spec_of = |v: &'_ Value, f: Field| v.get("spec").and_then(|s| s.get(f.key())).cloned();
    let mut spec = old_spec.clone();
    let mut changes = Vec::new();
    let mut replaced_config = Vec::new();
    for &f in fields {
        let b = spec_of(base, f);
        let want = spec_of(from, f);
        let now = merged_field(b.as_ref(), old_spec.get(f.key()));
        if now == want {
            continue;
        }
        changes.push(change(f, now.as_ref(), want.as_ref()));
        if f == Field::Config
            && let Some(Value::Object(own)) = old_spec.get(f.key())
        {
            replaced_config = own
                .iter()
                .filter(|(k, v)| !v.is_null() && want.as_ref().and_then(|w| w.get(k)) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
        }
        match field_patch(b.as_ref(), want.as_ref()) {
            Some(p) => {
                spec.insert(f.key().to_owned(), p);
            }
            None => {
                spec.shift_remove(f.key());
            }
        }
    }
    if changes.is_empty() {
        return Ok(None);
    }
    let mut out = doc.clone();
    if spec.is_empty() {
        out.shift_remove("spec");
    } else {
        out.insert("spec".to_owned(), Value::Object(spec));
    }
    Ok(Some(Promotion {
        overlay: (!is_identity_only(&out)).then_some(Value::Object(out)),
        changes,
        replaced_config,
    }))
}

/// True when an overlay changes nothing: at most `apiVersion`, `kind` and `metadata.name`.
fn is_identity_only(doc: &Map<String, Value>) -> bool {
    doc.iter().all(|(k, v)| match k.as_str() {
        "apiVersion" | "kind" => true,
        "metadata" => v.as_object().is_some_and(|m| m.keys().all(|k| k == "name")),
        _ => false,
    })
}

fn change(f: Field, now: Option<&Value>, want: Option<&Value>) -> Change {
    let text = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match f {
        Field::Model => Change::Model {
            name: text(want, "name"),
            version: text(want, "version"),
        },
        Field::Image => Change::Image(want.and_then(Value::as_str).unwrap_or_default().into()),
        Field::Config => {
            let keys = |v: Option<&Value>| {
                v.and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect::<BTreeSet<_>>())
                    .unwrap_or_default()
            };
            let n = keys(now)
                .union(&keys(want))
                .filter(|k| now.and_then(|v| v.get(k)) != want.and_then(|v| v.get(k)))
                .count();
            Change::Config(n)
        }
        Field::Secrets => Change::Secrets(
            want.and_then(|w| w.get("file"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
    }
}

/// The default commit message: `promote iris from staging to prod: model iris v3, image …`.
pub fn summary(service: &str, from: &str, to: &str, changes: &[Change]) -> String {
    let what: Vec<String> = changes.iter().map(Change::to_string).collect();
    format!("promote {service} from {from} to {to}: {}", what.join(", "))
}

/// Checks `--from`/`--to` and that `service` is one of `known` (the base specs' names),
/// suggesting the closest name when it is not.
pub fn check_request<'a>(
    service: &str,
    from: &str,
    to: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Result<(), PromoteError> {
    if from == to {
        return Err(PromoteError::SameEnvironment {
            service: service.to_owned(),
            env: from.to_owned(),
        });
    }
    let mut nearest: Option<(usize, &str)> = None;
    for n in known {
        if n == service {
            return Ok(());
        }
        let d = strsim::damerau_levenshtein(service, n);
        if d <= 2.max(n.len() / 4) && nearest.is_none_or(|(best, _)| d < best) {
            nearest = Some((d, n));
        }
    }
    Err(PromoteError::UnknownService {
        service: service.to_owned(),
        hint: nearest
            .map(|(_, n)| format!(" (did you mean {n}?)"))
            .unwrap_or_default(),
    })
}

#[cfg(test)]
#[path = "promote_tests.rs"]
mod tests;
