//! Plays the kubelet's part for Deployments in the test control plane.
//!
//! The control plane has no kubelet and no scheduler, so pods stay `Pending` with no
//! `nodeName`. The apiserver accepts status writes for such pods regardless, so these helpers
//! write `Running`/`Ready` through the `pods/status` subresource exactly like a kubelet would,
//! which lets the ReplicaSet and Deployment controllers see available replicas. Leaving pods
//! alone keeps a rollout unready (to test `progressDeadlineSeconds`).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

/// Annotation carrying a Deployment's (and its ReplicaSets') rollout revision.
const REVISION: &str = "deployment.kubernetes.io/revision";
/// Polling budget: bounded only so a broken controller fails the test instead of hanging it.
const POLLS: u32 = 1200;
const POLL: Duration = Duration::from_millis(100);

/// Waits until the Deployment's current ReplicaSet (the one of its current revision) exists.
pub async fn current_replicaset(client: &Client, ns: &str, deployment: &str) -> ReplicaSet {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    for _ in 0..POLLS {
        let deploy = deployments.get(deployment).await.expect("get Deployment");
        let uid = deploy.metadata.uid.clone().unwrap_or_default();
        if let Some(revision) = deploy.annotations().get(REVISION) {
            let all = replicasets
                .list(&ListParams::default())
                .await
                .expect("list ReplicaSets");
            let found = all.items.into_iter().find(|rs| {
                rs.owner_references()
                    .iter()
                    .any(|o| o.uid == uid && o.controller == Some(true))
                    && rs.annotations().get(REVISION) == Some(revision)
            });
            if let Some(rs) = found {
                return rs;
            }
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "Deployment {ns}/{deployment} got no current ReplicaSet: is kube-controller-manager running?"
    );
}

/// Waits until the ReplicaSet has created `count` pods and returns them.
pub async fn replicaset_pods(client: &Client, ns: &str, rs: &ReplicaSet, count: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    for _ in 0..POLLS {
        let owned: Vec<Pod> = pods
            .list(&ListParams::default())
            .await
            .expect("list pods")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.owner_references().iter().any(|o| o.uid == uid))
            .collect();
        if owned.len() >= count {
            return owned;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "ReplicaSet {ns}/{} did not create {count} pods",
        rs.name_any()
    );
}

/// Writes a kubelet-like status (`Running`, all containers started; `Ready` as given) to a pod
/// through the `pods/status` subresource.
pub async fn set_pod_status(client: &Client, ns: &str, pod: &Pod, ready: bool) {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let status = if ready { "True" } else { "False" };
    let containers: Vec<_> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "ready": ready, "started": true, "restartCount": 0,
                "state": { "running": { "startedAt": now } }
            })
        })
        .collect();
    let patch = json!({
        "status": {
            "phase": "Running",
            "startTime": now,
            "conditions": [
                { "type": "PodScheduled", "status": "True", "lastTransitionTime": now },
                { "type": "Initialized", "status": "True", "lastTransitionTime": now },
                { "type": "ContainersReady", "status": status, "lastTransitionTime": now },
                { "type": "Ready", "status": status, "lastTransitionTime": now }
            ],
            "containerStatuses": containers
        }
    });
    let name = pod.name_any();
    Api::<Pod>::namespaced(client.clone(), ns)
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap_or_else(|e| panic!("failed to patch status of pod {ns}/{name}: {e}"));
}

/// Makes the Deployment's current rollout succeed: marks every pod of its current ReplicaSet
/// Running and Ready. Returns the pod names. Use [`wait_for_condition`] to see the effect.
pub async fn make_deployment_ready(client: &Client, ns: &str, deployment: &str) -> Vec<String> {
    let rs = current_replicaset(client, ns, deployment).await;
    let wanted = rs.spec.replicas.unwrap_or(1);
    let pods = replicaset_pods(client, ns, &rs, usize::try_from(wanted).unwrap_or(0)).await;
    for pod in &pods {
        set_pod_status(client, ns, pod, true).await;
    }
    pods.iter().map(ResourceExt::name_any).collect()
}

/// Makes the Deployment's current rollout fail to become ready: its pods run but never pass
/// readiness (as with a failing readiness probe). Returns the pod names.
pub async fn make_deployment_unready(client: &Client, ns: &str, deployment: &str) -> Vec<String> {
    let rs = current_replicaset(client, ns, deployment).await;
    let wanted = rs.spec.replicas.unwrap_or(1);
    let pods = replicaset_pods(client, ns, &rs, usize::try_from(wanted).unwrap_or(0)).await;
    for pod in &pods {
        set_pod_status(client, ns, pod, false).await;
    }
    pods.iter().map(ResourceExt::name_any).collect()
}

/// Waits until the Deployment has a condition `type_` with the given status (and reason, if
/// given), returning the Deployment; panics with the last seen conditions otherwise.
pub async fn wait_for_condition(
    client: &Client,
    ns: &str,
    deployment: &str,
    type_: &str,
    status: &str,
    reason: Option<&str>,
) -> Deployment {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let mut last = None;
    for _ in 0..POLLS {
        let deploy = api.get(deployment).await.expect("get Deployment");
        let matches = deploy
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_.as_deref() == Some(type_)
                        && c.status.as_deref() == Some(status)
                        && reason.is_none_or(|r| c.reason.as_deref() == Some(r))
                })
            });
        if matches {
            return deploy;
        }
        last = deploy.status.and_then(|s| s.conditions);
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "Deployment {ns}/{deployment} never got condition {type_}={status} ({reason:?}); last conditions: {last:?}"
    );
}
