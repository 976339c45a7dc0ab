//! What a reconcile did, per object and per service, and how it reads on a terminal.

use std::fmt::Write as _;

use super::cause::{ObjectFailure, PruneRefusal, RunError, ServiceCause};
use super::keys::{ObjectRef, ServiceKey};
use super::seen::Seen;
use crate::render::Kind;

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Created by server-side apply.
    Created,
    /// Changed by server-side apply.
    Configured,
    /// Deleted and created again (`--recreate`).
    Recreated,
    /// Nothing to do.
    Unchanged,
    /// Deleted: it left git.
    Pruned,
    /// Left git but kept: pruning is off or refused.
    Held,
    /// Not touched because its service could not be applied.
    Skipped,
    /// The API server refused: which request, and what it said.
    Failed(ObjectFailure),
}

impl Outcome {
    /// The word printed for it (also the metrics `action` label).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Recreated => "recreated",
            Outcome::Unchanged => "unchanged",
            Outcome::Pruned => "pruned",
            Outcome::Held => "held",
            Outcome::Skipped => "skipped",
            Outcome::Failed(_) => "failed",
        }
    }

    /// True for outcomes that changed the cluster.
    pub fn is_change(&self) -> bool {
        matches!(
            self,
            Outcome::Created | Outcome::Configured | Outcome::Recreated | Outcome::Pruned
        )
    }
}

/// One object's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOutcome {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
}

impl ObjectOutcome {
    /// Its identity.
    pub fn key(&self) -> ObjectRef {
        ObjectRef::new(self.kind, &self.namespace, &self.name)
    }
}

/// What the health check could tell about a service's rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HealthState {
    /// Not checked (the service was not applied, or no check ran).
    #[default]
    NotChecked,
    /// All replicas updated and available.
    Available,
    /// Still rolling out.
    Progressing,
    /// The rollout failed (e.g. `ProgressDeadlineExceeded`).
    Failed,
    /// The health could not be read (the API server did not answer, or the Deployment is
    /// missing): nothing is claimed.
    Unknown,
}

/// One service's outcome.
#[derive(Debug, Clone, Default)]
pub struct ServiceReport {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its objects, in apply order.
    pub objects: Vec<ObjectOutcome>,
    /// Why it was not (fully) applied.
    pub error: Option<ServiceCause>,
    /// Rollout health after apply, when checked, in words.
    pub health: Option<String>,
    /// Rollout health after apply, for decisions.
    pub health_state: HealthState,
    /// True when the rollout failed or did not finish in time.
    pub unhealthy: bool,
}

impl ServiceReport {
    /// True when anything of it changed.
    pub fn changed(&self) -> bool {
        self.objects.iter().any(|o| o.outcome.is_change())
    }
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per service.
    pub services: Vec<ServiceReport>,
    /// Deleted objects.
    pub pruned: Vec<ObjectOutcome>,
    /// Objects that left git but were kept.
    pub prune_held: Vec<ObjectOutcome>,
    /// Why a prune guard refused.
    pub prune_refused: Option<PruneRefusal>,
    /// Services that objects in `prune_held` belong to: they left git (or some of their
    /// objects did) but still run.
    pub kept_services: Vec<ServiceKey>,
    /// Errors outside any service (namespace creation).
    pub errors: Vec<RunError>,
    /// What the rollout stage decided for each canary-strategy service.
    pub rollouts: Vec<super::rollout::stage::RolloutReport>,
    /// What the run knows of the live objects (for the health check and events).
    pub seen: Seen,
}

impl Report {
    /// Anything changed in the cluster.
    pub fn changed(&self) -> bool {
        self.services.iter().any(ServiceReport::changed)
            || self.pruned.iter().any(|p| p.outcome.is_change())
    }

    /// Anything failed or was refused, or a rollout failed.
    pub fn failed(&self) -> bool {
        self.apply_failed() || self.services.iter().any(|s| s.unhealthy)
    }

    /// Anything failed to apply or prune, or a guard refused (rollout health aside).
    pub fn apply_failed(&self) -> bool {
        self.services.iter().any(|s| s.error.is_some())
            || self
                .pruned
                .iter()
                .any(|p| matches!(p.outcome, Outcome::Failed(_)))
            || self.prune_refused.is_some()
            || !self.errors.is_empty()
    }

    /// Every object outcome, services first, then prunes.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectOutcome> {
        self.services
            .iter()
            .flat_map(|s| s.objects.iter())
            .chain(self.pruned.iter())
    }

    /// Human-readable lines, like kubectl's (`deployment.apps/iris configured`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for s in &self.services {
            let state = match (&s.error, s.changed()) {
                (Some(_), _) => "failed",
                (None, true) => "applied",
                (None, false) => "unchanged",
            };
            let _ = writeln!(out, "service {}/{}: {state}", s.namespace, s.name);
            for o in &s.objects {
                let _ = writeln!(out, "  {}", object_line(o));
            }
            if let Some(e) = &s.error {
                let _ = writeln!(out, "  error: {e}");
            }
            if let Some(h) = &s.health {
                let _ = writeln!(out, "  health: {h}");
            }
            let rollout = self
                .rollouts
                .iter()
                .filter(|r| r.key.namespace == s.namespace && r.key.name == s.name);
            for line in rollout.filter_map(|r| r.line()) {
                let _ = writeln!(out, "  {line}");
            }
        }
        for o in &self.pruned {
            let _ = writeln!(out, "{}", object_line(o));
        }
        for o in &self.prune_held {
            let _ = writeln!(
                out,
                "{} {}/{} left git but was kept",
                o.kind, o.namespace, o.name
            );
        }
        if let Some(r) = &self.prune_refused {
            let _ = writeln!(out, "error: pruning refused: {r}");
        }
        for e in &self.errors {
            let _ = writeln!(out, "error: {e}");
        }
        out
    }
}

fn object_line(o: &ObjectOutcome) -> String {
    match &o.outcome {
        Outcome::Failed(reason) => {
            format!("{} {}/{} failed: {reason}", o.kind, o.namespace, o.name)
        }
        other => format!("{} {}/{} {}", o.kind, o.namespace, o.name, other.as_str()),
    }
}
