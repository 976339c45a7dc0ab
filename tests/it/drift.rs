//! Drift healing from watches (`mlsync run --self-heal`), end to end against the real control
//! plane: with the poll interval set to an hour, objects changed or deleted by hand come back
//! without a commit or a poll; someone who keeps changing an object back gets a DriftFight;
//! `--self-heal=false` only reports.

use crate::daemon_support;
use crate::support;

use std::path::{Path, PathBuf};

use daemon_support::{Daemon, POLL, POLLS, repo_config, requests_since};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::cluster;

/// A service with a fixed replica count (no HPA), a ConfigMap and a Service.
const SPEC: &str = "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: drift
spec:
  model: {name: drift, version: v1}
  image: registry.invalid/drift:1
  port: 8080
  replicas: 2
  config:
    THRESHOLD: \"0.5\"
  service: {type: ClusterIP, port: 80}
";

fn repo(dir: &Path, ns: &str) -> PathBuf {
    let repo = dir.join("config");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::write(repo.join("mlsync.yaml"), repo_config(ns)).unwrap();
    std::fs::write(repo.join("services/drift.yaml"), SPEC).unwrap();
    repo
}

/// Someone else's change, as `kubectl edit` would make it (a merge patch by another manager).
fn by_hand() -> PatchParams {
    PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    }
}

