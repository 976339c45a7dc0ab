//! Printing rendered objects as multi-document YAML or a JSON `List`, with Secret values masked
//! unless the caller explicitly asks for them.

use serde_json::Value;

use super::{Kind, Object};

/// What a masked Secret value is replaced with. Not valid base64 on purpose: masked output fed
/// to `kubectl apply` fails on the Secret instead of overwriting real values with a placeholder.
pub const REDACTED: &str = "<redacted>";

/// Errors from formatting output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// JSON serialization failed.
    #[error("failed to format objects as JSON: {0}")]
    Json(serde_json::Error),
}

/// A copy of `obj` whose Secret `data`/`stringData` values are replaced by [`REDACTED`].
pub fn masked(obj: &Object) -> Object {
    let mut out = obj.clone();
    if obj.kind == Kind::Secret {
        for field in ["data", "stringData"] {
            if let Some(map) = out.body.get_mut(field).and_then(Value::as_object_mut) {
                for v in map.values_mut() {
                    *v = Value::String(REDACTED.to_owned());
                }
            }
        }
    }
    out
}

/// Multi-document YAML, one `---` document per object, in the given order.
pub fn to_yaml(objects: &[Object], show_secrets: bool) -> String {
    let mut out = String::new();
    for obj in objects {
        let mask = !show_secrets && obj.kind == Kind::Secret;
        let masked_copy = mask.then(|| masked(obj));
        let shown = masked_copy.as_ref().unwrap_or(obj);
        out.push_str("---\n");
        if mask {
            out.push_str("# Secret values are redacted; use --show-secrets to print them.\n");
        }
        super::yaml::write_document(&mut out, &shown.body);
    }
    out
}

/// A `v1/List` holding the objects, as pretty JSON.
pub fn to_json(objects: &[Object], show_secrets: bool) -> Result<String, OutputError> {
    let items: Vec<Value> = objects
        .iter()
        .map(|o| {
            if show_secrets {
                o.body.clone()
            } else {
                masked(o).body
            }
        })
        .collect();
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    Ok(serde_json::to_string_pretty(&list).map_err(OutputError::Json)? + "\n")
}
