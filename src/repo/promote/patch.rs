//! JSON merge patches (RFC 7386) between two values: the diff that turns one into the other,
//! and one field merged with an overlay's value for it (pure).

use serde_json::{Map, Value};

/// The JSON merge patch (RFC 7386) that turns `base` into `target`; `None` when they are equal.
///
/// Mappings are compared key by key (a key missing in `target` becomes `null`); anything else
/// that differs is replaced by `target` as a whole. `target` holds no `null` (a merged spec
/// does not), so merging the result over `base` gives `target`.
pub fn merge_diff(base: &Value, target: &Value) -> Option<Value> {
    if base == target {
        return None;
    }
    match (base, target) {
        (Value::Object(b), Value::Object(t)) => {
            let mut patch = Map::new();
            for (k, tv) in t {
                let p = match b.get(k) {
                    Some(bv) => merge_diff(bv, tv),
                    None => Some(tv.clone()),
                };
                if let Some(p) = p {
                    patch.insert(k.clone(), p);
                }
            }
            for k in b.keys() {
                if !t.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(target.clone()),
    }
}

/// The patch for one field that may be absent on either side: `null` removes a field the
/// target lacks, a field the base lacks is written whole; `None` when nothing is needed.
pub fn field_patch(base: Option<&Value>, target: Option<&Value>) -> Option<Value> {
    match (base, target) {
        (None, None) => None,
        (Some(_), None) => Some(Value::Null),
        (None, Some(t)) => Some(t.clone()),
        (Some(b), Some(t)) => merge_diff(b, t),
    }
}

/// One field merged with an overlay's value for it (absent: kept; `null`: removed).
pub(super) fn merged_field(base: Option<&Value>, patch: Option<&Value>) -> Option<Value> {
    match patch {
        None => base.cloned(),
        Some(Value::Null) => None,
        Some(p) => {
            let mut v = base.cloned().unwrap_or(Value::Null);
            json_patch::merge(&mut v, p);
            Some(v)
        }
    }
}
