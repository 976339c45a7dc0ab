//! Live objects as mlsync keeps them (pure): decoded straight from the API server's JSON
//! without what no decision reads, so that thousands of them stay small.
//!
//! Dropped on decoding: `metadata.managedFields` except, per entry that owns `spec.replicas`,
//! its manager and operation (what [`super::compare::mlsync_owns_replicas`] reads), and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (a second copy of the object
//! that kubectl's client-side apply leaves; diffs never show it). Nothing else is dropped, so
//! comparisons, diffs and health read the same fields as on the full object.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};

use crate::cluster;
use crate::render::{HpaVersion, Kind};

/// The annotation kubectl's client-side apply keeps its last applied object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A list response: only its items.
#[derive(Debug, Deserialize)]
pub struct SlimList {
    /// The items, slim.
    #[serde(default)]
    pub items: Vec<SlimObject>,
}

/// One object without its managed fields.
#[derive(Debug, Deserialize)]
pub struct SlimObject {
    #[serde(default)]
    metadata: SlimMeta,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
struct SlimMeta {
    #[serde(default, rename = "managedFields")]
    managed_fields: Vec<Manager>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// One `managedFields` entry, decoded only as far as `spec.replicas`.
#[derive(Debug, Deserialize)]
struct Manager {
    #[serde(default)]
    manager: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default, rename = "fieldsV1")]
    fields: Option<Fields>,
}

#[derive(Debug, Deserialize)]
struct Fields {
    #[serde(default, rename = "f:spec")]
    spec: Option<SpecFields>,
}

#[derive(Debug, Deserialize)]
struct SpecFields {
    #[serde(default, rename = "f:replicas")]
    replicas: Option<IgnoredAny>,
}

impl Manager {
    fn owns_replicas(&self) -> bool {
        self.fields
            .as_ref()
            .and_then(|f| f.spec.as_ref())
            .is_some_and(|s| s.replicas.is_some())
    }
}

impl SlimObject {
    /// The name (empty when the server sent none).
    pub fn name(&self) -> String {
        self.field("name")
    }

    /// The namespace (empty for cluster-scoped objects).
    pub fn namespace(&self) -> String {
        self.field("namespace")
    }

    fn field(&self, key: &str) -> String {
        self.metadata
            .rest
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The object as a JSON value with `apiVersion` and `kind` set (list items come without
    /// them) so that it compares like a rendered one.
    pub fn into_value(self, kind: Kind, hpa: HpaVersion) -> Value {
        let SlimObject { metadata, mut rest } = self;
        let SlimMeta {
            managed_fields,
            rest: mut meta,
        } = metadata;
        if let Some(Value::Object(a)) = meta.get_mut("annotations") {
            a.remove(LAST_APPLIED);
        }
        let owners: Vec<Value> = managed_fields
            .iter()
            .filter(|m| m.owns_replicas())
            .map(|m| {
                json!({
                    "manager": m.manager,
                    "operation": m.operation,
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                })
            })
            .collect();
        if !owners.is_empty() {
            meta.insert("managedFields".into(), Value::Array(owners));
        }
        rest.insert(
            "apiVersion".into(),
            cluster::api_resource(kind, hpa).api_version.into(),
        );
        rest.insert("kind".into(), kind.as_str().into());
        rest.insert("metadata".into(), Value::Object(meta));
        Value::Object(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::compare;

    fn decode(v: Value) -> Value {
        serde_json::from_value::<SlimObject>(v)
            .unwrap()
            .into_value(Kind::Deployment, HpaVersion::V2)
    }

    #[test]
    fn managed_fields_shrink_to_who_owns_replicas() {
        let full = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "generation": 3,
                "annotations": {"x": "1", LAST_APPLIED: "{\"huge\": true}"},
                "managedFields": [
                    {"manager": "mlsync", "operation": "Apply", "apiVersion": "apps/v1",
                     "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {}}}}},
                    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                     "fieldsV1": {"f:status": {"f:replicas": {}}}}]},
            "spec": {"replicas": 2},
            "status": {"replicas": 2},
        });
        let slim = decode(full.clone());
        assert_eq!(slim["apiVersion"], "apps/v1");
        assert_eq!(slim["kind"], "Deployment");
        assert_eq!(slim["metadata"]["annotations"], json!({"x": "1"}));
        assert_eq!(slim["metadata"]["uid"], "u1");
        assert_eq!(slim["spec"], full["spec"]);
        assert_eq!(slim["status"], full["status"]);
        assert_eq!(
            slim["metadata"]["managedFields"],
            json!([{"manager": "mlsync", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}])
        );
        // The decisions that read managedFields read the same on both.
        assert!(compare::mlsync_owns_replicas(&full, "mlsync"));
        assert!(compare::mlsync_owns_replicas(&slim, "mlsync"));
        // Diffs show the same.
        assert_eq!(compare::clean(&slim), compare::clean(&full));
    }

    #[test]
    fn objects_nobody_owns_replicas_of_keep_no_managed_fields() {
        let slim = decode(json!({"metadata": {"name": "a", "managedFields": [
            {"manager": "mlsync", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {}}}}]}}));
        assert_eq!(slim["metadata"], json!({"name": "a"}));
        assert!(!compare::mlsync_owns_replicas(&slim, "mlsync"));
        let list: SlimList =
            serde_json::from_value(json!({"kind": "List", "metadata": {}, "items": [
            {"metadata": {"name": "b", "namespace": "n"}}]}))
            .unwrap();
        assert_eq!(list.items[0].name(), "b");
        assert_eq!(list.items[0].namespace(), "n");
    }
}
