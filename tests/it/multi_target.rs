//! One daemon, two clusters (issue 15): `mlsync run --config` with two targets, each a real
//! control plane on 127.0.0.1 and an environment of the repo. The API server of one is stopped
//! mid-run: the other keeps converging; started again, it converges too. `/status`, `mlsync
//! status`, the metrics, the logs and the Events name the target.

use crate::daemon_support;
use crate::support;

use std::path::Path;

use daemon_support::{Daemon, POLL, POLLS};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;
use support::cluster::{PrivateCluster, cluster};

const PROD_NS: &str = "ml-prod";

fn spec(version: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: echo\nspec:\n  model: {{name: echo, version: {version}}}\n  image: registry.invalid/echo:1\n  port: 8080\n  replicas: 0\n  config:\n    MODEL_VERSION: {version}\n    STAGE: base\n"
    )
}

/// `key` of the `echo-config` ConfigMap in `ns`, if it exists (and the server answers).
async fn config_value(client: &kube::Client, ns: &str, key: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = api.get_opt("echo-config").await.ok()??;
    cm.data?.get(key).cloned()
}

async fn wait_config(d: &Daemon, client: &kube::Client, ns: &str, want: (&str, &str)) {
    for _ in 0..POLLS {
        if config_value(client, ns, "MODEL_VERSION").await.as_deref() == Some(want.0)
            && config_value(client, ns, "STAGE").await.as_deref() == Some(want.1)
        {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(&format!("echo-config in {ns} getting {want:?}"))
}

fn target<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["targets"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["target"] == name))
        .unwrap_or(&Value::Null)
}

fn write_repo(repo: &Path, staging_ns: &str) {
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::create_dir_all(repo.join("environments/staging")).unwrap();
    std::fs::create_dir_all(repo.join("environments/prod")).unwrap();
    std::fs::write(
        repo.join("mlsync.yaml"),
        format!(
            "paths: [services]\nsourceId: {staging_ns}\ncreateNamespaces: true\nenvironments:\n  staging: {{namespace: {staging_ns}}}\n  prod: {{namespace: {PROD_NS}}}\n"
        ),
    )
    .unwrap();
    std::fs::write(repo.join("services/echo.yaml"), spec("v1")).unwrap();
    std::fs::write(
        repo.join("environments/staging/echo.yaml"),
        "spec:\n  config: {STAGE: staging}\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("environments/prod/echo.yaml"),
        "spec:\n  config: {STAGE: prod}\n",
    )
    .unwrap();
}

#[tokio::test]
async fn one_target_down_never_stops_the_other_and_both_converge() {
    let staging_ns = cluster().namespace("targets").await;
    let prod = PrivateCluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("config");
    write_repo(&repo, &staging_ns);
    let config = tmp.path().join("daemon.yaml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - name: staging\n    environment: staging\n  - name: prod\n    kubeconfig: {}\n    environment: prod\n",
            prod.kubeconfig_path().display()
        ),
    )
    .unwrap();
    let args = [
        "--repo",
        repo.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--interval",
        "1h",
        "--backoff-max",
        "2s",
    ];
    // The staging target uses the daemon's --kubeconfig (the shared control plane).
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    let a = cluster().client().await;
    let b = prod.client().await;
    wait_config(&d, &a, &staging_ns, ("v1", "staging")).await;
    wait_config(&d, &b, PROD_NS, ("v1", "prod")).await;
    d.wait_ready().await;

    // Each target owns its objects under its own id: the environments never prune each other.
    let cms: Api<ConfigMap> = Api::namespaced(b.clone(), PROD_NS);
    let cm = cms.get("echo-config").await.unwrap();
    let source = cm.metadata.labels.unwrap_or_default()["mlsync.dev/source"].clone();
    assert_eq!(source, format!("{staging_ns}-prod"));

    // prod's API server goes down; a change to the base reaches staging all the same.
    prod.stop_apiserver();
    std::fs::write(repo.join("services/echo.yaml"), spec("v2")).unwrap();
    wait_config(&d, &a, &staging_ns, ("v2", "staging")).await;
    let mut failed = None;
    for _ in 0..POLLS {
        let s = d.status().await;
        if target(&s, "prod")["lastReconcile"]["outcome"] == "failure" {
            failed = Some(s);
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let Some(s) = failed else {
        d.give_up("prod's reconcile failing while its API server is down")
    };
    assert_eq!(s["ready"], true, "{s}");
    assert_eq!(
        target(&s, "staging")["lastReconcile"]["outcome"],
        "success",
        "{s}"
    );
    assert_eq!(
        target(&s, "staging")["services"][0]["namespace"],
        staging_ns.as_str(),
        "{s}"
    );

    // One exposition, each family declared once, each series labelled with its target.
    let (_, metrics) = d.get("/metrics").await;
    assert_eq!(
        metrics.matches("# TYPE mlsync_reconciles counter").count(),
        1,
        "{metrics}"
    );
    let series = |target: &str, outcome: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("mlsync_reconciles_total{")
                    && l.contains(&format!("target=\"{target}\""))
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(series("prod", "failure") >= 1.0, "{metrics}");
    assert!(series("staging", "success") >= 2.0, "{metrics}");

    // `mlsync status` shows both targets.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["status", "--addr", &d.addr])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("Target:         staging\n"), "{table}");
    assert!(table.contains("Target:         prod\n"), "{table}");

    // Back up: prod converges too.
    prod.start_apiserver();
    wait_config(&d, &b, PROD_NS, ("v2", "prod")).await;
    assert_eq!(
        config_value(&a, &staging_ns, "STAGE").await.as_deref(),
        Some("staging")
    );

    // Logs and Events name the target.
    let log = d.log();
    assert!(log.contains("target{target=prod}"), "{log}");
    let events: Api<Event> = Api::namespaced(a.clone(), &staging_ns);
    let list = events.list(&ListParams::default()).await.unwrap();
    assert!(
        list.items.iter().any(|e| e
            .reporting_instance
            .as_deref()
            .is_some_and(|i| i == "staging" || i.ends_with("/staging"))),
        "no Event names the target: {:?}",
        list.items
            .iter()
            .map(|e| &e.reporting_instance)
            .collect::<Vec<_>>()
    );
}
