//! What `mlsync run` reports in `/status`, metrics and logs when things go wrong (issue 10,
//! defect 11), each the way a user met it: against the real control plane, a real `git daemon`
//! and the built binary.

use crate::daemon_support;
use crate::support;

use std::path::Path;

use daemon_support::api_proxy::ApiProxy;
use daemon_support::{Daemon, POLL, POLLS, echo_spec, repo_config, wait_version};
use serde_json::Value;
use support::{GitDaemon, Upstream, cluster, git};

fn local_repo(dir: &Path, ns: &str) -> std::path::PathBuf {
    let repo = dir.join("config");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::write(repo.join("mlsync.yaml"), repo_config(ns)).unwrap();
    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v1")).unwrap();
    repo
}

/// Polls `/status` until `done` holds for it; every status seen first passes `check`.
async fn wait_status(
    d: &mut Daemon,
    what: &str,
    check: impl Fn(&Value),
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..POLLS {
        let s = d.status().await;
        check(&s);
        if done(&s) {
            return s;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(what)
}

/// The API server went away after the apply, so the services' health could not be read: they
/// must not be shown as `synced` (the report said 26 `progressing` services turned `synced`).
/// A run reads the health of what it changed after the apply (what it left unchanged it judges
/// from the plan's reads), so the refused reads follow a change in git.
#[tokio::test]
async fn health_that_cannot_be_read_is_unknown_never_synced() {
    let ns = cluster().namespace("status-health").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = local_repo(tmp.path(), &ns);
    let proxy = ApiProxy::start(cluster().kubeconfig_path()).await;
    let kubeconfig = proxy.kubeconfig(tmp.path());
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1s"];
    let mut d = Daemon::start(tmp.path(), &kubeconfig, &args, &[]);
    // No kubelet: the rollout stays in progress.
    let progressing = |s: &Value| s["services"][0]["state"] == "progressing";
    wait_status(&mut d, "echo progressing", |_| {}, progressing).await;

    // From now on the reads of rollout health fail (the plan's reads still work), and git
    // changes the Deployment, whose health must then be read again.
    // (The health check's LIST: mlsync's Deployments of the services it checks.)
    let health = "app.kubernetes.io/managed-by=mlsync,mlsync.dev/service in (echo)";
    proxy.refuse_lists(Some(("deployments", health)));
    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v2")).unwrap();
    let never_synced = |s: &Value| {
        assert_ne!(
            s["services"][0]["state"], "synced",
            "claimed synced without reading health: {s}"
        )
    };
    let unknown = |s: &Value| s["services"][0]["state"] == "unknown";
    let series =
        format!("mlsync_service_status{{service=\"echo\",namespace=\"{ns}\",state=\"unknown\"}} 1");
    // The status and the metrics of the run that changed the Deployment (the next one, a
    // no-op, judges health from its plan's reads again).
    let mut found = None;
    for _ in 0..POLLS {
        let s = d.status().await;
        never_synced(&s);
        if unknown(&s) && d.get("/metrics").await.1.contains(&series) {
            found = Some(s);
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let s = found.unwrap_or_else(|| d.give_up("echo unknown in /status and /metrics"));
    assert!(proxy.refused() > 0);
    assert_eq!(s["services"][0]["lastCause"], "healthUnknown", "{s}");
    let error = s["services"][0]["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("failed to list Deployments in namespace"),
        "{s}"
    );

    // Health readable again: back to what it is.
    proxy.refuse_lists(None);
    wait_status(&mut d, "echo progressing again", |_| {}, progressing).await;
}

/// An object the API server refuses: the per-service warning and `/status` say why (here the
/// namespace's ResourceQuota allows no Service), not only which object.
#[tokio::test]
async fn a_refused_object_is_reported_with_the_api_servers_reason() {
    let ns = cluster().namespace("status-cause").await;
    let tmp = tempfile::tempdir().unwrap();
    let quota = tmp.path().join("quota.yaml");
    std::fs::write(
        &quota,
        format!("apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: no-services\n  namespace: {ns}\nspec:\n  hard:\n    services: \"0\"\n"),
    )
    .unwrap();
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(cluster().kubeconfig_path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    kubectl(&["apply", "-f", quota.to_str().unwrap()]);
    // The quota controller fills in the status that quota admission needs.
    let jsonpath = "-o=jsonpath={.status.hard.services}";
    for _ in 0..POLLS {
        if kubectl(&["-n", &ns, "get", "resourcequota", "no-services", jsonpath]) == "0" {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let repo = local_repo(tmp.path(), &ns);
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    let failed = |s: &Value| s["services"][0]["state"] == "failed";
    let s = wait_status(&mut d, "echo failed", |_| {}, failed).await;
    assert_eq!(s["services"][0]["lastCause"], "applyFailed", "{s}");
    let error = s["services"][0]["lastError"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!("failed to apply Service {ns}/echo: ")),
        "{s}"
    );
    assert!(
        error.contains("exceeded quota: no-services") && error.contains("(Forbidden)"),
        "{s}"
    );
    let log = d.log();
    let warning = log
        .lines()
        .find(|l| l.contains("service not applied"))
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(warning.contains("exceeded quota: no-services"), "{warning}");
}

/// An upstream with mlsync.yaml for `ns` and two services, echo and other.
fn two_services(dir: &Path, ns: &str) -> Upstream {
    let up = Upstream::new(dir);
    up.commit("mlsync.yaml", &repo_config(ns), "config");
    up.commit("services/echo.yaml", &echo_spec("v1"), "echo");
    let other = echo_spec("v1").replace("name: echo\n", "name: other\n");
    up.commit("services/other.yaml", &other, "other");
    up.push();
    up
}

/// A commit that deletes every spec: the mass-prune guard keeps everything, and the daemon
/// says so consistently: the log names no specs and the refusal, `/status` keeps the services
/// that still run (with the refusal as its own field), and their metric series stay.
#[tokio::test]
async fn deleting_every_spec_keeps_reporting_the_services_and_says_why() {
    let ns = cluster().namespace("status-prune").await;
    let tmp = tempfile::tempdir().unwrap();
    let up = two_services(tmp.path(), &ns);
    let git_daemon = GitDaemon::start(&up.base);
    let url = git_daemon.url();
    let args = ["--repo", &url, "--interval", "1s"];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    let both = |s: &Value| s["services"].as_array().is_some_and(|a| a.len() == 2);
    wait_status(&mut d, "two services", |_| {}, both).await;

    git(&up.work, &["rm", "-q", "-r", "services"]);
    git(&up.work, &["commit", "-q", "-m", "delete every spec"]);
    up.push();
    let refused = |s: &Value| !s["pruneRefused"].is_null();
    let s = wait_status(&mut d, "pruneRefused", |_| {}, refused).await;
    let names: Vec<&str> = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "other"], "{s}");
    assert!(
        s["pruneRefused"]["reason"]
            .as_str()
            .unwrap()
            .contains("it would delete all"),
        "{s}"
    );
    assert_eq!(s["pruneRefused"]["heldObjects"], 6, "{s}");
    let metrics = d.get("/metrics").await.1;
    for service in ["echo", "other"] {
        let series = format!("mlsync_service_status{{service=\"{service}\",namespace=\"{ns}\"");
        assert!(metrics.contains(&series), "{series} gone:\n{metrics}");
    }
    assert!(metrics.contains("\nmlsync_prune_refused 1\n"), "{metrics}");
    let log = d.log();
    assert!(log.contains("no MLService specs found"), "{log}");
    assert!(
        log.contains("pruning refused: objects that left git are kept"),
        "{log}"
    );
    let client = cluster().client().await;
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::namespaced(client, &ns);
    assert!(
        api.get_opt("echo").await.unwrap().is_some(),
        "nothing pruned"
    );
}

/// A force-push back to an older commit is followed, with a warning naming both commits and
/// saying the new one is an ancestor of the old one, and counted in a metric.
#[tokio::test]
async fn a_force_push_to_an_older_commit_is_warned_about_and_counted() {
    let ns = cluster().namespace("status-rewrite").await;
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::new(tmp.path());
    up.commit("mlsync.yaml", &repo_config(&ns), "config");
    let old = up.commit("services/echo.yaml", &echo_spec("v1"), "echo v1");
    up.push();
    let git_daemon = GitDaemon::start(&up.base);
    let url = git_daemon.url();
    let args = ["--repo", &url, "--interval", "1s"];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    let client = cluster().client().await;
    wait_version(&d, &client, &ns, "v1").await;
    let new = up.commit("services/echo.yaml", &echo_spec("v2"), "echo v2");
    up.push();
    wait_version(&d, &client, &ns, "v2").await;
    assert_eq!(d.metric("mlsync_source_history_rewrites_total").await, 0.0);

    git(&up.work, &["reset", "-q", "--hard", &old]);
    up.push();
    wait_version(&d, &client, &ns, "v1").await;
    let log = d.log();
    let warning = log
        .lines()
        .find(|l| l.contains("went back to an older commit"))
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains(&format!("previous={new}"))
            && warning.contains(&format!("commit={old}"))
            && warning.contains("went_back=true"),
        "{warning}"
    );
    assert_eq!(d.metric("mlsync_source_history_rewrites_total").await, 1.0);
}
