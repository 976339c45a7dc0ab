//! Kubernetes Events of `mlsync apply`, as `kubectl get events` / `kubectl describe` show them,
//! against a real kube-apiserver (v1.20, events.k8s.io/v1): `Applied` about the Deployment, no
//! event for a no-op run or with `--events=false`, `InvalidSpec` / `DecryptFailed` warnings,
//! `Pruned`, and never a secret value.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use mlsync::secrets::keys::KeyArgs;
use mlsync::secrets::{SecretSource, SopsSource};
use serde_json::Value;
use support::cluster;

/// A config repo in a temp dir, targeting a fresh namespace.
struct Fixture {
    dir: tempfile::TempDir,
    ns: String,
}

fn spec(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: {name}
spec:
  model:
    name: {name}
    version: v1
  image: example/{name}:1
  config:
    MODEL_NAME: {name}
  resources:
    requests:
      cpu: 100m
    limits:
      cpu: 500m
{extra}"
    )
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Fixture {
    async fn new(prefix: &str) -> Self {
        let ns = cluster().namespace(prefix).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("services")).unwrap();
        std::fs::write(
            dir.path().join("mlsync.yaml"),
            format!("defaultNamespace: {ns}\nsourceId: src-{ns}\npaths: [services]\n"),
        )
        .unwrap();
        Fixture { dir, ns }
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join("services").join(file), text).unwrap();
    }

    fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.path().join("services").join(file)).unwrap();
    }

    /// `mlsync apply --repo <fixture> <args>` with the demo key (unless `key` is false):
    /// (exit code, stdout + stderr).
    fn apply(&self, args: &[&str], key: bool) -> (i32, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlsync"));
        cmd.arg("apply")
            .arg("--repo")
            .arg(self.dir.path())
            .args(args)
            .env("MLSYNC_KUBECONFIG", cluster().kubeconfig_path())
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
        self.events()
            .1
            .into_iter()
            .filter(|e| {
                e["reportingComponent"] == "mlsync" && (reason.is_empty() || e["reason"] == reason)
            })
            .collect()
    }
}

/// Runs the real kubectl against the test cluster; panics with its stderr on failure.
fn kubectl(args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster().kubeconfig_path())
        .args(args)
        .output()
        .expect("kubectl on PATH");
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
    assert_eq!(code, 1, "{out}");

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
    assert_eq!(code, 1, "{out}");
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
    assert_eq!(code, 1, "{out}");
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
    assert_eq!(f.apply(&[], true).0, 1);
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
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("demo-age-key.txt");
    std::fs::copy(root().join("example-repo/demo-age-key.txt"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let source = SopsSource::from_args(&KeyArgs {
        age_key_file: Some(key),
    })
    .unwrap();
    let mut values: BTreeMap<String, ()> = BTreeMap::new();
    for file in ["iris-classifier.enc.yaml", "image-classifier.enc.yaml"] {
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
    assert_eq!(code, 1, "{out}");
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
