//! The inventory: a ConfigMap in the source's home namespace naming every namespace the source
//! may have objects in, so pruning finds objects in namespaces that left git.
//!
//! It is written ahead: before the first write in a namespace the inventory already records it
//! (the union of what was recorded and every namespace of git), and it shrinks to the namespaces
//! that still hold objects of the source only after the prune. A run killed anywhere in between
//! leaves an inventory that names every namespace it wrote to.

use std::collections::{BTreeMap, BTreeSet};

use kube::Client;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::cause::{ApiFailure, InventoryFailure, ServiceCause};
use super::compare::{self, Ownership};
use super::execute::FIELD_MANAGER;
use super::live::{INVENTORY_LABEL, inventory_name};
use super::plan::{ObjectKey, Plan};
use super::report::{Outcome, Report};
use crate::render::{MANAGED_BY, MANAGED_BY_LABEL, SOURCE_LABEL};

/// A source's inventory as one run sees it.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The source's home namespace (the repo's `defaultNamespace`), where the ConfigMap lives.
    pub home: String,
    /// The source id.
    pub source_id: String,
    /// The namespaces recorded when the run started.
    pub recorded: BTreeSet<String>,
    /// The namespaces of the services in git.
    pub desired: BTreeSet<String>,
}

impl Inventory {
    /// What to record before the first write: every recorded and every desired namespace, or
    /// `None` when the inventory already names them all.
    pub fn ahead(&self) -> Option<BTreeSet<String>> {
        if self.desired.is_subset(&self.recorded) {
            return None;
        }
        Some(self.recorded.union(&self.desired).cloned().collect())
    }

    /// What to record after the applies and prunes: the desired namespaces plus every namespace
    /// that still holds an object of the source (kept by a guard, protected, or whose delete
    /// failed).
    pub fn after(&self, report: &Report, live: &BTreeMap<ObjectKey, Value>) -> BTreeSet<String> {
        let mut current = self.desired.clone();
        current.extend(report.prune_held.iter().map(|o| o.namespace.clone()));
        current.extend(
            report
                .services
                .iter()
                .filter(|s| s.error.is_some())
                .map(|s| s.namespace.clone()),
        );
        let deleted: BTreeSet<ObjectKey> = report
            .pruned
            .iter()
            .chain(report.services.iter().flat_map(|s| s.objects.iter()))
            .filter(|o| o.outcome == Outcome::Pruned)
            .map(|o| o.key())
            .collect();
        self.with_remaining(current, live, &deleted)
    }

    /// What [`Inventory::after`] will record when every write of `plan` succeeds.
    pub fn expected_after(
        &self,
        plan: &Plan,
        live: &BTreeMap<ObjectKey, Value>,
    ) -> BTreeSet<String> {
        let mut current = self.desired.clone();
        current.extend(plan.prune_held.iter().map(|o| o.namespace.clone()));
        current.extend(
            plan.services
                .iter()
                .filter(|s| s.error.is_some())
                .map(|s| s.namespace.clone()),
        );
        let deleted: BTreeSet<ObjectKey> = plan.prune.iter().map(|o| o.key()).collect();
        self.with_remaining(current, live, &deleted)
    }

    /// `current` plus the namespace of every live object of the source not in `deleted`.
    fn with_remaining(
        &self,
        mut current: BTreeSet<String>,
        live: &BTreeMap<ObjectKey, Value>,
        deleted: &BTreeSet<ObjectKey>,
    ) -> BTreeSet<String> {
        for (k, _) in live.iter().filter(|(k, v)| {
            compare::ownership(v, &self.source_id) == Ownership::Ours && !deleted.contains(*k)
        }) {
            current.insert(k.namespace.clone());
        }
        current
    }
}

/// `plan` with every service in a namespace outside `recorded` marked as not applied, because
/// the inventory could not record that namespace (`why`).
pub fn block_unrecorded(plan: &Plan, recorded: &BTreeSet<String>, why: &InventoryFailure) -> Plan {
    let mut plan = plan.clone();
    for s in plan
        .services
        .iter_mut()
        .filter(|s| s.error.is_none() && !recorded.contains(&s.namespace))
    {
        s.error = Some(ServiceCause::NotRecorded {
            namespace: s.namespace.clone(),
            why: Box::new(why.clone()),
        });
    }
    plan
}

