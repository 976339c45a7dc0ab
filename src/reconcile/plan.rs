//! Desired objects + live objects → what to do (pure).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::cause::{Conflict, PruneRefusal, ServiceCause};
use super::compare::{self, Ownership};
use super::immutable;
pub use super::keys::{ObjectRef, ServiceKey};
use crate::render::{Kind, Object, SERVICE_LABEL};

/// Identity of an object in the cluster.
pub type ObjectKey = ObjectRef;

/// What happens to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// It does not exist yet.
    Create,
    /// It exists and differs; the reasons name fields, never secret values.
    Update(Vec<String>),
    /// It exists and immutable fields (named) changed: delete it and create it again
    /// (`--recreate`).
    Recreate(Vec<String>),
    /// It exists and matches.
    Unchanged,
    /// It exists but is not ours: left alone, and its service is not applied.
    Conflict(Conflict),
    /// It is ours, no longer in git: delete it.
    Prune,
}

impl Action {
    /// A short verb for output.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update(_) => "update",
            Action::Recreate(_) => "recreate",
            Action::Unchanged => "unchanged",
            Action::Conflict(_) => "conflict",
            Action::Prune => "prune",
        }
    }
}

/// One object and its action.
#[derive(Debug, Clone)]
pub struct ObjectPlan {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What to do.
    pub action: Action,
    /// The rendered object (absent for prunes).
    pub desired: Option<Object>,
}

impl ObjectPlan {
    /// Deleting the live object `key`.
    pub fn prune(key: &ObjectRef) -> Self {
        Self {
            kind: key.kind,
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            action: Action::Prune,
            desired: None,
        }
    }

    /// Its identity.
    pub fn key(&self) -> ObjectRef {
        ObjectRef::new(self.kind, &self.namespace, &self.name)
    }

    /// True when applying it writes.
    pub fn writes(&self) -> bool {
        matches!(
            self.action,
            Action::Create | Action::Update(_) | Action::Recreate(_)
        )
    }
}

/// One service's plan.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its objects in apply order (empty when `error` is set).
    pub objects: Vec<ObjectPlan>,
    /// Why the service is skipped entirely (invalid spec, secrets that failed to decrypt, a
    /// conflict): nothing of it is applied or pruned.
    pub error: Option<ServiceCause>,
}

impl ServicePlan {
    /// True when something would be written for this service.
    pub fn has_changes(&self) -> bool {
        self.error.is_none() && self.objects.iter().any(ObjectPlan::writes)
    }

    /// Its identity.
    pub fn key(&self) -> ServiceKey {
        ServiceKey::new(&self.namespace, &self.name)
    }
}

/// A service as the plan sees it: its rendered objects, or why there are none.
#[derive(Debug)]
pub struct DesiredService {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Rendered objects, or the reason the service cannot be applied.
    pub objects: Result<Vec<Object>, ServiceCause>,
    /// Live objects of the service to leave as they are, neither written nor pruned (the
    /// stable version during a [canary rollout](super::rollout)).
    pub keep: Vec<ObjectRef>,
    /// Live objects of earlier versions to delete whatever the prune guards say: they are
    /// replaced, not removed from git (a finished canary, config no version reads).
    pub retire: Vec<ObjectRef>,
}

impl DesiredService {
    /// A service with its rendered objects (or why there are none), nothing kept or retired.
    pub fn new(
        namespace: String,
        name: String,
        objects: Result<Vec<Object>, ServiceCause>,
    ) -> Self {
        Self {
            namespace,
            name,
            objects,
            keep: Vec::new(),
            retire: Vec::new(),
        }
    }
}

/// What the planner may do besides creating and updating.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Take over same-named objects that mlsync does not manage (`--adopt`).
    pub adopt: bool,
    /// Delete and create again objects whose immutable fields changed (`--recreate`).
    pub recreate: bool,
    /// Pruning.
    pub prune: PrunePolicy,
    /// Live objects of this source that were not read, because their services are outside a
    /// [focused](super::focus) run: the prune guards count them as managed.
    pub managed_elsewhere: usize,
}

/// Pruning settings.
#[derive(Debug, Clone, Copy)]
pub struct PrunePolicy {
    /// Prune at all.
    pub enabled: bool,
    /// Allow deleting all, or more than `max_fraction`, of the managed objects.
    pub allow_mass_prune: bool,
    /// Largest share of managed objects one run may delete (0.0–1.0).
    pub max_fraction: f64,
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Per service, in repo order.
    pub services: Vec<ServicePlan>,
    /// Objects to delete.
    pub prune: Vec<ObjectPlan>,
    /// Objects that left git but are kept: pruning is off, or was refused.
    pub prune_held: Vec<ObjectPlan>,
    /// Why a guard refused pruning (an error to report), if one did.
    pub prune_refused: Option<PruneRefusal>,
}

impl Plan {
    /// True when applying would write anything.
    pub fn has_changes(&self) -> bool {
        self.services.iter().any(ServicePlan::has_changes) || !self.prune.is_empty()
    }
}

