//! Writing to the cluster (I/O): server-side apply in dependency order, the replicas hand-over
//! to the HPA, and deletes of what left git.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::compare;
use super::plan::{Action, ObjectKey, ObjectPlan, Plan, ServicePlan};
use super::report::{ObjectOutcome, Outcome, Report, ServiceReport};
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

/// Why objects were left alone when leadership ended during a run.
pub const NOT_LEADING: &str = "this replica stopped leading; nothing more was written";

/// What the API server said: its message and, when it gave one, its reason
/// (`… exceeded quota: … (Forbidden)`); other errors as they print.
pub(crate) fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.reason.is_empty() => s.message.clone(),
        kube::Error::Api(s) => format!("{} ({})", s.message, s.reason),
        other => other.to_string(),
    }
}

fn is_immutable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 422 && s.message.contains("immutable"))
}

/// Applies the plan and returns what happened. Never fails as a whole: per-object errors are in
/// the report. `live` is what the plan was made from.
pub async fn execute(
    client: &Client,
    hpa: HpaVersion,
    plan: &Plan,
    live: &BTreeMap<ObjectKey, Value>,
    opts: &WriteOptions,
) -> Report {
    let hpa_prunes: BTreeMap<(String, String), &ObjectPlan> = plan
        .prune
        .iter()
        .filter(|p| p.kind == Kind::HorizontalPodAutoscaler)
        .map(|p| ((p.namespace.clone(), p.name.clone()), p))
        .collect();
    // Services are independent: apply several at once (objects within one stay in order).
    let results: Vec<(ServiceReport, Option<ObjectKey>)> = stream::iter(&plan.services)
        .map(|svc| {
            let early = hpa_prunes
                .get(&(svc.namespace.clone(), svc.name.clone()))
                .copied();
            execute_service(client, hpa, svc, early, live, opts)
        })
        .buffered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut report = Report::default();
    let mut pruned_early: BTreeSet<ObjectKey> = BTreeSet::new();
    for (sr, early) in results {
        pruned_early.extend(early);
        report.services.push(sr);
    }
    let prunes = plan
        .prune
        .iter()
        .filter(|p| !pruned_early.contains(&(p.kind, p.namespace.clone(), p.name.clone())));
    let results: Vec<ObjectOutcome> = stream::iter(prunes)
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
    report.pruned = pruned;
    report.prune_refused = plan.prune_refused.clone();
    if !held.is_empty() {
        report.prune_refused = Some(format!("{NOT_LEADING}: {} prunes held", held.len()));
    }
    report.prune_held = plan
        .prune_held
        .iter()
        .map(|p| outcome(p, Outcome::Held))
        .chain(held)
        .collect();
    report
}

/// Applies one service's objects in order; stops at the first failure (later objects depend on
/// earlier ones). Returns the HPA it deleted early, if any.
async fn execute_service(
    client: &Client,
    hpa: HpaVersion,
    svc: &ServicePlan,
    hpa_prune: Option<&ObjectPlan>,
    live: &BTreeMap<ObjectKey, Value>,
    opts: &WriteOptions,
) -> (ServiceReport, Option<ObjectKey>) {
    let mut sr = ServiceReport {
        namespace: svc.namespace.clone(),
        name: svc.name.clone(),
        error: svc.error.clone(),
        ..Default::default()
    };
    let mut pruned_early = None;
    if svc.error.is_some() {
        sr.objects = svc
            .objects
            .iter()
            .map(|o| outcome(o, Outcome::Skipped))
            .collect();
        return (sr, None);
    }
    for obj in &svc.objects {
        let Some(desired) = &obj.desired else {
            continue;
        };
        if matches!(obj.action, Action::Unchanged) {
            sr.objects.push(outcome(obj, Outcome::Unchanged));
            continue;
        }
        if sr.error.is_some() || !opts.may_write() {
            // Objects depend on earlier ones: once one is not written, neither are the rest.
            sr.error.get_or_insert_with(|| NOT_LEADING.to_owned());
            sr.objects.push(outcome(obj, Outcome::Skipped));
            continue;
        }
        if obj.kind == Kind::Deployment {
            // Switching to fixed replicas: remove the HPA before it can fight the new count.
            if let Some(p) = hpa_prune {
                sr.objects.push(delete(client, hpa, p).await);
                pruned_early = Some((p.kind, p.namespace.clone(), p.name.clone()));
            }
            if let Some(l) = live.get(&(obj.kind, obj.namespace.clone(), obj.name.clone()))
                && desired.body.pointer("/spec/replicas").is_none()
                && compare::mlsync_owns_replicas(l, FIELD_MANAGER)
                && let Err(e) = handover_replicas(client, hpa, obj, l).await
            {
                let why = format!("failed to hand spec.replicas over to the HPA: {e}");
                sr.error = Some(apply_error(obj, &why));
                sr.objects.push(outcome(obj, Outcome::Failed(why)));
                break;
            }
        }
        let result = apply(client, hpa, obj, &desired.body, opts).await;
        if let Outcome::Failed(why) = &result {
            sr.error = Some(apply_error(obj, why));
            sr.objects.push(outcome(obj, result));
            break;
        }
        sr.objects.push(outcome(obj, result));
    }
    (sr, pruned_early)
}

