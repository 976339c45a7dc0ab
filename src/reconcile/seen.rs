//! What a run already knows of live objects (pure), so that the health check and the events
//! after it do not read them again: the state of each object the run left unchanged (as the
//! plan read it a moment before), and the uid of each object it read, or that it is gone.
//!
//! Filled by [`super::Reconciler::apply`] from the plan's live objects and the report; the
//! health check adds what it re-reads (the objects the run changed).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::keys::ObjectRef as ObjectKey;
use super::report::{Outcome, Report};
use crate::render::Kind;

/// What a run knows of a live object's uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uid {
    /// The object exists with this uid.
    Known(String),
    /// The object was deleted by this run.
    Gone,
    /// Not known: read it.
    Unknown,
}

/// Live objects a run has seen; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Health-relevant parts ([`essentials`]) of Deployments, HPAs and Services whose state is
    /// current.
    state: BTreeMap<ObjectKey, Value>,
    /// Uids; `None` for objects this run deleted.
    uids: BTreeMap<ObjectKey, Option<String>>,
}

/// The kinds whose state the health check reads.
pub const HEALTH_KINDS: [Kind; 3] = [
    Kind::Deployment,
    Kind::HorizontalPodAutoscaler,
    Kind::Service,
];

/// The parts of a live object the health check reads: `metadata.uid` and `.generation`,
/// `spec.replicas` and `.type`, and `status` (moved out of `v`, not copied).
pub fn essentials(v: Value) -> Value {
    let Value::Object(mut v) = v else {
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    let mut pick = |section: &str, keys: &[&str]| {
        let Some(Value::Object(mut src)) = v.remove(section) else {
            return;
        };
        let m: Map<String, Value> = keys
            .iter()
            .filter_map(|k| Some(((*k).to_owned(), src.remove(*k)?)))
            .collect();
        out.insert(section.to_owned(), Value::Object(m));
    };
    pick("metadata", &["uid", "generation"]);
    pick("spec", &["replicas", "type"]);
    if let Some(s) = v.remove("status") {
        out.insert("status".into(), s);
    }
    Value::Object(out)
}

fn uid_of(v: &Value) -> Option<String> {
    v.pointer("/metadata/uid")?.as_str().map(str::to_owned)
}

impl Seen {
    /// What a finished run knows, from the live objects its plan was made from and what it
    /// did to them: unchanged objects keep their state and uid, updated ones their uid,
    /// deleted ones are gone; created and re-created ones are not known. Takes `live` over (the
    /// plan's objects, no longer needed once the run is done) so that states move, not copy.
    pub fn after_run(report: &Report, mut live: BTreeMap<ObjectKey, Value>) -> Self {
        let mut seen = Seen::default();
        let outcomes = report
            .services
            .iter()
            .flat_map(|s| s.objects.iter())
            .chain(report.pruned.iter())
            .chain(report.prune_held.iter());
        for o in outcomes {
            let key = ObjectKey::new(o.kind, &o.namespace, &o.name);
            let Some(l) = live.remove(&key) else { continue };
            match &o.outcome {
                Outcome::Pruned => {
                    seen.uids.insert(key, None);
                }
                Outcome::Unchanged | Outcome::Skipped | Outcome::Held => {
                    seen.uids.insert(key.clone(), uid_of(&l));
                    if HEALTH_KINDS.contains(&o.kind) {
                        seen.state.insert(key, essentials(l));
                    }
                }
                Outcome::Configured => {
                    seen.uids.insert(key, uid_of(&l));
                }
                Outcome::Created | Outcome::Recreated | Outcome::Failed(_) => {}
            }
        }
        seen
    }

    /// The current state of an object (its [`essentials`]), when known.
    pub fn state(&self, key: &ObjectKey) -> Option<&Value> {
        self.state.get(key)
    }

    /// Whether the state of `key` is known.
    pub fn has_state(&self, key: &ObjectKey) -> bool {
        self.state.contains_key(key)
    }

    /// Replaces what is known of the objects of `kind` named `names` in `namespace` by a fresh
    /// read of them (`objects`: those that exist).
    pub fn observe(
        &mut self,
        kind: Kind,
        namespace: &str,
        names: &BTreeSet<String>,
        objects: Vec<(String, Value)>,
    ) {
        self.state.retain(|k, _| {
            !(k.kind == kind && k.namespace == namespace && names.contains(&k.name))
        });
        for (name, v) in objects {
            let key = ObjectKey::new(kind, namespace, &name);
            self.uids.insert(key.clone(), uid_of(&v));
            self.state.insert(key, essentials(v));
        }
    }

    /// What is known of the uid of `key`.
    pub fn uid(&self, key: &ObjectKey) -> Uid {
        match self.uids.get(key) {
            Some(Some(uid)) => Uid::Known(uid.clone()),
            Some(None) => Uid::Gone,
            None => Uid::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::report::{ObjectOutcome, ServiceReport};
    use serde_json::json;

    fn key(kind: Kind, name: &str) -> ObjectKey {
        ObjectKey::new(kind, "ns", name)
    }

    fn outcome(kind: Kind, name: &str, outcome: Outcome) -> ObjectOutcome {
        ObjectOutcome {
            kind,
            namespace: "ns".into(),
            name: name.into(),
            outcome,
        }
    }

    #[test]
    fn unchanged_objects_are_known_changed_ones_only_by_uid() {
        let obj = |uid: &str| json!({"metadata": {"uid": uid, "generation": 2, "labels": {"a": "b"}}, "spec": {"replicas": 1, "template": {}}, "status": {"replicas": 1}});
        let live: BTreeMap<ObjectKey, Value> = [
            (key(Kind::Deployment, "same"), obj("u1")),
            (key(Kind::Deployment, "changed"), obj("u2")),
            (key(Kind::ConfigMap, "old"), obj("u3")),
        ]
        .into();
        let report = Report {
            services: vec![ServiceReport {
                objects: vec![
                    outcome(Kind::Deployment, "same", Outcome::Unchanged),
                    outcome(Kind::Deployment, "changed", Outcome::Configured),
                    outcome(Kind::Deployment, "new", Outcome::Created),
                ],
                ..Default::default()
            }],
            pruned: vec![outcome(Kind::ConfigMap, "old", Outcome::Pruned)],
            ..Default::default()
        };
        let seen = Seen::after_run(&report, live);
        assert_eq!(
            seen.state(&key(Kind::Deployment, "same")),
            Some(
                &json!({"metadata": {"uid": "u1", "generation": 2}, "spec": {"replicas": 1}, "status": {"replicas": 1}})
            )
        );
        assert!(!seen.has_state(&key(Kind::Deployment, "changed")));
        assert_eq!(
            seen.uid(&key(Kind::Deployment, "changed")),
            Uid::Known("u2".into())
        );
        assert_eq!(seen.uid(&key(Kind::Deployment, "new")), Uid::Unknown);
        assert_eq!(seen.uid(&key(Kind::ConfigMap, "old")), Uid::Gone);

        let mut seen = seen;
        let names = ["new".to_owned(), "same".to_owned()].into();
        seen.observe(
            Kind::Deployment,
            "ns",
            &names,
            vec![("new".into(), obj("u4"))],
        );
        assert!(!seen.has_state(&key(Kind::Deployment, "same")));
        assert_eq!(
            seen.uid(&key(Kind::Deployment, "new")),
            Uid::Known("u4".into())
        );
    }
}
