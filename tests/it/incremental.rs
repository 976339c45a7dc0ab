//! Incremental reconciles of the daemon, end to end against the real control plane, with the
//! shortest setup a user writes: no `mlsync.yaml` (so no `sourceId`, default paths, home
//! namespace `default`), specs naming their namespace. A commit that changes one service reads
//! and writes only that service's objects, and so does the heal of one drifted service; a service
//! removed from git is pruned by a run that reads only its objects, and the prune guards still
//! count every other service.

use crate::daemon_support;
use crate::support;

use daemon_support::{Daemon, POLL, POLLS, requests_since};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};

const SERVICES: [&str; 5] = ["ant", "bee", "cat", "dog", "eel"];

/// A service without replicas (its rollout completes without a kubelet, so it is synced),
/// with a ConfigMap: three objects (ConfigMap, Deployment, Service).
fn spec(name: &str, ns: &str, version: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  model: {{name: {name}, version: {version}}}\n  image: registry.invalid/{name}:1\n  port: 8080\n  replicas: 0\n  config:\n    MODEL_VERSION: {version}\n"
    )
}

async fn until_skipped_again(d: &mut Daemon, what: &str) {
    let series = "mlsync_reconciles_skipped_total";
    let before = d.metric(series).await;
    for _ in 0..POLLS {
        if d.metric(series).await > before {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(what)
}

async fn model_version(cms: &Api<ConfigMap>, name: &str) -> Option<String> {
    cms.get_opt(&format!("{name}-config"))
        .await
        .unwrap()
        .and_then(|c| c.data)
        .and_then(|d| d.get("MODEL_VERSION").cloned())
}

/// The object a write is about (`kind/name` from `/…/namespaces/NS/KIND/NAME`); Events (the
/// daemon's records of what it did) are not objects it manages.
fn written(request: &str) -> Option<String> {
    let (verb, uri) = request.split_once(' ')?;
    let verb = verb.trim_matches('"');
    if !matches!(verb, "create" | "patch" | "update" | "delete") || uri.contains("/events") {
        return None;
    }
    let path = uri.trim_matches('"').split('?').next()?;
    let parts: Vec<&str> = path.rsplitn(3, '/').collect();
    Some(format!("{}/{}", parts.get(1)?, parts.first()?))
}

fn check_reads(requests: &[String], service: &str, log: &str) {
    for r in requests.iter().filter(|r| r.starts_with("\"list\"")) {
        assert!(
            r.contains(&format!("mlsync.dev%2Fservice+in+%28{service}%29")),
            "a LIST of other services' objects: {r}\n{requests:#?}\n{log}"
        );
    }
}

#[tokio::test]
async fn a_service_changed_in_git_drifted_or_removed_is_the_only_one_read_and_written() {
    // A control plane of its own, so that its audit log holds only this daemon's requests.
    let cp = support::cluster::PrivateCluster::start();
    let ns = cp.namespace("incremental").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("config");
    std::fs::create_dir_all(&repo).unwrap();
    for name in SERVICES {
        std::fs::write(repo.join(format!("{name}.yaml")), spec(name, &ns, "v1")).unwrap();
    }
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1s"];
    let mut d = Daemon::start(tmp.path(), cp.kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    until_skipped_again(&mut d, "a poll skipped once everything is synced").await;
    let audit = cp.audit_log_path().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(cp.client().await, &ns);

    // One spec changes: only its objects are read and written.
    let from = std::fs::read_to_string(&audit).unwrap().lines().count();
    std::fs::write(repo.join("bee.yaml"), spec("bee", &ns, "v2")).unwrap();
    for _ in 0..POLLS {
        if model_version(&cms, "bee").await.as_deref() == Some("v2") {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(model_version(&cms, "bee").await.as_deref(), Some("v2"));
    until_skipped_again(&mut d, "polls skipped again after the change").await;
    let requests = requests_since(&audit, from);
    let writes: Vec<String> = requests.iter().filter_map(|r| written(r)).collect();
    assert!(
        writes.contains(&"configmaps/bee-config".to_owned()),
        "{requests:#?}\n{}",
        d.log()
    );
    assert!(
        writes
            .iter()
            .all(|w| w.ends_with("/bee") || w.ends_with("/bee-config")),
        "writes to other services' objects: {writes:#?}\n{}",
        d.log()
    );
    check_reads(&requests, "bee", &d.log());
    assert!(d.log().contains("looked_at=1"), "{}", d.log());
    let s = d.status().await;
    let services = s["services"].as_array().unwrap();
    assert_eq!(services.len(), 5, "{s}");
    assert!(services.iter().all(|s| s["state"] == "synced"), "{s}");

    // Drift of one service: the heal reads and writes only that service.
    let from = std::fs::read_to_string(&audit).unwrap().lines().count();
    let by_hand = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    let edit = serde_json::json!({"data": {"MODEL_VERSION": "edited"}});
    cms.patch("cat-config", &by_hand, &Patch::Merge(&edit))
        .await
        .unwrap();
    for _ in 0..POLLS {
        if model_version(&cms, "cat").await.as_deref() == Some("v1") {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(model_version(&cms, "cat").await.as_deref(), Some("v1"));
    until_skipped_again(&mut d, "polls skipped again after the heal").await;
    let requests = requests_since(&audit, from);
    let writes: Vec<String> = requests.iter().filter_map(|r| written(r)).collect();
    assert_eq!(
        writes,
        ["configmaps/cat-config"],
        "{requests:#?}\n{}",
        d.log()
    );
    check_reads(&requests, "cat", &d.log());
    let log = d.log();
    let heal = log
        .lines()
        .skip_while(|l| !l.contains("trigger=drift"))
        .find(|l| l.contains("reconciled "))
        .unwrap_or_else(|| panic!("no heal: {log}"));
    assert!(heal.contains("looked_at=1"), "{heal}");

    // One service leaves git: a run that reads only its objects prunes it (1 service of 5
    // is within the prune guards, which count the four it did not read).
    let from = std::fs::read_to_string(&audit).unwrap().lines().count();
    std::fs::remove_file(repo.join("eel.yaml")).unwrap();
    for _ in 0..POLLS {
        if model_version(&cms, "eel").await.is_none() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(model_version(&cms, "eel").await, None, "{}", d.log());
    until_skipped_again(&mut d, "polls skipped again after the prune").await;
    let requests = requests_since(&audit, from);
    let deleted: Vec<String> = requests
        .iter()
        .filter(|r| r.starts_with("\"delete\""))
        .filter_map(|r| written(r))
        .collect();
    assert_eq!(
        deleted.len(),
        3,
        "the ConfigMap, Deployment and Service of eel: {requests:#?}\n{}",
        d.log()
    );
    assert!(deleted.iter().all(|w| w.contains("/eel")), "{deleted:#?}");
    check_reads(&requests, "eel", &d.log());
    let s = d.status().await;
    assert_eq!(s["services"].as_array().unwrap().len(), 4, "{s}");
    assert_eq!(s["pruneRefused"], serde_json::Value::Null, "{s}");
    for name in &SERVICES[..4] {
        assert!(model_version(&cms, name).await.is_some(), "{name} kept");
    }
}