/// A service's error when one of its objects failed: which object, and the API server's cause.
fn apply_error(obj: &ObjectPlan, why: &str) -> String {
    format!(
        "failed to apply {} {}/{}: {why}",
        obj.kind, obj.namespace, obj.name
    )
}

fn outcome(o: &ObjectPlan, result: Outcome) -> ObjectOutcome {
    ObjectOutcome {
        kind: o.kind,
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        outcome: result,
    }
}

async fn apply(
    client: &Client,
    hpa: HpaVersion,
    obj: &ObjectPlan,
    body: &Value,
    opts: &WriteOptions,
) -> Outcome {
    let api = cluster::api(client, obj.kind, hpa, &obj.namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let done = match obj.action {
        Action::Create => Outcome::Created,
        _ => Outcome::Configured,
    };
    match api.patch(&obj.name, &params, &Patch::Apply(body)).await {
        Ok(_) => done,
        Err(e) if is_immutable(&e) && opts.recreate => {
            let dp = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                ..Default::default()
            };
            if let Err(e) = api.delete(&obj.name, &dp).await {
                return Outcome::Failed(format!(
                    "failed to delete for re-creation: {}",
                    api_message(&e)
                ));
            }
            for _ in 0..60 {
                match api.get_opt(&obj.name).await {
                    Ok(None) => break,
                    Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
                    Err(e) => {
                        return Outcome::Failed(format!(
                            "failed to wait for deletion: {}",
                            api_message(&e)
                        ));
                    }
                }
            }
            match api.patch(&obj.name, &params, &Patch::Apply(body)).await {
                Ok(_) => Outcome::Recreated,
                Err(e) => Outcome::Failed(format!("failed to re-create: {}", api_message(&e))),
            }
        }
        Err(e) if is_immutable(&e) => Outcome::Failed(format!(
            "{} (an immutable field changed; re-run with --recreate to delete and re-create the object)",
            api_message(&e)
        )),
        Err(e) => Outcome::Failed(api_message(&e)),
    }
}

/// Gives `spec.replicas` a second owner holding its current value, so that dropping it from
/// mlsync's applied configuration keeps the running replica count for the HPA to manage
/// (the ownership transfer the Kubernetes server-side apply documentation describes).
async fn handover_replicas(
    client: &Client,
    hpa: HpaVersion,
    obj: &ObjectPlan,
    live: &Value,
) -> Result<(), String> {
    let replicas = live.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
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
    .map_err(|e| api_message(&e))
}

async fn delete(client: &Client, hpa: HpaVersion, p: &ObjectPlan) -> ObjectOutcome {
    let api = cluster::api(client, p.kind, hpa, &p.namespace);
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    let result = match api.delete(&p.name, &dp).await {
        Ok(_) => Outcome::Pruned,
        Err(kube::Error::Api(s)) if s.code == 404 => Outcome::Pruned,
        Err(e) => Outcome::Failed(format!("failed to delete: {}", api_message(&e))),
    };
    outcome(p, result)
}

/// Creates the namespaces mlsync was told to create (server-side apply, labelled as ours).
pub async fn create_namespace(client: &Client, name: &str) -> Result<(), String> {
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
    .map_err(|e| format!("failed to create namespace {name}: {}", api_message(&e)))
}
