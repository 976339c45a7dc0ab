//! Every write an apply makes, in order (pure): the plan's decisions turned into steps, so that
//! `plan` can list them and `apply` only walks them.
//!
//! Order: create namespaces; record the inventory ahead (it names every namespace written to
//! before the first write there); per service, in apply order, its object writes (an HPA that
//! left git is deleted before its Deployment gets fixed replicas, and `spec.replicas` is handed
//! over to the HPA before mlsync's apply drops it); prunes; the inventory shrunk to the
//! namespaces that still hold objects of the source.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use super::compare;
use super::execute::FIELD_MANAGER;
use super::inventory::Inventory;
use super::keys::{ObjectRef, ServiceKey};
use super::plan::{Action, Plan, ServicePlan};
use crate::render::Kind;

/// One write request (or, for [`Step::Recreate`], a delete and a create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create a namespace (server-side apply, labelled as mlsync's).
    CreateNamespace(String),
    /// Write the inventory ConfigMap with these namespaces.
    WriteInventory {
        /// The namespaces recorded.
        namespaces: BTreeSet<String>,
        /// False: written ahead (grows); true: after the prunes (shrinks).
        shrink: bool,
    },
    /// Delete an HPA that left git before its Deployment gets fixed replicas.
    DeleteHpa(ObjectRef),
    /// Give `spec.replicas` of a Deployment to the hand-over field manager, keeping its value.
    HandOverReplicas {
        /// The Deployment.
        deployment: ObjectRef,
        /// Its current replicas.
        replicas: i64,
    },
    /// Server-side apply of an object.
    Apply {
        /// The object.
        object: ObjectRef,
        /// True when it does not exist yet.
        create: bool,
    },
    /// Delete an object, wait until it is gone, create it again (`--recreate`).
    Recreate(ObjectRef),
    /// Delete an object that left git.
    Prune(ObjectRef),
}

impl Step {
    /// A short, stable name (the `step` field of `plan -o json`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::CreateNamespace(_) => "createNamespace",
            Step::WriteInventory { .. } => "writeInventory",
            Step::DeleteHpa(_) => "deleteHpa",
            Step::HandOverReplicas { .. } => "handOverReplicas",
            Step::Apply { create: true, .. } => "create",
            Step::Apply { create: false, .. } => "update",
            Step::Recreate(_) => "recreate",
            Step::Prune(_) => "prune",
        }
    }

    /// The object written, if the step writes one object of a service.
    pub fn object(&self) -> Option<&ObjectRef> {
        match self {
            Step::DeleteHpa(o) | Step::Recreate(o) | Step::Prune(o) => Some(o),
            Step::HandOverReplicas { deployment, .. } => Some(deployment),
            Step::Apply { object, .. } => Some(object),
            Step::CreateNamespace(_) | Step::WriteInventory { .. } => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateNamespace(ns) => write!(f, "create namespace {ns}"),
            Step::WriteInventory { namespaces, shrink } => {
                let list: Vec<&str> = namespaces.iter().map(String::as_str).collect();
                let when = if *shrink { "after prune" } else { "ahead" };
                write!(f, "write inventory ({when}): {}", list.join(", "))
            }
            Step::DeleteHpa(o) => write!(f, "delete {o} (before fixed replicas)"),
            Step::HandOverReplicas {
                deployment,
                replicas,
            } => write!(
                f,
                "hand spec.replicas ({replicas}) of {deployment} over to the HPA"
            ),
            Step::Apply { object, create } => {
                write!(f, "{} {object}", if *create { "create" } else { "update" })
            }
            Step::Recreate(o) => write!(f, "recreate {o} (delete, then create)"),
            Step::Prune(o) => write!(f, "prune {o}"),
        }
    }
}

/// The writes of an apply, grouped as the executor runs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writes {
    /// Namespaces to create, first.
    pub namespaces: Vec<String>,
    /// The inventory written ahead, if it must grow.
    pub inventory_ahead: Option<BTreeSet<String>>,
    /// Per service of the plan (same order), its writes in order.
    pub services: Vec<(ServiceKey, Vec<Step>)>,
    /// Deletes of objects that left git (HPAs deleted early are not repeated here).
    pub prune: Vec<ObjectRef>,
    /// The inventory after the prunes, if it changes (when every write succeeds).
    pub inventory_after: Option<BTreeSet<String>>,
}

