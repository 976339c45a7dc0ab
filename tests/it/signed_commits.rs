//! `mlsync run --allowed-signers` end to end against the real control plane: commits signed by
//! the real `git commit -S` (SSH keys from `ssh-keygen`) are applied; an unsigned commit on top
//! is not, the cluster keeps the signed revision, and `/status` and the metrics say why.

use crate::daemon_support;
use crate::support;

use std::path::Path;
use std::process::Command;

use daemon_support::{Daemon, POLL, POLLS, echo_spec, repo_config, wait_version};
use support::{GitDaemon, Upstream, cluster, git};

const VERIFIED: &str = r#"mlsync_commit_verifications_total{result="verified"}"#;
const UNSIGNED: &str = r#"mlsync_commit_verifications_total{result="unsigned"}"#;

/// An upstream whose commits are signed with a fresh ed25519 key, and the allowed-signers file
/// listing that key.
fn signed_upstream(dir: &Path) -> (Upstream, std::path::PathBuf) {
    let key = dir.join("signer");
    let ok = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "ci@example.com",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("run ssh-keygen (install openssh-client)")
        .success();
    assert!(ok, "ssh-keygen failed");
    let public = std::fs::read_to_string(dir.join("signer.pub")).unwrap();
    let signers = dir.join("allowed_signers");
    std::fs::write(&signers, format!("ci@example.com {public}")).unwrap();
    let up = Upstream::new(dir);
    for (k, v) in [
        ("gpg.format", "ssh"),
        ("user.signingkey", key.to_str().unwrap()),
        ("commit.gpgsign", "true"),
        ("gpg.ssh.allowedSignersFile", signers.to_str().unwrap()),
    ] {
        git(&up.work, &["config", k, v]);
    }
    (up, signers)
}

async fn wait_status(
    d: &mut Daemon,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..POLLS {
        let s = d.status().await;
        if done(&s) {
            return s;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(what)
}

#[tokio::test]
async fn an_unsigned_commit_on_top_of_a_signed_one_is_not_applied() {
    let ns = cluster().namespace("signed").await;
    let client = cluster().client().await;
    let tmp = tempfile::tempdir().unwrap();
    let (up, signers) = signed_upstream(tmp.path());
    up.commit("mlsync.yaml", &repo_config(&ns), "config");
    let signed = up.commit("services/echo.yaml", &echo_spec("v1"), "echo v1");
    up.push();
    git(&up.work, &["verify-commit", &signed]);
    let git_daemon = GitDaemon::start(&up.base);
    let url = git_daemon.url();
    let args = [
        "--repo",
        &url,
        "--allowed-signers",
        signers.to_str().unwrap(),
        "--interval",
        "1s",
        "--backoff-max",
        "1s",
    ];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    wait_version(&d, &client, &ns, "v1").await;
    wait_status(&mut d, "the signed revision applied", |s| {
        s["revision"] == signed.as_str()
    })
    .await;
    assert!(d.metric(VERIFIED).await >= 1.0);

    // Unsigned, on top: fetched, refused, never applied.
    git(&up.work, &["config", "commit.gpgsign", "false"]);
    let unsigned = up.commit("services/echo.yaml", &echo_spec("v2"), "echo v2, unsigned");
    up.push();
    let s = wait_status(&mut d, "unverifiedCommit in /status", |s| {
        s["unverifiedCommit"]["revision"] == unsigned.as_str()
    })
    .await;
    assert_eq!(s["unverifiedCommit"]["cause"], "commitUnverified", "{s}");
    assert_eq!(s["unverifiedCommit"]["reason"], "unsigned", "{s}");
    assert_eq!(s["revision"], signed.as_str(), "{s}");
    assert_eq!(s["lastReconcile"]["outcome"], "failure", "{s}");
    assert!(d.metric(UNSIGNED).await >= 1.0);
    assert_eq!(
        daemon_support::model_version(&client, &ns).await.as_deref(),
        Some("v1")
    );
    // `mlsync status` says it too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["status", "--addr", &d.addr])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!(
            "Unverified:     commit {} not applied (unsigned) since ",
            &unsigned[..12]
        )),
        "{table}"
    );
    // A Warning Event on the source's inventory ConfigMap says why.
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(client.clone(), &ns);
    let mut found = None;
    for _ in 0..daemon_support::POLLS {
        let list = events.list(&Default::default()).await.unwrap();
        found = list
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("CommitUnverified"));
        if found.is_some() {
            break;
        }
        tokio::time::sleep(daemon_support::POLL).await;
    }
    let event = found.unwrap_or_else(|| d.give_up("a CommitUnverified Event"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains(&unsigned[..12]) && note.contains("(unsigned)"),
        "{note}"
    );
    assert_eq!(
        event.regarding.and_then(|r| r.kind).as_deref(),
        Some("ConfigMap")
    );

    // Signed again: applied, and the refusal is gone from /status.
    git(&up.work, &["config", "commit.gpgsign", "true"]);
    let next = up.commit("services/echo.yaml", &echo_spec("v3"), "echo v3");
    up.push();
    wait_version(&d, &client, &ns, "v3").await;
    let s = wait_status(&mut d, "the next signed revision applied", |s| {
        s["revision"] == next.as_str()
    })
    .await;
    assert!(s.get("unverifiedCommit").is_none(), "{s}");
}
