//! `mlsync run` end to end: the built binary as a child process against the real test control
//! plane, a real `git daemon` on 127.0.0.1, real HTTP to its admin server and real signals.

use crate::daemon_support;
use crate::support;

use std::path::Path;

use daemon_support::{Daemon, POLL, POLLS, echo_spec, github_signature, repo_config};
use kube::Api;
use support::{GitDaemon, Upstream, cluster};

const TEST_WEBHOOK_SECRET: &str = "daemon-test-webhook-secret";
const SUCCESSES: &str = r#"mlsync_reconciles_total{outcome="success"}"#;
const FETCH_ERRORS: &str = "mlsync_git_fetch_errors_total";

async fn model_version(ns: &str) -> Option<String> {
    daemon_support::model_version(&cluster().client().await, ns).await
}

async fn wait_version(daemon: &Daemon, ns: &str, version: &str) {
    daemon_support::wait_version(daemon, &cluster().client().await, ns, version).await
}

/// An upstream whose first commit holds mlsync.yaml for `ns` and the echo service at v1.
fn upstream(dir: &Path, ns: &str) -> Upstream {
    let up = Upstream::new(dir);
    up.commit("mlsync.yaml", &repo_config(ns), "config");
    up.commit("services/echo.yaml", &echo_spec("v1"), "echo v1");
    up.push();
    up
}

fn local_repo(dir: &Path, ns: &str) -> std::path::PathBuf {
    let repo = dir.join("config");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::write(repo.join("mlsync.yaml"), repo_config(ns)).unwrap();
    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v1")).unwrap();
    repo
}

