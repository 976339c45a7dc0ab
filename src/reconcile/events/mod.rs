//! Kubernetes Events for what a reconcile did (pure): a finished [`Report`] (plus the repo's
//! invalid services, which never reach the report) becomes a list of [`PlannedEvent`]s;
//! [`publish`] sends them with kube's own `Recorder` (events.k8s.io/v1).
//!
//! A run that changed nothing and where nothing failed yields no events. Notes are built from
//! object names, outcomes and error texts only (never rendered object bodies), and are cut to
//! [`NOTE_LIMIT`] bytes, the API's limit. See `docs/events.md` for the reasons and targets.

pub mod publish;

use std::fmt::Write as _;

use crate::render::Kind;
use crate::repo::InvalidService;

use super::cause::ServiceCause;
use super::live::inventory_name;
use super::report::{ObjectOutcome, Outcome, Report, ServiceReport};
use super::rollout::stage as rollout;

pub use kube::runtime::events::EventType;

/// The API server rejects event notes longer than this (bytes).
pub const NOTE_LIMIT: usize = 1024;

/// An object an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Kind.
    pub kind: Kind,
    /// Namespace (events live in the namespace of the object they are about).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl Target {
    fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Normal` or `Warning`.
    pub type_: EventType,
    /// CamelCase reason (`Applied`, `Pruned`, `ApplyFailed`, …).
    pub reason: &'static str,
    /// What mlsync was doing (`Apply`, `Prune`, `Validate`, `Decrypt`).
    pub action: &'static str,
    /// Human-readable text, at most [`NOTE_LIMIT`] bytes.
    pub note: String,
    /// The object the event is about, if it exists.
    pub regarding: Target,
    /// Used instead when `regarding` does not exist (the inventory ConfigMap), if any.
    pub fallback: Option<Target>,
}

/// What the events need besides the report.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The git revision applied; `None` for a directory applied as it is on disk.
    pub revision: Option<&'a str>,
    /// The source's home namespace (where its inventory ConfigMap lives).
    pub home_namespace: &'a str,
    /// The source id.
    pub source_id: &'a str,
    /// Services whose spec is invalid: kept unchanged, not in the report.
    pub invalid: &'a [InvalidService],
}

impl Context<'_> {
    fn revision(&self) -> String {
        match self.revision {
            Some(r) => format!("revision {}", r.get(..12).unwrap_or(r)),
            None => "working tree".to_owned(),
        }
    }

    fn inventory(&self) -> Target {
        Target::new(
            Kind::ConfigMap,
            self.home_namespace,
            &inventory_name(self.source_id),
        )
    }

    /// The service's Deployment, falling back to the inventory ConfigMap.
    fn service(&self, namespace: &str, name: &str) -> (Target, Option<Target>) {
        (
            Target::new(Kind::Deployment, namespace, name),
            Some(self.inventory()),
        )
    }
}

/// The events of one finished reconcile, in report order. Empty when nothing changed and
/// nothing failed.
pub fn plan_events(report: &Report, ctx: &Context<'_>) -> Vec<PlannedEvent> {
    let rev = ctx.revision();
    let mut out = Vec::new();
    for s in &report.services {
        out.extend(service_event(s, ctx, &rev));
    }
    for r in &report.rollouts {
        let Some(event) = &r.decision.event else {
            continue;
        };
        let (regarding, fallback) = ctx.service(&r.key.namespace, &r.key.name);
        out.push(PlannedEvent {
            type_: if rollout::warns(event) {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: rollout::reason(event),
            action: "Rollout",
            note: note(format!(
                "{}/{}: {} ({rev})",
                r.key.namespace,
                r.key.name,
                rollout::note(event, r)
            )),
            regarding,
            fallback,
        });
    }
    for i in ctx.invalid {
        let (regarding, fallback) = ctx.service(&i.namespace, &i.name);
        let (reason, action) = classify(&ServiceCause::InvalidSpec);
        out.push(PlannedEvent {
            type_: EventType::Warning,
            reason,
            action,
            note: note(format!(
                "spec of service {}/{} in {rev} is invalid (run mlsync validate): nothing of it was applied or pruned, the cluster keeps its previous state",
                i.namespace, i.name
            )),
            regarding,
            fallback,
        });
    }
    for p in &report.pruned {
        let regarding = Target::new(p.kind, &p.namespace, &p.name);
        out.push(match &p.outcome {
            Outcome::Failed(why) => PlannedEvent {
                type_: EventType::Warning,
                reason: "PruneFailed",
                action: "Prune",
                note: note(format!("{} left git ({rev}) but {why}", object(p))),
                regarding,
                fallback: None,
            },
            _ => PlannedEvent {
                type_: EventType::Normal,
                reason: "Pruned",
                action: "Prune",
                note: note(match rollout::retired_by(&report.rollouts, &p.key()) {
                    Some(service) => format!(
                        "deleted {}: the canary rollout of {service} no longer needs it ({rev})",
                        object(p)
                    ),
                    None => format!("deleted {}: it left git ({rev})", object(p)),
                }),
                regarding,
                fallback: None,
            },
        });
    }
    if let Some(why) = &report.prune_refused {
        let held: Vec<String> = report.prune_held.iter().map(object).collect();
        out.push(PlannedEvent {
            type_: EventType::Warning,
            reason: "PruneRefused",
            action: "Prune",
            note: note(format!(
                "pruning refused at {rev}: {why}; kept {} objects that left git: {}",
                held.len(),
                held.join(", ")
            )),
            regarding: ctx.inventory(),
            fallback: None,
        });
    }
    for e in &report.errors {
        out.push(PlannedEvent {
            type_: EventType::Warning,
            reason: "ReconcileFailed",
            action: "Apply",
            note: note(format!("{e} ({rev})")),
            regarding: ctx.inventory(),
            fallback: None,
        });
    }
    out
}

/// The event of one service, if it changed or failed.
/// The Warning `CommitUnverified` on the source's inventory ConfigMap: the commit `revision`
/// was not applied because its signature did not verify (`reason`, a stable label such as
/// `unsigned`); the cluster keeps what it runs.
pub fn commit_unverified(ctx: &Context<'_>, revision: &str, reason: &str) -> PlannedEvent {
    PlannedEvent {
        type_: EventType::Warning,
        reason: "CommitUnverified",
        action: "Verify",
        note: note(format!(
            "commit {} not applied: its signature is not accepted ({reason}); the cluster keeps the last verified revision",
            revision.get(..12).unwrap_or(revision)
        )),
        regarding: ctx.inventory(),
        fallback: None,
    }
}

fn service_event(s: &ServiceReport, ctx: &Context<'_>, rev: &str) -> Option<PlannedEvent> {
    let (regarding, fallback) = ctx.service(&s.namespace, &s.name);
    let changes: Vec<String> = s
        .objects
        .iter()
        .filter(|o| o.outcome.is_change())
        .map(|o| format!("{} {}", object(o), o.outcome.as_str()))
        .collect();
    let failed = s.objects.iter().find_map(|o| match &o.outcome {
        Outcome::Failed(why) => Some((o, why)),
        _ => None,
    });
    let (type_, reason, action, text) = match (&s.error, failed) {
        (_, Some((o, why))) => {
            let mut t = format!("failed to apply {} ({rev}): {why}", object(o));
            if !changes.is_empty() {
                let _ = write!(t, "; applied before the failure: {}", changes.join(", "));
            }
            (EventType::Warning, "ApplyFailed", "Apply", t)
        }
        (Some(e), None) => {
            let (reason, action) = classify(e);
            let t = format!(
                "service {}/{} not applied ({rev}): {e}; nothing of it was applied or pruned",
                s.namespace, s.name
            );
            (EventType::Warning, reason, action, t)
        }
        (None, None) if s.unhealthy && !changes.is_empty() => {
            let t = format!(
                "applied {rev}: {}; rollout: {}",
                changes.join(", "),
                s.health.as_deref().unwrap_or("failed")
            );
            (EventType::Warning, "RolloutFailed", "Apply", t)
        }
        (None, None) if !changes.is_empty() => {
            let mut t = format!("applied {rev}: {}", changes.join(", "));
            if let Some(h) = &s.health {
                let _ = write!(t, "; rollout: {h}");
            }
            (EventType::Normal, "Applied", "Apply", t)
        }
        (None, None) => return None,
    };
    Some(PlannedEvent {
        type_,
        reason,
        action,
        note: note(text),
        regarding,
        fallback,
    })
}

/// Reason and action of a service that was not applied, from its cause.
pub fn classify(cause: &ServiceCause) -> (&'static str, &'static str) {
    match cause {
        ServiceCause::Conflict(_) => ("Conflict", "Apply"),
        ServiceCause::SecretsUndecryptable(_) => ("DecryptFailed", "Decrypt"),
        ServiceCause::InvalidSpec => ("InvalidSpec", "Validate"),
        ServiceCause::ApplyFailed { .. } | ServiceCause::ImmutableFieldChanged { .. } => {
            ("ApplyFailed", "Apply")
        }
        ServiceCause::NamespaceMissing { .. }
        | ServiceCause::RenderFailed(_)
        | ServiceCause::NotRecorded { .. }
        | ServiceCause::NotLeading => ("NotApplied", "Apply"),
    }
}

/// `deployment/name`, like kubectl's short form.
fn object(o: &ObjectOutcome) -> String {
    format!("{}/{}", o.kind.as_str().to_ascii_lowercase(), o.name)
}

/// Cuts `text` to [`NOTE_LIMIT`] bytes on a character boundary, ending with `…` when cut.
pub fn note(text: String) -> String {
    if text.len() <= NOTE_LIMIT {
        return text;
    }
    let ellipsis = "…";
    let mut end = NOTE_LIMIT - ellipsis.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end])
}

#[cfg(test)]
mod tests;
