//! Writing to the cluster (I/O): walks the steps of [`super::writes`] — server-side apply in
//! dependency order, the replicas hand-over to the HPA, re-creation, deletes of what left git —
//! checking leadership before each, and records a typed outcome per object. It decides nothing
//! the plan did not.

mod requests;

use std::collections::BTreeMap;

use futures::{StreamExt, stream};
use kube::Client;
use serde_json::Value;
use tokio::sync::watch;

pub use super::cause::NOT_LEADING;
use super::cause::{PruneRefusal, ServiceCause};
use super::keys::ObjectRef;
use super::plan::{Plan, ServicePlan};
use super::report::{ObjectOutcome, Outcome, Report, ServiceReport};
use super::writes::{Step, Writes};
use crate::render::{HpaVersion, Kind};
pub use requests::create_namespace;
use requests::{apply, delete, handover_replicas, recreate};

/// Services applied at once.
const WRITE_CONCURRENCY: usize = 8;

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "mlsync";
/// The field manager that keeps `spec.replicas` when the HPA takes it over.
pub const HANDOVER_MANAGER: &str = "mlsync-replicas-handover";

/// Settings for writing.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Delete and re-create objects whose immutable fields changed.
    pub recreate: bool,
    /// With leader election: `true` while this replica leads. Checked before every write, so a
    /// replica that stops leading in the middle of a run sends nothing more. `None`: always write.
    pub leading: Option<watch::Receiver<bool>>,
}

impl WriteOptions {
    /// Whether a write may go out now: no leader election, or leading (and the elector is alive).
    pub fn may_write(&self) -> bool {
        self.leading
            .as_ref()
            .is_none_or(|rx| *rx.borrow() && rx.has_changed().is_ok())
    }
}
/// Applies the planned writes and returns what happened. Never fails as a whole: per-object
/// errors are in the report. `live` is what the plan was made from.
pub async fn execute(
    client: &Client,
    hpa: HpaVersion,
    plan: &Plan,
    writes: &Writes,
    live: &BTreeMap<ObjectRef, Value>,
    opts: &WriteOptions,
) -> Report {
    // Services are independent: apply several at once (steps within one stay in order).
    let no_steps = Vec::new();
    let services: Vec<ServiceReport> = stream::iter(plan.services.iter().enumerate())
        .map(|(i, svc)| {
            let steps = writes.services.get(i).map_or(&no_steps, |(_, s)| s);
            execute_service(client, hpa, svc, steps, live, opts)
        })
        .buffered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let results: Vec<ObjectOutcome> = stream::iter(&writes.prune)
        .map(|p| async move {
            if opts.may_write() {
                delete(client, hpa, p).await
            } else {
                outcome(p, Outcome::Held)
            }
        })
        .buffered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let (held, pruned): (Vec<_>, Vec<_>) = results
        .into_iter()
        .partition(|o| o.outcome == Outcome::Held);
    let mut report = Report {
        services,
        pruned,
        prune_refused: plan.prune_refused.clone(),
        ..Report::default()
    };
    if !held.is_empty() {
        report.prune_refused = Some(PruneRefusal::NotLeading { held: held.len() });
    }
    report.prune_held = plan
        .prune_held
        .iter()
        .map(|p| outcome(&p.key(), Outcome::Held))
        .chain(held)
        .collect();
    report
}

/// Walks one service's steps in order; stops at the first failed write (later objects depend
/// on earlier ones). Every object of the service gets an outcome, in apply order.
async fn execute_service(
    client: &Client,
    hpa: HpaVersion,
    svc: &ServicePlan,
    steps: &[Step],
    live: &BTreeMap<ObjectRef, Value>,
    opts: &WriteOptions,
) -> ServiceReport {
    let mut sr = ServiceReport {
        namespace: svc.namespace.clone(),
        name: svc.name.clone(),
        error: svc.error.clone(),
        ..Default::default()
    };
    if svc.error.is_some() {
        sr.objects = svc
            .objects
            .iter()
            .map(|o| outcome(&o.key(), Outcome::Skipped))
            .collect();
        return sr;
    }
    let mut done: BTreeMap<ObjectRef, Outcome> = BTreeMap::new();
    let mut early: Vec<ObjectOutcome> = Vec::new();
    for step in steps {
        if !opts.may_write() {
            sr.error = Some(ServiceCause::NotLeading);
            break;
        }
        let result = match step {
            Step::DeleteHpa(o) => {
                // A prune done early: its failure does not stop the service.
                early.push(delete(client, hpa, o).await);
                continue;
            }
            Step::HandOverReplicas {
                deployment,
                replicas,
            } => handover_replicas(client, hpa, deployment, *replicas)
                .await
                .map(|()| None),
            Step::Apply { object, create } => {
                let body = desired_body(svc, object);
                apply(client, hpa, object, body).await.map(|()| {
                    Some(if *create {
                        Outcome::Created
                    } else {
                        Outcome::Configured
                    })
                })
            }
            Step::Recreate(object) => {
                let uid = live
                    .get(object)
                    .and_then(|l| l.pointer("/metadata/uid"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                recreate(client, hpa, object, desired_body(svc, object), uid)
                    .await
                    .map(|()| Some(Outcome::Recreated))
            }
            Step::CreateNamespace(_) | Step::WriteInventory { .. } | Step::Prune(_) => continue,
        };
        let Some(object) = step.object() else {
            continue;
        };
        match result {
            Ok(Some(o)) => {
                done.insert(object.clone(), o);
            }
            Ok(None) => {}
            Err(failure) => {
                sr.error = Some(ServiceCause::ApplyFailed {
                    object: object.clone(),
                    failure: Box::new(failure.clone()),
                });
                done.insert(object.clone(), Outcome::Failed(failure));
                break;
            }
        }
    }
    for o in &svc.objects {
        let key = o.key();
        if key.kind == Kind::Deployment {
            sr.objects.append(&mut early);
        }
        let result = match done.remove(&key) {
            Some(r) => r,
            None if !o.writes() => Outcome::Unchanged,
            None => Outcome::Skipped,
        };
        sr.objects.push(outcome(&key, result));
    }
    sr.objects.append(&mut early);
    sr
}

/// The rendered body of `object` in the service's plan (`null` if the plan has none, which the
/// steps never ask for).
fn desired_body<'a>(svc: &'a ServicePlan, object: &ObjectRef) -> &'a Value {
    svc.objects
        .iter()
        .find(|o| o.kind == object.kind && o.namespace == object.namespace && o.name == object.name)
        .and_then(|o| o.desired.as_ref())
        .map_or(&Value::Null, |d| &d.body)
}

fn outcome(o: &ObjectRef, result: Outcome) -> ObjectOutcome {
    ObjectOutcome {
        kind: o.kind,
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        outcome: result,
    }
}
