//! The published JSON Schemas, compiled once, and their errors in plain English.
//!
//! Schema nodes may carry an `errorMessage` annotation; when a keyword of that node fails, the
//! annotation is the message users see (`must be a Kubernetes quantity such as 100m …`), instead
//! of the validator's generic text.

use std::sync::OnceLock;

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

/// The MLService schema, as published in `schema/mlservice.schema.json`.
pub const MLSERVICE_SCHEMA: &str = include_str!("../../schema/mlservice.schema.json");
/// The repo-config schema, as published in `schema/repo-config.schema.json`.
pub const REPO_CONFIG_SCHEMA: &str = include_str!("../../schema/repo-config.schema.json");

/// Which schema to check a document against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `MLService` documents.
    MLService,
    /// `mlsync.yaml`.
    RepoConfig,
}

/// One schema violation: where (JSON pointer into the document) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending node (for unknown fields, the field itself).
    pub pointer: String,
    /// Plain-English message.
    pub message: String,
}

struct Compiled {
    schema: Value,
    validator: Validator,
}

fn compiled(which: Which) -> Option<&'static Compiled> {
    static ML: OnceLock<Option<Compiled>> = OnceLock::new();
    static RC: OnceLock<Option<Compiled>> = OnceLock::new();
    let (cell, text) = match which {
        Which::MLService => (&ML, MLSERVICE_SCHEMA),
        Which::RepoConfig => (&RC, REPO_CONFIG_SCHEMA),
    };
    cell.get_or_init(|| {
        let schema: Value = serde_json::from_str(text).ok()?;
        let validator = jsonschema::draft202012::new(&schema).ok()?;
        Some(Compiled { schema, validator })
    })
    .as_ref()
}

/// Checks `doc` against a schema; returns every violation, in document order of discovery.
pub fn validate(which: Which, doc: &Value) -> Vec<Violation> {
    let Some(c) = compiled(which) else {
        // The schemas are embedded and covered by tests; this cannot happen in a release build.
        return vec![Violation {
            pointer: String::new(),
            message: "failed to compile the embedded schema".into(),
        }];
    };
    if c.validator.is_valid(doc) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for err in c.validator.iter_errors(doc) {
        let pointer = err.instance_path().as_str().to_owned();
        let custom = custom_message(&c.schema, err.schema_path().as_str());
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_properties(&c.schema, err.schema_path().as_str());
                for name in unexpected {
                    out.push(Violation {
                        pointer: format!("{pointer}/{}", super::names::escape_segment(name)),
                        message: unknown_field(name, &allowed),
                    });
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or("?");
                out.push(Violation {
                    pointer,
                    message: format!("missing required field `{name}`"),
                });
            }
            ValidationErrorKind::PropertyNames { error } => {
                let key = error.instance().as_str().unwrap_or("?").to_owned();
                let message = custom_message(&c.schema, error.schema_path().as_str())
                    .unwrap_or_else(|| error.to_string());
                out.push(Violation {
                    pointer: format!("{pointer}/{}", super::names::escape_segment(&key)),
                    message: format!("key `{key}` {message}"),
                });
            }
            kind => {
                let message = custom.unwrap_or_else(|| generic_message(kind, &err.to_string()));
                out.push(Violation { pointer, message });
            }
        }
    }
    out
}

/// The `errorMessage` of the schema node that holds the failed keyword.
fn custom_message(schema: &Value, keyword_path: &str) -> Option<String> {
    let parent = keyword_path.rsplit_once('/').map(|(p, _)| p)?;
    schema
        .pointer(parent)?
        .get("errorMessage")?
        .as_str()
        .map(str::to_owned)
}