impl Writes {
    /// Every step in order, with the service it belongs to (services are applied concurrently,
    /// each in its own order).
    pub fn ordered(&self) -> Vec<(Option<&ServiceKey>, Step)> {
        let mut out: Vec<(Option<&ServiceKey>, Step)> = self
            .namespaces
            .iter()
            .map(|n| (None, Step::CreateNamespace(n.clone())))
            .collect();
        out.extend(self.inventory_ahead.iter().map(|n| {
            let step = Step::WriteInventory {
                namespaces: n.clone(),
                shrink: false,
            };
            (None, step)
        }));
        for (key, steps) in &self.services {
            out.extend(steps.iter().map(|s| (Some(key), s.clone())));
        }
        out.extend(self.prune.iter().map(|o| (None, Step::Prune(o.clone()))));
        out.extend(self.inventory_after.iter().map(|n| {
            let step = Step::WriteInventory {
                namespaces: n.clone(),
                shrink: true,
            };
            (None, step)
        }));
        out
    }

    /// Every step in order.
    pub fn steps(&self) -> Vec<Step> {
        self.ordered().into_iter().map(|(_, s)| s).collect()
    }
}

/// The writes of `plan`, made from `live` (what the plan saw), the namespaces to create and the
/// inventory as the run found it.
pub fn writes(
    plan: &Plan,
    live: &BTreeMap<ObjectRef, Value>,
    create_namespaces: &BTreeSet<String>,
    inventory: &Inventory,
) -> Writes {
    let hpa_prunes: BTreeMap<ServiceKey, ObjectRef> = plan
        .prune
        .iter()
        .filter(|p| p.kind == Kind::HorizontalPodAutoscaler)
        .map(|p| (ServiceKey::new(&p.namespace, &p.name), p.key()))
        .collect();
    let services: Vec<(ServiceKey, Vec<Step>)> = plan
        .services
        .iter()
        .map(|s| (s.key(), service_steps(s, hpa_prunes.get(&s.key()), live)))
        .collect();
    let early: BTreeSet<&ObjectRef> = services
        .iter()
        .flat_map(|(_, steps)| steps)
        .filter_map(|s| match s {
            Step::DeleteHpa(o) => Some(o),
            _ => None,
        })
        .collect();
    let prune: Vec<ObjectRef> = plan
        .prune
        .iter()
        .map(|p| p.key())
        .filter(|k| !early.contains(k))
        .collect();
    let ahead = inventory.ahead();
    let recorded = ahead.clone().unwrap_or_else(|| inventory.recorded.clone());
    let after = inventory.expected_after(plan, live);
    Writes {
        namespaces: create_namespaces.iter().cloned().collect(),
        inventory_ahead: ahead,
        services,
        prune,
        inventory_after: (after != recorded).then_some(after),
    }
}

/// The writes of one service, in apply order; none when it is not applied.
fn service_steps(
    svc: &ServicePlan,
    hpa_prune: Option<&ObjectRef>,
    live: &BTreeMap<ObjectRef, Value>,
) -> Vec<Step> {
    let mut out = Vec::new();
    if svc.error.is_some() {
        return out;
    }
    for obj in svc.objects.iter().filter(|o| o.writes()) {
        let key = obj.key();
        if obj.kind == Kind::Deployment {
            // Switching to fixed replicas: remove the HPA before it can fight the new count.
            if let Some(hpa) = hpa_prune {
                out.push(Step::DeleteHpa(hpa.clone()));
            }
            let drops_replicas = obj
                .desired
                .as_ref()
                .is_some_and(|d| d.body.pointer("/spec/replicas").is_none());
            if let Some(l) = live.get(&key)
                && drops_replicas
                && !matches!(obj.action, Action::Recreate(_))
                && compare::mlsync_owns_replicas(l, FIELD_MANAGER)
            {
                let replicas = l
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                out.push(Step::HandOverReplicas {
                    deployment: key.clone(),
                    replicas,
                });
            }
        }
        out.push(match obj.action {
            Action::Recreate(_) => Step::Recreate(key),
            Action::Create => Step::Apply {
                object: key,
                create: true,
            },
            _ => Step::Apply {
                object: key,
                create: false,
            },
        });
    }
    out
}

#[cfg(test)]
#[path = "writes_tests.rs"]
mod tests;