/// Builds the plan. `live` holds every live object of interest: ours (listed by label) and any
/// object with a desired name (fetched by name). `prune_blocker` (from the repo load) disables
/// pruning; `protected` services keep all their live objects; `unchanged` objects were found
/// equal to their desired body when read (and cut down since, see [`super::trim`]).
pub fn plan(
    desired: Vec<DesiredService>,
    live: &BTreeMap<ObjectKey, Value>,
    source_id: &str,
    rules: Rules,
    prune_blocker: Option<String>,
    protected: &BTreeSet<ServiceKey>,
    unchanged: &BTreeSet<ObjectKey>,
) -> Plan {
    let policy = rules.prune;
    let mut protected = protected.clone();
    let mut wanted: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut services = Vec::new();
    let mut retire: BTreeSet<ObjectKey> = BTreeSet::new();
    for svc in desired {
        wanted.extend(svc.keep);
        if svc.objects.is_ok() {
            retire.extend(svc.retire);
        }
        let objects = match svc.objects {
            Ok(o) => o,
            Err(e) => {
                protected.insert(ServiceKey::new(&svc.namespace, &svc.name));
                services.push(ServicePlan {
                    namespace: svc.namespace,
                    name: svc.name,
                    objects: vec![],
                    error: Some(e),
                });
                continue;
            }
        };
        let mut plans = Vec::new();
        let mut conflicts = Vec::new();
        let mut immutable_changed = None;
        for obj in objects {
            let key = ObjectRef::of(&obj);
            wanted.insert(key.clone());
            let mut action = match live.get(&key) {
                None => Action::Create,
                // Compared as it was read, and cut down since (see `trim`).
                Some(_) if unchanged.contains(&key) => Action::Unchanged,
                Some(l) => match compare::ownership(l, source_id) {
                    Ownership::Ours => {
                        let d = compare::differences(&obj.body, l);
                        if d.is_empty() {
                            Action::Unchanged
                        } else {
                            Action::Update(d)
                        }
                    }
                    Ownership::Foreign if rules.adopt => {
                        Action::Update(vec!["adopted (--adopt)".into()])
                    }
                    Ownership::Foreign => Action::Conflict(Conflict::Unmanaged),
                    Ownership::OtherSource(s) => Action::Conflict(Conflict::OtherSource {
                        other: s,
                        ours: source_id.to_owned(),
                    }),
                },
            };
            if let (Action::Update(_), Some(l)) = (&action, live.get(&key)) {
                let fields = immutable::changed(obj.kind, &obj.body, l);
                if !fields.is_empty() {
                    if rules.recreate {
                        action = Action::Recreate(fields);
                    } else if immutable_changed.is_none() {
                        immutable_changed = Some(ServiceCause::ImmutableFieldChanged {
                            object: key.clone(),
                            fields,
                        });
                    }
                }
            }
            if let Action::Conflict(reason) = &action {
                conflicts.push((key.clone(), reason.clone()));
            }
            plans.push(ObjectPlan {
                kind: obj.kind,
                namespace: obj.namespace.clone(),
                name: obj.name.clone(),
                action,
                desired: Some(obj),
            });
        }
        let error = if conflicts.is_empty() {
            immutable_changed
        } else {
            Some(ServiceCause::Conflict(conflicts))
        };
        if error.is_some() {
            protected.insert(ServiceKey::new(&svc.namespace, &svc.name));
        }
        services.push(ServicePlan {
            namespace: svc.namespace,
            name: svc.name,
            objects: plans,
            error,
        });
    }

    let managed: Vec<(&ObjectKey, &Value)> = live
        .iter()
        .filter(|(_, v)| compare::ownership(v, source_id) == Ownership::Ours)
        .collect();
    let mut prune: Vec<ObjectPlan> = managed
        .iter()
        .filter(|(k, v)| {
            let service = v
                .pointer("/metadata/labels")
                .and_then(|l| l.get(SERVICE_LABEL))
                .and_then(Value::as_str)
                .unwrap_or("");
            !wanted.contains(*k)
                && !retire.contains(*k)
                && !protected.contains(&ServiceKey::new(&k.namespace, service))
        })
        .map(|(k, _)| ObjectPlan::prune(k))
        .collect();
    let managed_count = managed.len() + rules.managed_elsewhere;
    let refused = if prune.is_empty() || !policy.enabled {
        None
    } else if let Some(b) = prune_blocker {
        Some(PruneRefusal::RepoIncomplete(b))
    } else if !policy.allow_mass_prune && prune.len() == managed_count {
        Some(PruneRefusal::WouldDeleteAll {
            managed: managed_count,
        })
    } else if !policy.allow_mass_prune
        && prune.len() as f64 > policy.max_fraction * managed_count as f64
    {
        Some(PruneRefusal::OverFraction {
            prune: prune.len(),
            managed: managed_count,
            max_fraction: policy.max_fraction,
        })
    } else {
        None
    };
    let mut held = Vec::new();
    if refused.is_some() || !policy.enabled {
        held = std::mem::take(&mut prune);
    }
    // Replaced by a newer version of a service still in git: not what the guards are for.
    prune.extend(
        managed
            .iter()
            .filter(|(k, _)| retire.contains(*k) && !wanted.contains(*k))
            .map(|(k, _)| ObjectPlan::prune(k)),
    );
    Plan {
        services,
        prune,
        prune_held: held,
        prune_refused: refused,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