fn allowed_properties(schema: &Value, keyword_path: &str) -> Vec<String> {
    keyword_path
        .rsplit_once('/')
        .and_then(|(p, _)| schema.pointer(p))
        .and_then(|node| node.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn unknown_field(name: &str, allowed: &[String]) -> String {
    let best = allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(name, a), a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, a)) => format!("unknown field `{name}`; did you mean `{a}`?"),
        None if allowed.is_empty() => format!("unknown field `{name}`"),
        None => format!(
            "unknown field `{name}`; allowed fields: {}",
            allowed.join(", ")
        ),
    }
}

fn generic_message(kind: &ValidationErrorKind, fallback: &str) -> String {
    match kind {
        ValidationErrorKind::Type { kind } => {
            format!("must be {}", type_words(&format!("{kind:?}")))
        }
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_owned(),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters long")
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("must be at most {limit} characters long")
        }
        ValidationErrorKind::MinItems { limit } => format!("must have at least {limit} item(s)"),
        ValidationErrorKind::Enum { options } => format!("must be one of {options}"),
        ValidationErrorKind::Constant { expected_value } => format!("must be {expected_value}"),
        _ => fallback.to_owned(),
    }
}

/// `Single(Integer)` → "an integer"; `Multiple(...)` → the debug text, cleaned.
fn type_words(debug: &str) -> String {
    let lower = debug.to_ascii_lowercase();
    let words: Vec<&str> = [
        "object", "array", "string", "integer", "number", "boolean", "null",
    ]
    .into_iter()
    .filter(|w| lower.contains(w))
    .collect();
    let with_article = |w: &str| match w {
        "object" | "array" | "integer" => format!("an {w}"),
        _ => format!("a {w}"),
    };
    match words.as_slice() {
        [] => "of another type".to_owned(),
        [one] => with_article(one),
        many => many
            .iter()
            .map(|w| with_article(w))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_compile() {
        assert!(compiled(Which::MLService).is_some());
        assert!(compiled(Which::RepoConfig).is_some());
    }

    #[test]
    fn typo_gets_a_suggestion() {
        let doc = json!({"apiVersion": "mlsync.dev/v1alpha1", "kind": "MLService",
            "metadata": {"name": "a"}, "spec": {"model": {"name": "m", "version": "v1"}, "image": "i", "replcas": 2}});
        let v = validate(Which::MLService, &doc);
        assert_eq!(
            v,
            vec![Violation {
                pointer: "/spec/replcas".into(),
                message: "unknown field `replcas`; did you mean `replicas`?".into()
            }]
        );
    }

    #[test]
    fn custom_messages_for_quantities_and_keys() {
        let doc = json!({"apiVersion": "mlsync.dev/v1alpha1", "kind": "MLService",
            "metadata": {"name": "a"}, "spec": {"model": {"name": "m", "version": "v1"}, "image": "i",
            "resources": {"limits": {"cpu": "100mm"}}, "config": {"1BAD": "x"}}});
        let v = validate(Which::MLService, &doc);
        assert!(
            v.contains(&Violation {
                pointer: "/spec/resources/limits/cpu".into(),
                message: "must be a Kubernetes quantity such as 100m, 0.5, 512Mi or 2Gi".into()
            }),
            "{v:?}"
        );
        assert!(
            v.iter().any(|x| x.pointer == "/spec/config/1BAD"
                && x.message
                    .starts_with("key `1BAD` must be an environment variable name")),
            "{v:?}"
        );
    }

    #[test]
    fn missing_and_type_errors() {
        let doc = json!({"apiVersion": "mlsync.dev/v1alpha1", "kind": "MLService",
            "metadata": {"name": "a"}, "spec": {"model": {"name": "m", "version": "v1"}, "port": "http"}});
        let v = validate(Which::MLService, &doc);
        assert!(
            v.contains(&Violation {
                pointer: "/spec".into(),
                message: "missing required field `image`".into()
            }),
            "{v:?}"
        );
        assert!(
            v.iter().any(|x| x.pointer == "/spec/port"
                && x.message == "must be a port number from 1 to 65535"),
            "{v:?}"
        );
    }
}
