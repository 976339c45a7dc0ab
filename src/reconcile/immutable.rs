//! Which immutable fields a change would touch (pure): the API server refuses such an update
//! (422, "field is immutable"), so the plan either recreates the object (`--recreate`) or
//! refuses the service, instead of sending a write that is bound to fail.
//!
//! The fields our renders can hit:
//! - Deployment `spec.selector` (fixed since `apps/v1`; an older tool version or an adopted
//!   object may have another one);
//! - ConfigMap and Secret `data` / `binaryData` once the live object is `immutable: true`
//!   (adopted objects: mlsync never sets it), and a Secret's `type`.
//!
//! Service `spec.clusterIP` is immutable too, but mlsync never sets it, and the `type`s a spec
//! may ask for (ClusterIP, NodePort, LoadBalancer) can be changed into each other; an HPA has no
//! immutable field.

use serde_json::Value;

use crate::render::Kind;

/// The immutable fields (dotted paths) whose desired value differs from the live one.
pub fn changed(kind: Kind, desired: &Value, live: &Value) -> Vec<String> {
    let differs = |ptr: &str| {
        desired
            .pointer(ptr)
            .is_some_and(|d| live.pointer(ptr) != Some(d))
    };
    let mut out = Vec::new();
    match kind {
        Kind::Deployment => {
            if differs("/spec/selector") {
                out.push("spec.selector".to_owned());
            }
        }
        Kind::ConfigMap | Kind::Secret => {
            if live.get("immutable").and_then(Value::as_bool) == Some(true) {
                for field in ["data", "binaryData"] {
                    if desired.get(field) != live.get(field) {
                        out.push(format!("{field} (the object is immutable: true)"));
                    }
                }
            }
            if kind == Kind::Secret && differs("/type") {
                out.push("type".to_owned());
            }
        }
        Kind::Service | Kind::HorizontalPodAutoscaler => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_deployment_selector_is_an_immutable_change() {
        let desired = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}}});
        let old = json!({"spec": {"selector": {"matchLabels": {"app": "a-old"}}, "replicas": 1}});
        assert_eq!(changed(Kind::Deployment, &desired, &old), ["spec.selector"]);
        assert!(changed(Kind::Deployment, &desired, &desired).is_empty());
    }

    #[test]
    fn config_data_is_immutable_only_when_the_live_object_says_so() {
        let desired = json!({"data": {"K": "2"}});
        let mutable = json!({"data": {"K": "1"}});
        let frozen = json!({"data": {"K": "1"}, "immutable": true});
        assert!(changed(Kind::ConfigMap, &desired, &mutable).is_empty());
        assert_eq!(
            changed(Kind::ConfigMap, &desired, &frozen),
            ["data (the object is immutable: true)"]
        );
        let same = json!({"data": {"K": "2"}, "immutable": true});
        assert!(changed(Kind::ConfigMap, &desired, &same).is_empty());
    }

    #[test]
    fn a_secret_type_is_immutable_and_services_have_nothing_we_set() {
        let desired = json!({"type": "Opaque", "data": {}});
        let tls = json!({"type": "kubernetes.io/tls", "data": {}});
        assert_eq!(changed(Kind::Secret, &desired, &tls), ["type"]);
        let svc = json!({"spec": {"type": "LoadBalancer"}});
        let live = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1"}});
        assert!(changed(Kind::Service, &svc, &live).is_empty());
    }
}