/// Polls until `check` holds, or fails the test with the daemon's log.
async fn until<F, Fut>(d: &Daemon, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..POLLS {
        if check().await {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(what)
}

/// Sets `THRESHOLD` of `drift-config` to 0.9 by hand.
async fn edit_threshold(cms: &Api<ConfigMap>) {
    let edit = json!({"data": {"THRESHOLD": "0.9"}});
    cms.patch("drift-config", &by_hand(), &Patch::Merge(edit))
        .await
        .unwrap();
}

/// Waits until `THRESHOLD` of `drift-config` is git's 0.5 again.
async fn restored(d: &Daemon, cms: &Api<ConfigMap>, what: &str) {
    until(d, what, || async {
        threshold(cms).await.as_deref() == Some("0.5")
    })
    .await;
}

async fn threshold(cms: &Api<ConfigMap>) -> Option<String> {
    cms.get_opt("drift-config")
        .await
        .unwrap()
        .and_then(|c| c.data)
        .and_then(|d| d.get("THRESHOLD").cloned())
}

async fn start(tmp: &Path, ns: &str, extra: &[&str]) -> Daemon {
    let repo = repo(tmp, ns);
    let mut args = vec!["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = Daemon::start(tmp, cluster().kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    d
}

#[tokio::test]
async fn changed_and_deleted_objects_come_back_without_a_commit_or_a_poll() {
    let ns = cluster().namespace("drift-heal").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(tmp.path(), &ns, &[]).await;
    let client = cluster().client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(client, &ns);
    let image = |d: &Deployment| {
        d.spec
            .template
            .spec
            .as_ref()
            .map(|p| p.containers[0].image.clone())
    };

    // kubectl set image
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "model", "image": "registry.invalid/drift:hacked"}]}}}});
    deployments
        .patch("drift", &by_hand(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    until(&d, "the Deployment's image restored", || async {
        let dep = deployments.get("drift").await.unwrap();
        image(&dep) == Some(Some("registry.invalid/drift:1".to_owned()))
    })
    .await;

    // kubectl scale (the service has no autoscaling: replicas are mlsync's)
    deployments
        .patch(
            "drift",
            &by_hand(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    until(&d, "the Deployment's replicas restored", || async {
        deployments.get("drift").await.unwrap().spec.replicas == Some(2)
    })
    .await;

    // kubectl edit of a ConfigMap value
    edit_threshold(&cms).await;
    restored(&d, &cms, "the ConfigMap value restored").await;

    // kubectl delete service
    let uid = services.get("drift").await.unwrap().metadata.uid;
    services
        .delete("drift", &DeleteParams::default())
        .await
        .unwrap();
    until(&d, "the Service re-created", || async {
        services
            .get_opt("drift")
            .await
            .unwrap()
            .is_some_and(|s| s.metadata.uid != uid)
    })
    .await;

    // Each heal was a reconcile triggered by the drift, not by a poll; /status and the metrics
    // saw the drifts, and lists nothing once all is back.
    let log = d.log();
    assert!(log.contains("trigger=drift"), "{log}");
    assert!(!log.contains("trigger=poll"), "{log}");
    let mut s = d.status().await;
    for _ in 0..POLLS {
        if s["drift"]["objects"] == json!([]) {
            break;
        }
        tokio::time::sleep(POLL).await;
        s = d.status().await;
    }
    assert_eq!(s["drift"]["objects"], json!([]), "{s}");
    assert_eq!(s["drift"]["selfHeal"], true, "{s}");
    assert!(s["drift"]["detected"].as_u64().unwrap() >= 4, "{s}");
    let metrics = d.get("/metrics").await.1;
    for series in [
        r#"mlsync_drift_detected_total{kind="Deployment",drift="changed"}"#,
        r#"mlsync_drift_detected_total{kind="ConfigMap",drift="changed"}"#,
        r#"mlsync_drift_detected_total{kind="Service",drift="deleted"}"#,
    ] {
        assert!(
            daemon_support::metric(&metrics, series) >= 1.0,
            "{series}\n{metrics}"
        );
    }
}

#[tokio::test]
async fn someone_who_keeps_changing_an_object_back_gets_a_drift_fight() {
    let ns = cluster().namespace("drift-fight").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(tmp.path(), &ns, &[]).await;
    let client = cluster().client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    // Another writer sets its value whenever mlsync has put git's back.
    let mut fighting = false;
    for round in 0..200 {
        if threshold(&cms).await.as_deref() != Some("0.9") {
            edit_threshold(&cms).await;
        }
        let s = d.status().await;
        let objects = s["drift"]["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if objects
            .iter()
            .any(|o| o["name"] == "drift-config" && !o["fightUntil"].is_null())
        {
            fighting = true;
            break;
        }
        assert!(round < 199, "no DriftFight in /status: {s}\n{}", d.log());
        tokio::time::sleep(POLL).await;
    }
    assert!(fighting);
    // Healing pauses: the other writer's value stays.
    edit_threshold(&cms).await;
    for _ in 0..20 {
        tokio::time::sleep(POLL).await;
        assert_eq!(threshold(&cms).await.as_deref(), Some("0.9"), "{}", d.log());
    }
    let metrics = d.get("/metrics").await.1;
    assert_eq!(
        daemon_support::metric(&metrics, r#"mlsync_drift_fights_total{kind="ConfigMap"}"#),
        1.0,
        "{metrics}"
    );
    assert!(d.log().contains("DriftFight"), "{}", d.log());
    let events = cluster()
        .kubectl()
        .args(["get", "events.events.k8s.io", "-n", &ns, "-o", "json"])
        .output()
        .unwrap();
    let events: serde_json::Value = serde_json::from_slice(&events.stdout).unwrap();
    let fight = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "DriftFight")
        .unwrap_or_else(|| panic!("no DriftFight event: {events}"));
    assert_eq!(fight["type"], "Warning");
    assert_eq!(fight["regarding"]["name"], "drift-config");
    assert_eq!(fight["regarding"]["kind"], "ConfigMap");
}

#[tokio::test]
async fn without_self_heal_drift_is_reported_and_left_alone() {
    let ns = cluster().namespace("drift-report").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(tmp.path(), &ns, &["--self-heal=false"]).await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster().client().await, &ns);
    edit_threshold(&cms).await;
    let mut reported = serde_json::Value::Null;
    for _ in 0..POLLS {
        let s = d.status().await;
        if s["drift"]["objects"]
            .as_array()
            .is_some_and(|o| !o.is_empty())
        {
            reported = s;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let objects = &reported["drift"]["objects"];
    assert_eq!(
        reported["drift"]["selfHeal"],
        false,
        "{reported}\n{}",
        d.log()
    );
    assert_eq!(objects[0]["kind"], "ConfigMap", "{reported}");
    assert_eq!(objects[0]["name"], "drift-config");
    assert_eq!(objects[0]["drift"], "changed");
    assert_eq!(
        objects[0]["changes"],
        json!(["data.THRESHOLD changed in the cluster"])
    );
    // Left alone: only reported.
    for _ in 0..20 {
        tokio::time::sleep(POLL).await;
        assert_eq!(threshold(&cms).await.as_deref(), Some("0.9"));
    }
    assert!(!d.log().contains("trigger=drift"), "{}", d.log());
}

#[tokio::test]
async fn the_drift_watch_survives_an_api_server_restart() {
    // A control plane of its own: its API server is killed and started again.
    let cp = support::cluster::PrivateCluster::start();
    let ns = cp.namespace("drift-restart").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path(), &ns);
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    let mut d = Daemon::start(tmp.path(), cp.kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    let cms: Api<ConfigMap> = Api::namespaced(cp.client().await, &ns);
    restored(&d, &cms, "the ConfigMap applied").await;

    cp.restart_apiserver();
    // The watch reconnects (kube's runtime, with backoff): a later edit is healed, still
    // without a commit or a poll.
    let cms: Api<ConfigMap> = Api::namespaced(cp.client().await, &ns);
    edit_threshold(&cms).await;
    until(
        &d,
        "the ConfigMap value restored after the restart",
        || async { threshold(&cms).await.as_deref() == Some("0.5") },
    )
    .await;
    let log = d.log();
    assert!(log.contains("drift watch interrupted"), "{log}");
    assert!(log.contains("trigger=drift"), "{log}");
    assert!(!log.contains("trigger=poll"), "{log}");
    assert!(d.is_running());
}

#[tokio::test]
async fn a_poll_that_finds_git_and_the_cluster_unchanged_sends_no_request() {
    // A control plane of its own, so that its audit log holds only this daemon's requests.
    let cp = support::cluster::PrivateCluster::start();
    let ns = cp.namespace("drift-noop").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("config");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::write(repo.join("mlsync.yaml"), repo_config(&ns)).unwrap();
    // No replicas: the rollout completes without a kubelet, so the service is synced.
    std::fs::write(
        repo.join("services/drift.yaml"),
        SPEC.replace("replicas: 2", "replicas: 0"),
    )
    .unwrap();
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1s"];
    let mut d = Daemon::start(tmp.path(), cp.kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    let skipped = r#"mlsync_reconciles_skipped_total"#;
    for _ in 0..POLLS {
        if d.metric(skipped).await >= 1.0 {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let s = d.status().await;
    assert_eq!(s["services"][0]["state"], "synced", "{s}\n{}", d.log());
    let audit = cp.audit_log_path().unwrap();
    let from = std::fs::read_to_string(&audit).unwrap().lines().count();
    let before = d.metric(skipped).await;
    assert!(before >= 1.0, "{}", d.log());
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let after = d.metric(skipped).await;
    assert!(
        after >= before + 3.0,
        "polls skipped: {before} -> {after}\n{}",
        d.log()
    );
    assert_eq!(
        requests_since(&audit, from),
        Vec::<String>::new(),
        "{}",
        d.log()
    );

    // The cache still knows what happens: an edit is healed, and the next polls reconcile
    // once (the heal's own events) before they skip again.
    let cms: Api<ConfigMap> = Api::namespaced(cp.client().await, &ns);
    edit_threshold(&cms).await;
    restored(&d, &cms, "the ConfigMap value restored").await;
    let healed = d.metric(skipped).await;
    for _ in 0..POLLS {
        if d.metric(skipped).await > healed {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up("polls skipped again after the heal")
}
