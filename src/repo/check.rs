//! Checking one spec document of a config repo (its environment overlay merged in): identity,
//! schema, the checks a schema cannot express and that its secrets file is in the repo.

use serde::Deserialize;
use serde_json::Value;

use super::{ConfineError, Repo};
use crate::spec::schema::{self, Which};
use crate::spec::{API_VERSION, MLService, checks};

/// One document checked: its identity, the typed spec when it deserialized, every violation.
pub(super) struct Checked {
    /// The service whose environment overlay was merged in, if one was.
    pub(super) overlaid: Option<String>,
    pub(super) name: Option<String>,
    pub(super) namespace: String,
    pub(super) spec: Option<MLService>,
    pub(super) violations: Vec<schema::Violation>,
}

pub(super) fn check_document(repo: &Repo, base: &Value) -> Checked {
    let merged = repo.overlays.apply(base);
    let overlaid = merged.is_some();
    let value = merged.as_ref().unwrap_or(base);
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(repo.default_namespace())
        .to_owned();
    let mut violations = identity_violations(value);
    if violations.is_empty() {
        violations = schema::validate(Which::MLService, value);
    }
    let mut spec = None;
    if violations.is_empty() {
        match MLService::deserialize(value) {
            Ok(svc) => {
                violations = checks::check(&svc);
                spec = Some(svc);
            }
            Err(e) => violations.push(schema::Violation {
                pointer: String::new(),
                message: e.to_string(),
            }),
        }
    }
    if let Some(svc) = &spec
        && let Some(s) = &svc.spec.secrets
    {
        let problem = match repo.resolve(&s.file) {
            Ok(path) if path.is_file() => None,
            Ok(_) | Err(ConfineError::NotFound) => {
                Some(format!("file not found in the repo: {}", s.file))
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(message) = problem {
            violations.push(schema::Violation {
                pointer: "/spec/secrets/file".into(),
                message,
            });
        }
    }
    Checked {
        overlaid: overlaid.then(|| name.clone()).flatten(),
        name,
        namespace,
        spec,
        violations,
    }
}

/// Wrong `apiVersion`/`kind` (or not a mapping at all) is reported alone: the rest of such a
/// document is not an MLService, and listing every field of it would bury the real problem.
fn identity_violations(doc: &Value) -> Vec<schema::Violation> {
    if !doc.is_object() {
        return vec![schema::Violation {
            pointer: String::new(),
            message: "must be a mapping with apiVersion, kind, metadata and spec".into(),
        }];
    }
    let mut v = Vec::new();
    for (field, want) in [("apiVersion", API_VERSION), ("kind", "MLService")] {
        match doc.get(field).and_then(Value::as_str) {
            Some(s) if s == want => {}
            Some(s) => v.push(schema::Violation {
                pointer: format!("/{field}"),
                message: format!("must be {want}, got {s}"),
            }),
            None => v.push(schema::Violation {
                pointer: String::new(),
                message: format!("missing required field `{field}` (expected {want})"),
            }),
        }
    }
    v
}
