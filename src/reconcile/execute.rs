//! Writing to the cluster (I/O): walks the steps of [`super::writes`] — server-side apply in
//! dependency order, the replicas hand-over to the HPA, re-creation, deletes of what left git —
//! checking leadership before each, and records a typed outcome per object. It decides nothing
//! the plan did not.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, stream};
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::core::DynamicObject;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::watch;

pub use super::cause::NOT_LEADING;
use super::cause::{ApiFailure, ObjectFailure, PruneRefusal, RunError, ServiceCause, WriteOp};
use super::keys::ObjectRef;
use super::plan::{Plan, ServicePlan};
use super::report::{ObjectOutcome, Outcome, Report, ServiceReport};
use super::writes::{Step, Writes};
use crate::cluster;
use crate::render::{HpaVersion, Kind, MANAGED_BY, MANAGED_BY_LABEL};

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

/// How long a re-creation waits for the old object to be gone.
const DELETE_TIMEOUT: Duration = Duration::from_secs(60);

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

fn failure(op: WriteOp) -> impl FnOnce(kube::Error) -> ObjectFailure {
    move |e| ObjectFailure {
        op,
        api: ApiFailure::from_kube(&e),
    }
}

async fn apply(
    client: &Client,
    hpa: HpaVersion,
    obj: &ObjectRef,
    body: &Value,
) -> Result<(), ObjectFailure> {
    let api = cluster::api(client, obj.kind, hpa, &obj.namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&obj.name, &params, &Patch::Apply(body))
        .await
        .map(|_| ())
        .map_err(failure(WriteOp::Apply))
}

/// Deletes `obj` (foreground: its dependents go first), waits until the object with `uid` is
/// gone, and creates it again.
async fn recreate(
    client: &Client,
    hpa: HpaVersion,
    obj: &ObjectRef,
    body: &Value,
    uid: &str,
) -> Result<(), ObjectFailure> {
    let api: Api<DynamicObject> = cluster::api(client, obj.kind, hpa, &obj.namespace);
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..Default::default()
    };
    match api.delete(&obj.name, &dp).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(failure(WriteOp::DeleteForRecreate)(e)),
    }
    let gone = await_condition(api.clone(), &obj.name, conditions::is_deleted(uid));
    match tokio::time::timeout(DELETE_TIMEOUT, gone).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(ObjectFailure {
                op: WriteOp::WaitForDeletion,
                api: ApiFailure::Transport(e.to_string()),
            });
        }
        Err(_) => {
            return Err(ObjectFailure {
                op: WriteOp::WaitForDeletion,
                api: ApiFailure::Transport(format!(
                    "still there after {}s",
                    DELETE_TIMEOUT.as_secs()
                )),
            });
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&obj.name, &params, &Patch::Apply(body))
        .await
        .map(|_| ())
        .map_err(failure(WriteOp::Recreate))
}

/// Gives `spec.replicas` a second owner holding its current value, so that dropping it from
/// mlsync's applied configuration keeps the running replica count for the HPA to manage
/// (the ownership transfer the Kubernetes server-side apply documentation describes).
async fn handover_replicas(
    client: &Client,
    hpa: HpaVersion,
    obj: &ObjectRef,
    replicas: i64,
) -> Result<(), ObjectFailure> {
    let body = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": obj.name, "namespace": obj.namespace},
        "spec": {"replicas": replicas},
    });
    let api = cluster::api(client, Kind::Deployment, hpa, &obj.namespace);
    api.patch(
        &obj.name,
        &PatchParams::apply(HANDOVER_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
    .map_err(failure(WriteOp::HandOver))
}

async fn delete(client: &Client, hpa: HpaVersion, p: &ObjectRef) -> ObjectOutcome {
    let api = cluster::api(client, p.kind, hpa, &p.namespace);
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    let result = match api.delete(&p.name, &dp).await {
        Ok(_) => Outcome::Pruned,
        Err(kube::Error::Api(s)) if s.code == 404 => Outcome::Pruned,
        Err(e) => Outcome::Failed(failure(WriteOp::Delete)(e)),
    };
    outcome(p, result)
}

/// Creates a namespace mlsync was told to create (server-side apply, labelled as ours).
pub async fn create_namespace(client: &Client, name: &str) -> Result<(), RunError> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let body = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY}}});
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
    .map_err(|e| RunError::CreateNamespace {
        namespace: name.to_owned(),
        api: ApiFailure::from_kube(&e),
    })
}
