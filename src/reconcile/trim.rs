//! Live objects that compare unchanged, cut down to what later decisions read (pure).
//!
//! A no-op run of 1,000 services holds 5,000 live objects, and almost all of each is what no
//! decision reads again once the object compares unchanged: no write is made from it and no diff
//! shows it. [`keep`] compares each live object with its desired body as it is decoded (in
//! [`super::live::fetch`], one LIST response at a time) and keeps of an unchanged one only its
//! `metadata` (ownership, hash, uid), `spec.replicas`, `spec.type` and `status` (what the health
//! check reads, [`super::seen::essentials`]); the plan takes the verdict from [`Kept::Unchanged`]
//! instead of comparing again. An object that differs, belongs to someone else or has no desired
//! counterpart is kept whole: its diff, its writes and its prune read all of it.

use serde_json::{Map, Value};

use super::compare::{self, Ownership};

/// What a run keeps of one live object. Its `Debug` shows the variant and the object's
/// name, never its contents (it may be a Secret).
#[derive(PartialEq)]
pub enum Kept {
    /// Ours and equal to its desired body: only what later decisions read.
    Unchanged(Value),
    /// Anything else: the whole (slim) object.
    Whole(Value),
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (variant, v) = match self {
            Self::Unchanged(v) => ("Unchanged", v),
            Self::Whole(v) => ("Whole", v),
        };
        let name = v.pointer("/metadata/name").and_then(Value::as_str);
        f.debug_tuple(variant).field(&name).finish()
    }
}

/// Compares `live` with `desired` as [`super::plan::plan`] would and keeps what is needed.
pub fn keep(desired: &Value, live: Value, source_id: &str) -> Kept {
    if compare::ownership(&live, source_id) != Ownership::Ours
        || !compare::differences(desired, &live).is_empty()
    {
        return Kept::Whole(live);
    }
    let Value::Object(mut whole) = live else {
        return Kept::Whole(live);
    };
    let mut out = Map::new();
    for key in ["apiVersion", "kind", "metadata", "status"] {
        if let Some(v) = whole.remove(key) {
            out.insert(key.to_owned(), v);
        }
    }
    if let Some(Value::Object(mut spec)) = whole.remove("spec") {
        let kept: Map<String, Value> = ["replicas", "type"]
            .into_iter()
            .filter_map(|k| Some((k.to_owned(), spec.remove(k)?)))
            .collect();
        if !kept.is_empty() {
            out.insert("spec".to_owned(), Value::Object(kept));
        }
    }
    Kept::Unchanged(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::reconcile::seen::essentials;

    fn desired() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "m", "namespace": "ns",
                "labels": {"app.kubernetes.io/managed-by": "mlsync", "mlsync.dev/source": "src"},
                "annotations": {"mlsync.dev/applied-hash": "h1"}},
            "spec": {"selector": {"matchLabels": {"app": "m"}},
                "template": {"spec": {"containers": [{"name": "model", "image": "i:1",
                    "resources": {"limits": {"cpu": "0.5"}}}]}}},
        })
    }

    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "m", "namespace": "ns", "uid": "u1", "generation": 2,
                "labels": {"app.kubernetes.io/managed-by": "mlsync", "mlsync.dev/source": "src"},
                "annotations": {"mlsync.dev/applied-hash": "h1", "deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 2, "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": "m"}},
                "strategy": {"type": "RollingUpdate"},
                "template": {"spec": {"dnsPolicy": "ClusterFirst", "containers": [{"name": "model",
                    "image": "i:1", "imagePullPolicy": "IfNotPresent",
                    "resources": {"limits": {"cpu": "500m"}}}]}}},
            "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]},
        })
    }

    #[test]
    fn an_unchanged_object_keeps_what_later_decisions_read() {
        let Kept::Unchanged(kept) = keep(&desired(), live(), "src") else {
            panic!("the server's defaults and a quantity written another way are no change");
        };
        assert_eq!(essentials(kept.clone()), essentials(live()));
        assert_eq!(kept["metadata"], live()["metadata"]);
        assert_eq!(
            compare::ownership(&kept, "src"),
            compare::ownership(&live(), "src")
        );
        assert_eq!(compare::applied_hash(&kept), compare::applied_hash(&live()));
        assert_eq!(kept["spec"], json!({"replicas": 2}));
        assert_eq!(kept.get("kind"), Some(&json!("Deployment")));
    }

    #[test]
    fn debug_shows_no_contents() {
        let secret = json!({"metadata": {"name": "s"}, "data": {"P": "c2VjcmV0"}});
        let shown = format!("{:?}", Kept::Whole(secret));
        assert_eq!(shown, r#"Whole(Some("s"))"#);
    }

    #[test]
    fn changed_and_foreign_objects_stay_whole() {
        let mut drifted = live();
        drifted["spec"]["template"]["spec"]["containers"][0]["image"] = json!("i:2");
        assert_eq!(
            keep(&desired(), drifted.clone(), "src"),
            Kept::Whole(drifted)
        );
        assert_eq!(keep(&desired(), live(), "other"), Kept::Whole(live()));
        let mut changed_in_git = desired();
        changed_in_git["metadata"]["annotations"]["mlsync.dev/applied-hash"] = json!("h2");
        assert_eq!(keep(&changed_in_git, live(), "src"), Kept::Whole(live()));
    }
}