#[tokio::test]
async fn remote_down_keeps_the_daemon_running_and_it_recovers() {
    let ns = cluster().namespace("daemon-remote").await;
    let tmp = tempfile::tempdir().unwrap();
    let up = upstream(tmp.path(), &ns);
    let mut git = GitDaemon::start(&up.base);
    git.stop();
    let url = git.url();
    let args = ["--repo", &url, "--interval", "1s", "--backoff-max", "1s"];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);

    // Before any successful sync: not ready, and the fetch error is reported.
    for i in 0..=POLLS {
        let s = d.status().await;
        let error = s["lastReconcile"]["error"].as_str().unwrap_or("");
        if error.starts_with("failed to fetch branch main") {
            break;
        }
        assert!(i < POLLS, "no fetch error in /status: {s}\n{}", d.log());
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(d.get("/readyz").await.0, 503);
    assert!(d.metric(FETCH_ERRORS).await >= 1.0);

    git.restart();
    d.wait_ready().await;
    wait_version(&d, &ns, "v1").await;
    let v1 = d.status().await["revision"].as_str().unwrap().to_owned();

    // Remote goes away again while running: the daemon stays up and keeps v1 applied.
    let errors = d.metric(FETCH_ERRORS).await;
    git.stop();
    let v2 = up.commit("services/echo.yaml", &echo_spec("v2"), "echo v2");
    up.push();
    for _ in 0..POLLS {
        if d.metric(FETCH_ERRORS).await > errors {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(d.metric(FETCH_ERRORS).await > errors, "{}", d.log());
    assert!(d.is_running());
    assert_eq!(d.get("/readyz").await.0, 200);
    let s = d.status().await;
    assert_eq!(s["lastReconcile"]["outcome"], "failure", "{s}");
    assert_eq!(s["revision"], v1.as_str(), "{s}");
    assert_eq!(model_version(&ns).await.as_deref(), Some("v1"));

    // Back: the new commit is applied.
    git.restart();
    wait_version(&d, &ns, "v2").await;
    for _ in 0..POLLS {
        if d.status().await["revision"] == v2.as_str() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up("/status showing revision v2")
}

#[tokio::test]
async fn signed_webhook_reconciles_a_new_commit_and_bad_signature_is_refused() {
    let ns = cluster().namespace("daemon-hook").await;
    let tmp = tempfile::tempdir().unwrap();
    let up = upstream(tmp.path(), &ns);
    let git = GitDaemon::start(&up.base);
    let secret_file = tmp.path().join("webhook-secret");
    std::fs::write(&secret_file, TEST_WEBHOOK_SECRET).unwrap();
    let url = git.url();
    let secret = secret_file.to_str().unwrap();
    // A long interval: only the startup trigger and webhooks reconcile.
    let args = [
        "--repo",
        &url,
        "--interval",
        "1h",
        "--webhook-secret-file",
        secret,
    ];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    wait_version(&d, &ns, "v1").await;
    let before = d.metric(SUCCESSES).await;
    assert!(before >= 1.0, "{}", d.log());

    let v2 = up.commit("services/echo.yaml", &echo_spec("v2"), "echo v2");
    up.push();
    let body = format!(r#"{{"ref":"refs/heads/main","after":"{v2}"}}"#);
    let bad = github_signature(b"another-test-secret", body.as_bytes());
    let headers = [
        ("x-hub-signature-256", bad.as_str()),
        ("x-github-event", "push"),
    ];
    let (code, _) = d.post("/webhook/github", &headers, body.as_bytes()).await;
    assert_eq!(code, 401);
    let metrics = d.get("/metrics").await.1;
    assert!(
        metrics.contains(
            r#"mlsync_webhook_requests_total{provider="github",result="unauthorized"} 1"#
        ),
        "{metrics}"
    );

    let good = github_signature(TEST_WEBHOOK_SECRET.as_bytes(), body.as_bytes());
    let headers = [
        ("x-hub-signature-256", good.as_str()),
        ("x-github-event", "push"),
    ];
    assert_eq!(
        d.post("/webhook/github", &headers, body.as_bytes()).await.0,
        202
    );
    wait_version(&d, &ns, "v2").await;
    for _ in 0..POLLS {
        if d.metric(SUCCESSES).await > before {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    // Exactly one more reconcile: the signed webhook's (the refused one fired nothing).
    assert_eq!(d.metric(SUCCESSES).await, before + 1.0, "{}", d.log());
    let s = d.status().await;
    assert_eq!(s["revision"], v2.as_str(), "{s}");
    assert_eq!(s["services"][0]["state"], "progressing", "{s}");
    let metrics = d.get("/metrics").await.1;
    assert!(
        metrics.contains(r#"mlsync_objects_applied_total{kind="ConfigMap",action="configured"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn local_directory_edits_are_reconciled() {
    let ns = cluster().namespace("daemon-path").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = local_repo(tmp.path(), &ns);
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    wait_version(&d, &ns, "v1").await;
    let first = d.status().await["revision"].as_str().unwrap().to_owned();
    assert!(first.starts_with("local-"), "{first}");

    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v2")).unwrap();
    wait_version(&d, &ns, "v2").await;
    assert!(d.log().contains("file-change"), "{}", d.log());

    // A broken spec next to a good change: only the broken service is left out.
    let broken = echo_spec("v1")
        .replace("name: echo\n", "name: broken\n")
        .replace("  image: registry.invalid/echo:1\n", "");
    std::fs::write(repo.join("services/broken.yaml"), broken).unwrap();
    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v3")).unwrap();
    wait_version(&d, &ns, "v3").await;
    for _ in 0..POLLS {
        let s = d.status().await;
        if s["lastReconcile"]["outcome"] == "partial" {
            let broken = s["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == "broken");
            let broken = broken.unwrap_or_else(|| panic!("{s}"));
            assert_eq!(broken["state"], "failed", "{s}");
            assert_eq!(broken["lastCause"], "invalidSpec", "{s}");
            assert!(
                broken["lastError"].as_str().unwrap().contains("invalid"),
                "{s}"
            );
            assert_eq!(d.get("/readyz").await.0, 200);
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up("a partial reconcile for the broken spec")
}

#[tokio::test]
async fn sigterm_during_a_reconcile_lets_it_finish_and_exits_zero() {
    let ns = cluster().namespace("daemon-term").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = local_repo(tmp.path(), &ns);
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    wait_version(&d, &ns, "v1").await;

    let started = |log: &str| log.matches("reconcile started").count();
    let n = started(&d.log());
    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v2")).unwrap();
    for _ in 0..POLLS {
        if started(&d.log()) > n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(started(&d.log()) > n, "{}", d.log());
    d.signal("TERM");
    let status = d.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", d.log());
    // The reconcile that had started was completed, not cut off.
    assert_eq!(
        model_version(&ns).await.as_deref(),
        Some("v2"),
        "{}",
        d.log()
    );
    assert!(d.log().contains("mlsync daemon stopped"), "{}", d.log());
}

#[tokio::test]
async fn with_leader_election_only_the_leader_reconciles_and_hands_over_on_sigterm() {
    let ns = cluster().namespace("daemon-lead").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = local_repo(tmp.path(), &ns);
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let args = [
        "--repo",
        repo.to_str().unwrap(),
        "--interval",
        "1h",
        "--source-id",
        &ns,
        "--leader-election",
        "--leader-election-namespace",
        &ns,
        "--lease-duration",
        "2s",
        "--lease-renew-interval",
        "500ms",
    ];
    let kubeconfig = cluster().kubeconfig_path();
    let mut a = Daemon::start(&a_dir, kubeconfig, &args, &[("POD_NAME", "replica-a")]);
    a.wait_ready().await;
    wait_version(&a, &ns, "v1").await;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster().client().await, &ns);
    let lease = leases.get(&format!("mlsync-{ns}")).await.unwrap();
    let holder = lease.spec.unwrap().holder_identity.unwrap_or_default();
    assert!(holder.starts_with("replica-a"), "{holder}");

    let mut b = Daemon::start(&b_dir, kubeconfig, &args, &[("POD_NAME", "replica-b")]);
    for _ in 0..POLLS {
        if b.log().contains("standing by") {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(b.log().contains("standing by"), "{}", b.log());
    assert_eq!(b.get("/readyz").await.0, 503, "{}", b.log());
    assert!(!b.log().contains("reconcile started"), "{}", b.log());

    a.signal("TERM");
    assert_eq!(a.wait_exit().await.code(), Some(0), "{}", a.log());
    // The lease was released: the standby takes over and reconciles.
    b.wait_ready().await;
    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v2")).unwrap();
    wait_version(&b, &ns, "v2").await;
}

#[tokio::test]
async fn rollback_on_failure_reapplies_the_last_good_revision_without_flapping() {
    let ns = cluster().namespace("daemon-rollback").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = local_repo(tmp.path(), &ns);
    let spec = |v: &str| {
        echo_spec(v).replace(
            "  port: 8080\n",
            "  port: 8080\n  progressDeadlineSeconds: 2\n",
        )
    };
    std::fs::write(repo.join("services/echo.yaml"), spec("v1")).unwrap();
    let args = [
        "--repo",
        repo.to_str().unwrap(),
        "--interval",
        "1s",
        "--rollback-on-failure",
    ];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    d.wait_ready().await;
    wait_version(&d, &ns, "v1").await;
    // Play the kubelet: v1's pods become ready, so v1 is the last good revision.
    support::pods::make_deployment_ready(&cluster().client().await, &ns, "echo").await;
    let mut synced = false;
    for _ in 0..POLLS {
        let s = d.status().await;
        if s["services"][0]["state"] == "synced" {
            synced = true;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(synced, "v1 rolled out: {}", d.status().await);

    // v2's pods never become ready: its rollout fails and v1 comes back.
    std::fs::write(repo.join("services/echo.yaml"), spec("v2")).unwrap();
    wait_version(&d, &ns, "v2").await;
    wait_version(&d, &ns, "v1").await;
    assert!(
        d.log().contains("rolling back to the last good revision"),
        "{}",
        d.log()
    );
    let mut reported = false;
    for _ in 0..POLLS {
        let s = d.status().await;
        if s["services"][0]["lastError"]
            .as_str()
            .unwrap_or("")
            .contains("rolled back")
        {
            assert_eq!(s["services"][0]["state"], "degraded", "{s}");
            assert_eq!(s["services"][0]["lastCause"], "rolloutFailed", "{s}");
            reported = true;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(
        reported,
        "status reports the rollback: {}",
        d.status().await
    );

    // No flapping: further polls of the same (bad) revision keep v1 (each reconciles, or is
    // skipped because git and the watched cluster are as the last reconcile left them).
    const SKIPPED: &str = "mlsync_reconciles_skipped_total";
    let seen = d.metric(SUCCESSES).await + d.metric(SKIPPED).await;
    let mut polls = seen;
    for _ in 0..POLLS {
        polls = d.metric(SUCCESSES).await + d.metric(SKIPPED).await;
        if polls >= seen + 3.0 {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(polls >= seen + 3.0, "the daemon kept polling");
    assert_eq!(model_version(&ns).await.as_deref(), Some("v1"));

    // Git moves on: the pin is dropped and the new revision applies.
    std::fs::write(repo.join("services/echo.yaml"), spec("v3")).unwrap();
    wait_version(&d, &ns, "v3").await;
}
