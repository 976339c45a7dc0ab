//! Kubernetes Events of `mlsync apply`, as `kubectl get events` / `kubectl describe` show them,
//! against a real kube-apiserver (both tested releases serve events.k8s.io/v1): `Applied` about the Deployment, no
//! event for a no-op run or with `--events=false`, `InvalidSpec` / `DecryptFailed` warnings,
//! `Pruned`, and never a secret value.

use crate::daemon_support;
use crate::deploy_support;
use crate::support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use daemon_support::{Daemon, POLL, POLLS, echo_spec, repo_config};
use mlsync::secrets::keys::KeyOptions;
use mlsync::secrets::{SecretSource, SopsSource};
use serde_json::Value;
use support::example::spec;
use support::{Upstream, cluster};

use support::repo::{ConfigRepo as Fixture, root};

impl Fixture {
    /// `mlsync apply --repo <fixture> <args>` with the demo key (unless `key` is false):
    /// (exit code, stdout + stderr).
    fn apply(&self, args: &[&str], key: bool) -> (i32, String) {
        self.apply_as(cluster().kubeconfig_path(), args, key)
    }

    /// Like [`Fixture::apply`], with the credentials of `kubeconfig`.
    fn apply_as(&self, kubeconfig: &Path, args: &[&str], key: bool) -> (i32, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlsync"));
        cmd.arg("apply")
            .arg("--repo")
            .arg(self.dir.path())
            .args(args)
            .env("MLSYNC_KUBECONFIG", kubeconfig)
            .env_remove("KUBECONFIG")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("MLSYNC_EVENTS")
            .env("MLSYNC_LOG", "warn");
        if key {
            cmd.env(
                "SOPS_AGE_KEY",
                std::fs::read_to_string(root().join("example-repo/demo-age-key.txt")).unwrap(),
            );
        } else {
            cmd.env_remove("SOPS_AGE_KEY");
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `kubectl get events -n <ns> -o json`: the raw text and the parsed items.
    fn events(&self) -> (String, Vec<Value>) {
        let text = kubectl(&["get", "events", "-n", &self.ns, "-o", "json"]);
        let list: Value = serde_json::from_str(&text).unwrap();
        (text, list["items"].as_array().unwrap().clone())
    }

    /// Events reported by mlsync (not by the controllers) with `reason`, or with any reason.
    fn mlsync_events(&self, reason: &str) -> Vec<Value> {
        mlsync_events_in(&self.ns, reason)
    }
}

/// Events in `ns` reported by mlsync with `reason` (any reason when empty), selected the way
/// docs/events.md shows (`--field-selector reportingComponent=mlsync`).
fn mlsync_events_in(ns: &str, reason: &str) -> Vec<Value> {
    let text = kubectl(&[
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        "reportingComponent=mlsync",
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&text).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| reason.is_empty() || e["reason"] == reason)
        .cloned()
        .collect()
}

/// Runs the real kubectl against the test cluster; panics with its stderr on failure.
fn kubectl(args: &[&str]) -> String {
    let out = cluster()
        .kubectl()
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kind/name` of an event's object, as `kubectl get events` prints it.
fn object(e: &Value) -> String {
    format!(
        "{}/{}",
        e["involvedObject"]["kind"]
            .as_str()
            .unwrap_or("")
            .to_lowercase(),
        e["involvedObject"]["name"].as_str().unwrap_or("")
    )
}

#[tokio::test]
async fn apply_records_applied_once_and_nothing_for_a_no_op_or_when_disabled() {
    let f = Fixture::new("ev-applied").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    let (code, out) = f.apply(&[], true);
    assert_eq!(code, 0, "{out}");

    let applied = f.mlsync_events("Applied");
    assert_eq!(applied.len(), 1, "{applied:#?}");
    let e = &applied[0];
    assert_eq!(object(e), "deployment/alpha");
    assert_eq!(e["type"], "Normal");
    assert_eq!(e["involvedObject"]["namespace"], f.ns.as_str());
    let note = e["message"].as_str().unwrap();
    assert!(
        note.starts_with("applied working tree: configmap/alpha-config created")
            && note.contains("deployment/alpha created"),
        "{note}"
    );
    // The event carries the Deployment's uid, so `kubectl describe` lists it.
    let describe = kubectl(&["describe", "deployment", "alpha", "-n", &f.ns]);
    assert!(
        describe.contains("Applied") && describe.contains("applied working tree"),
        "{describe}"
    );

    let before = f.mlsync_events("").len();
    assert_eq!(before, 1);
    let (code, out) = f.apply(&[], true);
    assert_eq!(code, 0, "no-op: {out}");
    assert_eq!(
        f.mlsync_events("").len(),
        before,
        "a no-op apply records no event"
    );

    f.write("a.yaml", &spec("alpha", "  replicas: 2\n"));
    let (code, out) = f.apply(&["--events=false"], true);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Deployment") && out.contains("configured"),
        "{out}"
    );
    assert_eq!(
        f.mlsync_events("").len(),
        before,
        "--events=false records none"
    );

    f.write("a.yaml", &spec("alpha", "  replicas: 3\n"));
    let (code, out) = f.apply(&[], true);
    assert_eq!(code, 0, "{out}");
    let applied = f.mlsync_events("Applied");
    assert_eq!(applied.len(), 2, "{applied:#?}");
    assert!(
        applied
            .iter()
            .any(|e| e["message"].as_str().unwrap().starts_with(
                "applied working tree: deployment/alpha configured; rollout: progressing"
            )),
        "{applied:#?}"
    );
}

#[tokio::test]
async fn an_invalid_spec_is_a_warning_about_its_deployment() {
    let f = Fixture::new("ev-invalid").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    assert_eq!(f.apply(&[], true).0, 0);
    f.write("a.yaml", &spec("alpha", "  replicas: many\n"));
    let (code, out) = f.apply(&[], true);
    assert_eq!(code, 2, "{out}");

    let invalid = f.mlsync_events("InvalidSpec");
    assert_eq!(invalid.len(), 1, "{invalid:#?}");
    assert_eq!(invalid[0]["type"], "Warning");
    assert_eq!(object(&invalid[0]), "deployment/alpha");
    assert!(
        invalid[0]["message"]
            .as_str()
            .unwrap()
            .contains("is invalid (run mlsync validate)"),
        "{invalid:#?}"
    );
    assert_eq!(f.mlsync_events("Applied").len(), 1, "only the first apply");
}

/// Every decrypted value of the example repo's secrets files, and its base64 form.
fn example_plaintexts() -> Vec<String> {
    plaintexts_of(&["iris-classifier.enc.yaml", "image-classifier.enc.yaml"])
}

/// Every decrypted value of the example repo's secrets `files`, and its base64 form.
pub(crate) fn plaintexts_of(files: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("demo-age-key.txt");
    std::fs::copy(root().join("example-repo/demo-age-key.txt"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let source = SopsSource::from_options(&KeyOptions {
        age_key_file: Some(key),
    })
    .unwrap();
    let mut values: BTreeMap<String, ()> = BTreeMap::new();
    for file in files {
        let data = source
            .load(&root().join("example-repo/secrets").join(file))
            .unwrap();
        for v in data.entries.values() {
            let text = String::from_utf8(v.expose().to_vec()).unwrap();
            values.insert(base64::engine::general_purpose::STANDARD.encode(&text), ());
            values.insert(text, ());
        }
    }
    assert!(values.contains_key("secure123"), "the example's DB_PASS");
    values.into_keys().collect()
}

/// Copies the example repo's encrypted secrets files (demo key) to `to`.
fn copy_secrets(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["iris-classifier.enc.yaml", "image-classifier.enc.yaml"] {
        std::fs::copy(
            root().join("example-repo/secrets").join(file),
            to.join(file),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn secrets_never_reach_events_and_prunes_and_decrypt_failures_are_recorded() {
    let f = Fixture::new("ev-secret").await;
    copy_secrets(&f.dir.path().join("secrets"));
    let secrets = |file: &str| format!("  replicas: 1\n  secrets:\n    file: secrets/{file}\n");
    f.write(
        "a.yaml",
        &spec("alpha", &secrets("iris-classifier.enc.yaml")),
    );
    f.write(
        "b.yaml",
        &spec("beta", &secrets("image-classifier.enc.yaml")),
    );
    f.write("c.yaml", &spec("gamma", "  replicas: 1\n"));
    let (code, out) = f.apply(&[], true);
    assert_eq!(code, 0, "{out}");
    assert_eq!(f.mlsync_events("Applied").len(), 3);
    let applied = f.mlsync_events("Applied");
    assert!(
        applied.iter().any(|e| e["message"]
            .as_str()
            .unwrap()
            .contains("secret/alpha-secrets created")),
        "{applied:#?}"
    );

    // Without the key: alpha and beta fail and keep their objects; gamma leaves git.
    f.write(
        "a.yaml",
        &spec("alpha", &secrets("iris-classifier.enc.yaml")),
    );
    f.remove("c.yaml");
    let (code, out) = f.apply(&[], false);
    assert_eq!(code, 2, "{out}");
    let failed = f.mlsync_events("DecryptFailed");
    let mut about: Vec<String> = failed.iter().map(object).collect();
    about.sort();
    assert_eq!(
        about,
        ["deployment/alpha", "deployment/beta"],
        "{failed:#?}"
    );
    assert!(failed.iter().all(|e| e["type"] == "Warning"));
    let mut pruned: Vec<String> = f.mlsync_events("Pruned").iter().map(object).collect();
    pruned.sort();
    assert_eq!(
        pruned,
        [
            "configmap/gamma-config",
            "deployment/gamma",
            "service/gamma"
        ]
    );

    let (text, items) = f.events();
    assert!(items.len() >= 8, "{text}");
    for value in example_plaintexts() {
        assert!(
            !text.contains(&value),
            "an event contains a secret value of the example repo"
        );
    }
}

/// A ServiceAccount in the fixture's namespace that may apply mlsync's objects there (and get
/// namespaces) but not create events; returns a kubeconfig with its token.
fn account_without_events(f: &Fixture) -> PathBuf {
    let admin = cluster().kubeconfig_path();
    let ns = &f.ns;
    let rbac = format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: no-events, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: no-events, namespace: {ns}}}
rules:
  - apiGroups: ["", apps, autoscaling]
    resources: [configmaps, secrets, services, deployments, horizontalpodautoscalers]
    verbs: [get, list, create, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: no-events, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: no-events}}
subjects: [{{kind: ServiceAccount, name: no-events, namespace: {ns}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {ns}-get-namespaces}}
rules: [{{apiGroups: [""], resources: [namespaces], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {ns}-get-namespaces}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {ns}-get-namespaces}}
subjects: [{{kind: ServiceAccount, name: no-events, namespace: {ns}}}]
"#
    );
    let file = f.dir.path().join("rbac.yaml");
    std::fs::write(&file, rbac).unwrap();
    deploy_support::kubectl_ok(admin, &["apply", "-f", file.to_str().unwrap()]);
    let user = format!("system:serviceaccount:{ns}:no-events");
    for resource in ["events", "events.events.k8s.io"] {
        let out = deploy_support::kubectl(
            admin,
            &["auth", "can-i", "create", resource, "-n", ns, "--as", &user],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "no",
            "{user} must not create {resource}"
        );
    }
    let dir = f.dir.path().join("kube");
    std::fs::create_dir_all(&dir).unwrap();
    deploy_support::service_account_kubeconfig(admin, ns, "no-events", &dir)
}

#[tokio::test]
async fn forbidden_events_do_not_fail_the_apply_and_warn_once() {
    let f = Fixture::new("ev-forbidden").await;
    let kubeconfig = account_without_events(&f);
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    f.write("b.yaml", &spec("beta", "  replicas: 1\n"));
    let (code, out) = f.apply_as(&kubeconfig, &[], true);
    assert_eq!(code, 0, "the changes were applied: {out}");
    assert!(
        out.contains(&format!("service {}/alpha: applied", f.ns))
            && out.contains(&format!("service {}/beta: applied", f.ns)),
        "{out}"
    );
    assert_eq!(
        out.matches("failed to publish Kubernetes events").count(),
        1,
        "one warning for the two events: {out}"
    );
    assert!(out.contains("forbidden"), "{out}");
    assert_eq!(f.mlsync_events("").len(), 0);

    // The same apply with the admin's rights does record events: the 403 was the reason.
    f.write("b.yaml", &spec("beta", "  replicas: 2\n"));
    let (code, out) = f.apply(&[], true);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("failed to publish"), "{out}");
    assert_eq!(f.mlsync_events("Applied").len(), 1);
}

/// Reconciles the daemon finished, whatever their outcome.
/// Polls handled so far: reconciles of any outcome, and polls skipped because git and the
/// watched cluster were as the last reconcile left them.
async fn reconciles(d: &mut Daemon) -> f64 {
    let mut n = d.metric("mlsync_reconciles_skipped_total").await;
    for outcome in ["success", "partial", "failure"] {
        n += d
            .metric(&format!("mlsync_reconciles_total{{outcome=\"{outcome}\"}}"))
            .await;
    }
    n
}

/// Polls until `events` (mlsync events in `ns` with `reason`) reaches `count`; returns them.
async fn wait_events(d: &Daemon, ns: &str, reason: &str, count: usize) -> Vec<Value> {
    for _ in 0..POLLS {
        let found = mlsync_events_in(ns, reason);
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(&format!("{count} {reason} event(s) in {ns}"))
}

/// Polls until the daemon finished `more` further reconciles.
async fn wait_reconciles(d: &mut Daemon, more: f64) {
    let target = reconciles(d).await + more;
    for _ in 0..POLLS {
        if reconciles(d).await >= target {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up("further polls (reconciled or skipped)")
}

#[tokio::test]
async fn the_daemon_records_a_revision_once_and_does_not_repeat_a_warning() {
    let ns = cluster().namespace("ev-daemon").await;
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::new(tmp.path());
    up.commit("mlsync.yaml", &repo_config(&ns), "config");
    let v1 = up.commit("services/echo.yaml", &echo_spec("v1"), "echo v1");
    up.push();
    let bare = up.bare.to_str().unwrap();
    let args = ["--repo", bare, "--interval", "1s", "--backoff-max", "1s"];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);

    let applied = wait_events(&d, &ns, "Applied", 1).await;
    assert_eq!(object(&applied[0]), "deployment/echo");
    let note = applied[0]["message"].as_str().unwrap();
    assert!(
        note.starts_with(&format!(
            "applied revision {}: configmap/echo-config created",
            &v1[..12]
        )),
        "{note}"
    );
    // The following polls of the same revision change nothing and record nothing.
    wait_reconciles(&mut d, 3.0).await;
    assert_eq!(mlsync_events_in(&ns, "").len(), 1, "{}", d.log());

    // A broken spec: one warning, not repeated by the reconciles that follow.
    let broken = echo_spec("v2").replace("port: 8080", "port: many");
    let v2 = up.commit("services/echo.yaml", &broken, "broken");
    up.push();
    let invalid = wait_events(&d, &ns, "InvalidSpec", 1).await;
    assert_eq!(invalid[0]["type"], "Warning");
    assert_eq!(object(&invalid[0]), "deployment/echo");
    assert!(
        invalid[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("revision {}", &v2[..12])),
        "{invalid:#?}"
    );
    wait_reconciles(&mut d, 3.0).await;
    assert_eq!(mlsync_events_in(&ns, "InvalidSpec").len(), 1, "{}", d.log());
    assert_eq!(mlsync_events_in(&ns, "").len(), 2);
}
