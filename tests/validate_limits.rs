//! `mlsync validate` refuses what the API server would refuse at apply (issue 10, defect 10) and
//! names that mlsync uses itself (defect 9), each as a `file:line:column` line; Secret values,
//! known only after decryption, are checked at render. Whether the limits are the API server's
//! own is shown against a real one in `tests/api_limits.rs`.

use std::path::Path;
use std::process::Command;

const SPEC: &str = "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: iris
spec:
  model: {name: iris, version: v1}
  image: example/iris:1
";

/// Validates a repo holding `mlsync.yaml` (if given) and `svc.yaml`; returns (code, stdout).
fn validate(config: Option<&str>, spec: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    if let Some(c) = config {
        std::fs::write(dir.path().join("mlsync.yaml"), c).unwrap();
    }
    std::fs::write(dir.path().join("svc.yaml"), spec).unwrap();
    run(dir.path())
}

fn run(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["validate", "--repo"])
        .arg(dir)
        .env("MLSYNC_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// Asserts that `spec` (appended lines after SPEC) fails with exactly `line`.
fn refused(extra: &str, line: &str) {
    let (code, out) = validate(None, &format!("{SPEC}{extra}"));
    assert_eq!(
        out,
        format!("{line}\n0 valid service(s), 1 invalid, 1 error(s)\n"),
        "for:\n{extra}"
    );
    assert_eq!(code, 1);
}

fn accepted(extra: &str) {
    let (code, out) = validate(None, &format!("{SPEC}{extra}"));
    assert_eq!(
        (code, out.as_str()),
        (0, "1 valid service(s), 0 invalid, 0 error(s)\n"),
        "for:\n{extra}"
    );
}

#[test]
fn a_service_may_not_take_the_inventory_name() {
    let spec = SPEC.replace("name: iris\n", "name: mlsync-inventory\n") + "  config: {A: b}\n";
    let (code, out) = validate(Some("sourceId: config\n"), &spec);
    assert_eq!(
        out,
        "svc.yaml:4:3: metadata.name: `mlsync-inventory` is reserved: its ConfigMap \
         mlsync-inventory-config would take the name of the inventory of source `config` \
         (mlsync names them mlsync-inventory-<sourceId>)\n\
         0 valid service(s), 1 invalid, 1 error(s)\n"
    );
    assert_eq!(code, 1);
}

#[test]
fn config_key_of_300_characters() {
    let key = "K".repeat(300);
    refused(
        &format!("  config:\n    {key}: v\n"),
        &format!(
            "svc.yaml:9:5: spec.config.{key}: key is 300 characters long; Kubernetes allows at most 253"
        ),
    );
    accepted(&format!("  config:\n    {}: v\n", "K".repeat(253)));
}

#[test]
fn config_larger_than_a_configmap_holds() {
    let half = "v".repeat(512 * 1024);
    refused(
        &format!("  config:\n    A: {half}\n    B: {half}x\n"),
        "svc.yaml:8:3: spec.config: values total 1048577 bytes; a ConfigMap or Secret holds at most 1048576 (1 MiB)",
    );
    accepted(&format!("  config:\n    A: {half}\n    B: {half}\n"));
}

#[test]
fn label_key_prefix_longer_than_a_dns_subdomain() {
    let prefix = format!("{}.io", "p".repeat(251));
    refused(
        &format!("  nodeSelector:\n    {prefix}/gpu: \"true\"\n"),
        &format!(
            "svc.yaml:9:5: spec.nodeSelector[\"{prefix}/gpu\"]: key `{prefix}/gpu`: prefix `{prefix}` must be a DNS-1123 subdomain of at most 253 characters (e.g. example.com)"
        ),
    );
    let prefix = format!("{}.io", "p".repeat(250));
    accepted(&format!("  nodeSelector:\n    {prefix}/gpu: \"true\"\n"));
}

#[test]
fn annotations_beyond_256_kib() {
    let spec = SPEC.replace(
        "  name: iris\n",
        &format!(
            "  name: iris\n  annotations:\n    a: {}\n",
            "v".repeat(256 * 1024)
        ),
    );
    let (code, out) = validate(None, &spec);
    assert_eq!(
        out,
        "svc.yaml:5:3: metadata.annotations: annotations total 262145 bytes; Kubernetes allows 262144 (256 KiB) per object, of which mlsync keeps 1024 for its own\n\
         0 valid service(s), 1 invalid, 1 error(s)\n"
    );
    assert_eq!(code, 1);
}

#[test]
fn tolerations_and_probes_the_api_refuses() {
    refused(
        "  tolerations:\n  - {key: gpu, operator: Exists, value: \"yes\"}\n",
        "svc.yaml:9:34: spec.tolerations[0].value: must be empty when operator is Exists",
    );
    refused(
        "  tolerations:\n  - {key: gpu, effect: NoSchedule, tolerationSeconds: 60}\n",
        "svc.yaml:9:36: spec.tolerations[0].tolerationSeconds: needs effect: NoExecute",
    );
    refused(
        "  probes:\n    liveness: {path: /healthz, successThreshold: 2}\n",
        "svc.yaml:9:32: spec.probes.liveness.successThreshold: must be 1 for a liveness probe, got 2",
    );
    accepted("  probes:\n    readiness: {path: /healthz, successThreshold: 2}\n");
}

#[test]
fn a_secret_larger_than_the_api_takes_fails_at_render_with_its_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = std::fs::read_to_string(root.join("example-repo/demo-age-key.txt")).unwrap();
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets/big.enc.yaml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, format!("A: {}\n", "v".repeat(1024 * 1024 + 1))).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["secrets", "encrypt", "--in-place", "--age", recipient])
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    let spec = format!("{SPEC}  secrets: {{file: secrets/big.enc.yaml}}\n");
    std::fs::write(dir.path().join("svc.yaml"), spec).unwrap();
    // Values are known only after decryption: validate cannot tell, render can.
    assert_eq!(run(dir.path()).0, 0);
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["render", "--repo"])
        .arg(dir.path())
        .env("SOPS_AGE_KEY", &key)
        .env("MLSYNC_LOG", "warn")
        // No git work tree here: name the ownership id so stderr holds only the error.
        .env("MLSYNC_SOURCE_ID", "limits-test")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "error: default/iris: failed to load {}: the decrypted values total 1048577 bytes; \
             a ConfigMap or Secret holds at most 1048576 (1 MiB)\n",
            file.display()
        )
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
