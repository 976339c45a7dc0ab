//! Single write requests of the executor: server-side apply, re-creation, the replicas
//! hand-over, deletes, namespaces. Each returns a typed failure.

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::core::DynamicObject;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::{FIELD_MANAGER, HANDOVER_MANAGER, outcome};
use crate::cluster;
use crate::reconcile::cause::{ApiFailure, ObjectFailure, RunError, WriteOp};
use crate::reconcile::keys::ObjectRef;
use crate::reconcile::report::{ObjectOutcome, Outcome};
use crate::render::{HpaVersion, Kind, MANAGED_BY, MANAGED_BY_LABEL};

/// How long a re-creation waits for the old object to be gone.
const DELETE_TIMEOUT: Duration = Duration::from_secs(60);

fn failure(op: WriteOp) -> impl FnOnce(kube::Error) -> ObjectFailure {
    move |e| ObjectFailure {
        op,
        api: ApiFailure::from_kube(&e),
    }
}

pub(super) async fn apply(
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
pub(super) async fn recreate(
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
pub(super) async fn handover_replicas(
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

pub(super) async fn delete(client: &Client, hpa: HpaVersion, p: &ObjectRef) -> ObjectOutcome {
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