/// Records `namespaces` as the namespaces of a source (server-side apply of its ConfigMap).
pub async fn write(
    client: &Client,
    home: &str,
    source_id: &str,
    namespaces: &BTreeSet<String>,
) -> Result<(), InventoryFailure> {
    let name = inventory_name(source_id);
    let list: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": home,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, SOURCE_LABEL: source_id, INVENTORY_LABEL: "true"}},
        "data": {"namespaces": list.join("\n")}});
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), home);
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
    .map_err(|e| InventoryFailure {
        namespace: home.to_owned(),
        name: name.clone(),
        api: ApiFailure::from_kube(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::cause::{NOT_LEADING, ObjectFailure, WriteOp};
    use crate::reconcile::report::ObjectOutcome;
    use crate::render::Kind;

    #[test]
    fn inventory_name_is_what_spec_checks_reserve() {
        // Service `mlsync-inventory` in a repo with `sourceId: config` would collide.
        assert_eq!(
            super::super::live::inventory_name("config"),
            crate::render::config_map_name("mlsync-inventory")
        );
        assert!(
            super::super::live::inventory_name("config")
                .starts_with(crate::render::INVENTORY_NAME_PREFIX)
        );
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn ours(ns: &str, name: &str) -> (ObjectKey, Value) {
        (
            ObjectKey::new(Kind::ConfigMap, ns, name),
            json!({"metadata": {"labels": {MANAGED_BY_LABEL: MANAGED_BY, SOURCE_LABEL: "src"}}}),
        )
    }

    #[test]
    fn ahead_records_new_namespaces_before_any_write_and_never_shrinks() {
        let inv = Inventory {
            home: "home".into(),
            source_id: "src".into(),
            recorded: set(&["home", "old"]),
            desired: set(&["home", "new"]),
        };
        assert_eq!(inv.ahead(), Some(set(&["home", "new", "old"])));
        let same = Inventory {
            desired: set(&["old"]),
            ..inv
        };
        assert_eq!(same.ahead(), None, "nothing new: no write");
    }

    #[test]
    fn services_in_unrecorded_namespaces_are_blocked_when_the_inventory_fails() {
        use crate::reconcile::plan::ServicePlan;
        let svc = |ns: &str, error: Option<ServiceCause>| ServicePlan {
            namespace: ns.into(),
            name: "a".into(),
            objects: vec![],
            error,
        };
        let plan = Plan {
            services: vec![
                svc("home", None),
                svc("new", None),
                svc("new", Some(ServiceCause::NotLeading)),
            ],
            prune: vec![],
            prune_held: vec![],
            prune_refused: None,
        };
        let why = InventoryFailure {
            namespace: "home".into(),
            name: "inv".into(),
            api: ApiFailure::Status {
                code: 404,
                reason: "NotFound".into(),
                message: "namespaces \"home\" not found".into(),
            },
        };
        let blocked = block_unrecorded(&plan, &set(&["home"]), &why);
        let errors: Vec<Option<String>> = blocked
            .services
            .iter()
            .map(|s| s.error.as_ref().map(|e| e.to_string()))
            .collect();
        assert!(matches!(
            blocked.services[1].error,
            Some(ServiceCause::NotRecorded { .. })
        ));
        assert_eq!(
            errors,
            [
                None,
                Some(
                    "not applied: namespace new is not recorded in the inventory (failed to write inventory ConfigMap home/inv: namespaces \"home\" not found (NotFound))".to_owned()
                ),
                Some(NOT_LEADING.to_owned()),
            ]
        );
    }

    #[test]
    fn after_keeps_namespaces_whose_objects_were_not_deleted() {
        let inv = Inventory {
            home: "home".into(),
            source_id: "src".into(),
            recorded: set(&["home", "gone", "failed"]),
            desired: set(&["home"]),
        };
        let live: BTreeMap<ObjectKey, Value> =
            [ours("gone", "a-config"), ours("failed", "b-config")].into();
        let outcome = |ns: &str, name: &str, outcome| ObjectOutcome {
            kind: Kind::ConfigMap,
            namespace: ns.into(),
            name: name.into(),
            outcome,
        };
        let report = Report {
            pruned: vec![
                outcome("gone", "a-config", Outcome::Pruned),
                outcome(
                    "failed",
                    "b-config",
                    Outcome::Failed(ObjectFailure {
                        op: WriteOp::Delete,
                        api: ApiFailure::Transport("boom".into()),
                    }),
                ),
            ],
            ..Report::default()
        };
        assert_eq!(inv.after(&report, &live), set(&["failed", "home"]));
    }
}
