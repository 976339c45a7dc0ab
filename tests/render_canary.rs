//! What `mlsync render` gives for a canary-strategy service: ConfigMap and Secret named after
//! the config hash (each version's pods read their own values), the Deployment's pods on the
//! `stable` track and its pod-template digest; a service without `rollout` renders as before.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Renders one spec (with the example's encrypted secrets file) as JSON objects.
fn render(spec: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::copy(
        root().join("example-repo/secrets/iris-classifier.enc.yaml"),
        dir.path().join("secrets/iris.enc.yaml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("iris.yaml"), spec).unwrap();
    let key = std::fs::read_to_string(root().join("example-repo/demo-age-key.txt")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["render", "-o", "json", "--repo"])
        .arg(dir.path())
        .env("SOPS_AGE_KEY", key)
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    match v {
        Value::Array(items) => items,
        Value::Object(ref o) if o.contains_key("items") => v["items"].as_array().unwrap().clone(),
        other => vec![other],
    }
}

fn spec(threshold: &str, rollout: bool) -> String {
    let rollout = if rollout {
        "  rollout:\n    strategy: canary\n    steps: [{weight: 10, pause: 1m}]\n"
    } else {
        ""
    };
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata: {{name: iris, namespace: ml}}\nspec:\n  model: {{name: iris, version: v1}}\n  image: example/iris:1\n  replicas: 2\n  config: {{THRESHOLD: \"{threshold}\"}}\n  secrets: {{file: secrets/iris.enc.yaml}}\n{rollout}"
    )
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects.iter().find(|o| o["kind"] == kind).unwrap()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn a_canary_service_names_its_config_after_the_values_and_labels_its_track() {
    let objects = render(&spec("0.5", true));
    let cm = of_kind(&objects, "ConfigMap")["metadata"]["name"]
        .as_str()
        .unwrap();
    let secret = of_kind(&objects, "Secret")["metadata"]["name"]
        .as_str()
        .unwrap();
    assert!(is_hex(cm.strip_prefix("iris-config-").unwrap(), 10), "{cm}");
    assert!(
        is_hex(secret.strip_prefix("iris-secrets-").unwrap(), 10),
        "{secret}"
    );
    let d = of_kind(&objects, "Deployment");
    let env_from = &d["spec"]["template"]["spec"]["containers"][0]["envFrom"];
    assert_eq!(env_from[0]["configMapRef"]["name"], cm);
    assert_eq!(env_from[1]["secretRef"]["name"], secret);
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["mlsync.dev/track"],
        "stable"
    );
    assert!(
        d["spec"]["selector"]["matchLabels"]
            .get("mlsync.dev/track")
            .is_none(),
        "the selector is immutable: it stays as it was"
    );
    let digest = d["metadata"]["annotations"]["mlsync.dev/template"]
        .as_str()
        .unwrap();
    assert!(is_hex(digest, 32), "{digest}");

    // Other values: other names and another pod-template digest.
    let again = render(&spec("0.7", true));
    let cm2 = of_kind(&again, "ConfigMap")["metadata"]["name"]
        .as_str()
        .unwrap();
    assert_ne!(cm, cm2);
    let d2 = of_kind(&again, "Deployment");
    assert_ne!(d2["metadata"]["annotations"]["mlsync.dev/template"], digest);
}

#[test]
fn a_service_without_rollout_renders_as_before() {
    let objects = render(&spec("0.5", false));
    assert_eq!(
        of_kind(&objects, "ConfigMap")["metadata"]["name"],
        "iris-config"
    );
    assert_eq!(
        of_kind(&objects, "Secret")["metadata"]["name"],
        "iris-secrets"
    );
    let d = of_kind(&objects, "Deployment");
    assert!(
        d["spec"]["template"]["metadata"]["labels"]
            .get("mlsync.dev/track")
            .is_none()
    );
    assert!(
        d["metadata"]["annotations"]
            .get("mlsync.dev/template")
            .is_none()
    );
}
