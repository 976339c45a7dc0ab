//! Desired vs live, without the API server (pure).
//!
//! An object is unchanged when the live object carries the applied-hash of the desired one (so
//! git has not changed, not even by removing a field) **and** every field mlsync sets still has
//! its value in the cluster (so nobody changed it behind mlsync's back). Fields that only the
//! server or other controllers set (defaults, status, the HPA's replicas) are not compared.

use serde_json::Value;

use crate::render::hash::APPLIED_HASH_ANNOTATION;
use crate::render::{MANAGED_BY, MANAGED_BY_LABEL, SOURCE_LABEL};
use crate::spec::quantity;

/// Who owns a live object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Labelled as managed by mlsync for this source.
    Ours,
    /// Managed by mlsync for another source (another repo or path).
    OtherSource(String),
    /// Not managed by mlsync.
    Foreign,
}

fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/labels")?.get(key)?.as_str()
}

/// Classifies a live object for `source_id`.
pub fn ownership(live: &Value, source_id: &str) -> Ownership {
    if label(live, MANAGED_BY_LABEL) != Some(MANAGED_BY) {
        return Ownership::Foreign;
    }
    match label(live, SOURCE_LABEL) {
        Some(s) if s == source_id => Ownership::Ours,
        Some(s) => Ownership::OtherSource(s.to_owned()),
        None => Ownership::Foreign,
    }
}

/// The applied-hash annotation of an object, if any.
pub fn applied_hash(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations")?
        .get(APPLIED_HASH_ANNOTATION)?
        .as_str()
}

/// Why `live` differs from `desired`: field paths (dotted), empty when unchanged. Secret values
/// are compared but never included — only their key names.
pub fn differences(desired: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if applied_hash(desired) != applied_hash(live) {
        out.push("spec in git changed".to_owned());
    }
    let mut drift = Vec::new();
    subset(desired, live, &mut String::new(), &mut drift);
    out.extend(
        drift
            .into_iter()
            .map(|p| format!("{p} changed in the cluster")),
    );
    out
}

fn subset(desired: &Value, live: &Value, path: &mut String, out: &mut Vec<String>) {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                if path == "metadata.annotations" && k == APPLIED_HASH_ANNOTATION {
                    continue; // compared on its own, as "spec in git changed"
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match l.get(k) {
                    Some(lv) => subset(dv, lv, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(d), Value::Array(l)) => {
            if d.len() != l.len() {
                out.push(path.clone());
                return;
            }
            let mut by_index = Vec::new();
            for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                subset(dv, lv, path, &mut by_index);
                path.truncate(len);
            }
            // Some lists come back reordered (e.g. HPA metrics round-tripped through
            // autoscaling/v1 storage): equal as a multiset is equal.
            if !by_index.is_empty() && !unordered_match(d, l, path) {
                out.extend(by_index);
            }
        }
        (d, l) if leaf_equal(d, l, path) => {}
        _ => out.push(path.clone()),
    }
}

/// Every desired element matches a distinct live element.
fn unordered_match(d: &[Value], l: &[Value], path: &str) -> bool {
    let mut used = vec![false; l.len()];
    d.iter().all(|dv| {
        let hit = l.iter().enumerate().position(|(j, lv)| {
            let mut diffs = Vec::new();
            !used[j] && {
                subset(dv, lv, &mut path.to_owned(), &mut diffs);
                diffs.is_empty()
            }
        });
        hit.map(|j| used[j] = true).is_some()
    })
}

/// Leaves are equal as JSON, or as quantities under `resources` (the server rewrites `0.5` to
/// `500m`), or as numbers given as text (`"1"` vs `1` in quantity maps).
fn leaf_equal(d: &Value, l: &Value, path: &str) -> bool {
    if d == l {
        return true;
    }
    if path.contains("resources.") {
        let q = |v: &Value| match v {
            Value::String(s) => quantity::parse(s),
            Value::Number(n) => n.as_f64(),
            _ => None,
        };
        if let (Some(a), Some(b)) = (q(d), q(l)) {
            return (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()).max(1.0);
        }
    }
    false
}

/// True when the live Deployment's `spec.replicas` is owned by mlsync's apply (so dropping it
/// from the applied configuration would make the API server reset it).
pub fn mlsync_owns_replicas(live: &Value, field_manager: &str) -> bool {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries.iter().any(|e| {
                e.get("manager").and_then(Value::as_str) == Some(field_manager)
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
                    && e.pointer("/fieldsV1/f:spec/f:replicas").is_some()
            })
        })
}

/// A copy with every mapping's keys in sorted order (stable text for diffs).
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The object with server noise removed and keys sorted, for showing diffs.
pub fn clean(obj: &Value) -> Value {
    let mut v = sorted(obj);
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
                "selfLink",
            ] {
                meta.remove(k);
            }
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove("deployment.kubernetes.io/revision");
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
                if a.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(hash: &str, cpu: &str) -> Value {
        json!({"metadata": {"labels": {MANAGED_BY_LABEL: "mlsync", SOURCE_LABEL: "repo"},
            "annotations": {APPLIED_HASH_ANNOTATION: hash}},
            "spec": {"containers": [{"resources": {"requests": {"cpu": cpu}}}], "replicas": 2}})
    }

    #[test]
    fn server_defaults_and_quantity_rewrites_are_not_changes() {
        let desired = obj("h1", "0.5");
        let mut live = obj("h1", "500m");
        live["spec"]["strategy"] = json!({"type": "RollingUpdate"});
        live["status"] = json!({"replicas": 2});
        assert!(differences(&desired, &live).is_empty());
    }

    #[test]
    fn drift_and_git_changes_are_named() {
        let desired = obj("h1", "100m");
        let mut live = obj("h1", "100m");
        live["spec"]["replicas"] = json!(5);
        assert_eq!(
            differences(&desired, &live),
            vec!["spec.replicas changed in the cluster"]
        );
        assert_eq!(
            differences(&obj("h2", "100m"), &obj("h1", "100m")),
            vec!["spec in git changed"]
        );
    }

    #[test]
    fn reordered_lists_are_equal() {
        let d = json!({"spec": {"metrics": [{"name": "cpu"}, {"name": "memory"}]}});
        let l = json!({"spec": {"metrics": [{"name": "memory", "x": 1}, {"name": "cpu"}]}});
        let mut out = Vec::new();
        subset(&d, &l, &mut String::new(), &mut out);
        assert!(out.is_empty(), "{out:?}");
        let l2 = json!({"spec": {"metrics": [{"name": "memory"}, {"name": "gpu"}]}});
        subset(&d, &l2, &mut String::new(), &mut out);
        assert_eq!(out, vec!["spec.metrics[0].name", "spec.metrics[1].name"]);
    }

    #[test]
    fn ownership_by_labels() {
        assert_eq!(ownership(&obj("h", "1"), "repo"), Ownership::Ours);
        assert_eq!(
            ownership(&obj("h", "1"), "other"),
            Ownership::OtherSource("repo".into())
        );
        assert_eq!(
            ownership(&json!({"metadata": {"name": "x"}}), "repo"),
            Ownership::Foreign
        );
    }

    #[test]
    fn replicas_ownership_from_managed_fields() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "mlsync", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        ]}});
        assert!(mlsync_owns_replicas(&live, "mlsync"));
        assert!(!mlsync_owns_replicas(&live, "other"));
    }
}
