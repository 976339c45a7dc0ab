//! `mlsync validate` on a corpus of bad specs: exit codes and the exact lines users see.

use std::path::Path;
use std::process::Command;

const GOOD: &str = "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: iris
spec:
  model:
    name: iris
    version: v1
  image: example/iris:1
  resources:
    requests:
      cpu: 100m
    limits:
      cpu: 500m
  autoscaling:
    minReplicas: 2
    maxReplicas: 5
    targetCPUUtilizationPercentage: 50
";

/// Runs `mlsync validate --repo DIR`; returns (exit code, stdout lines).
fn validate(dir: &Path) -> (i32, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["validate", "--repo"])
        .arg(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (
        out.status.code().unwrap_or(-1),
        stdout.lines().map(str::to_owned).collect(),
    )
}

/// A repo with the given files (path, content).
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

/// Asserts that validating a repo holding only `svc.yaml` exits 1 with exactly `errors`.
fn assert_errors(yaml: &str, errors: &[&str]) {
    let dir = repo(&[("svc.yaml", yaml)]);
    let (code, lines) = validate(dir.path());
    assert_eq!(code, 1, "{lines:#?}");
    let (body, summary) = lines.split_at(lines.len() - 1);
    assert_eq!(body, errors, "for input:\n{yaml}");
    assert!(
        summary[0].ends_with(&format!("{} error(s)", errors.len())),
        "{summary:?}"
    );
}

#[test]
fn a_valid_repo_exits_zero() {
    let dir = repo(&[("svc.yaml", GOOD)]);
    let (code, lines) = validate(dir.path());
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines, vec!["1 valid service(s), 0 invalid, 0 error(s)"]);
}

#[test]
fn the_example_repo_is_valid() {
    let (code, lines) = validate(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("example-repo")
            .as_path(),
    );
    assert_eq!(
        lines,
        vec![
            "base: 2 valid service(s), 0 invalid, 0 error(s)",
            "environment prod: 2 valid service(s), 0 invalid, 0 error(s)",
            "environment staging: 2 valid service(s), 0 invalid, 0 error(s)",
        ]
    );
    assert_eq!(code, 0);
}

#[test]
fn yaml_syntax_error_has_its_line() {
    assert_errors(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: [iris\nspec: {}\n",
        &["svc.yaml:5:5: invalid YAML: illegal placement of ':' indicator"],
    );
}

/// A spec indented as a whole (e.g. pasted from a larger document) is valid YAML; its problems
/// are reported as problems, not as "invalid YAML" (found by fuzzing: docs/fuzzing.md).
#[test]
fn an_indented_spec_gets_its_real_problems() {
    let indented: String = GOOD
        .replace("maxReplicas: 5", "maxReplicas: 1")
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect();
    assert_errors(
        &format!("# pasted\n{indented}"),
        &["svc.yaml:18:7: spec.autoscaling.maxReplicas: must be at least minReplicas (2), got 1"],
    );
}

#[test]
fn typo_is_an_unknown_field_with_a_suggestion() {
    let yaml = GOOD.replace("  image:", "  replcas: 3\n  image:");
    assert_errors(
        &yaml,
        &["svc.yaml:9:3: spec.replcas: unknown field `replcas`; did you mean `replicas`?"],
    );
}

#[test]
fn wrong_kind_and_api_version() {
    assert_errors(
        &GOOD.replace("kind: MLService", "kind: Deployment"),
        &["svc.yaml:2:1: kind: must be MLService, got Deployment"],
    );
    assert_errors(
        &GOOD.replace("mlsync.dev/v1alpha1", "apps/v1"),
        &["svc.yaml:1:1: apiVersion: must be mlsync.dev/v1alpha1, got apps/v1"],
    );
}

#[test]
fn empty_file() {
    assert_errors(
        "",
        &["svc.yaml:1:1: file is empty: expected at least one MLService document"],
    );
    assert_errors(
        "# nothing but a comment\n---\n",
        &["svc.yaml:1:1: file is empty: expected at least one MLService document"],
    );
}

#[test]
fn names_that_are_not_kubernetes_names() {
    let msg = "must be a DNS-1035 label: at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit";
    assert_errors(
        &GOOD.replace("name: iris\nspec", "name: Iris_Model\nspec"),
        &[&format!("svc.yaml:4:3: metadata.name: {msg}")],
    );
    let long = format!("name: {}\nspec", "a".repeat(64));
    assert_errors(
        &GOOD.replace("name: iris\nspec", &long),
        &[&format!("svc.yaml:4:3: metadata.name: {msg}")],
    );
}

#[test]
fn bad_quantity() {
    assert_errors(
        &GOOD.replace("cpu: 500m", "cpu: 100mm"),
        &[
            "svc.yaml:14:7: spec.resources.limits.cpu: must be a Kubernetes quantity such as 100m, 0.5, 512Mi or 2Gi",
        ],
    );
}

#[test]
fn port_out_of_range() {
    assert_errors(
        &GOOD.replace("  image:", "  port: 70000\n  image:"),
        &["svc.yaml:9:3: spec.port: must be a port number from 1 to 65535"],
    );
}

#[test]
fn min_above_max() {
    assert_errors(
        &GOOD.replace("maxReplicas: 5", "maxReplicas: 1"),
        &["svc.yaml:17:5: spec.autoscaling.maxReplicas: must be at least minReplicas (2), got 1"],
    );
}

#[test]
fn missing_required_field_and_non_string_config() {
    assert_errors(
        &GOOD.replace("  image: example/iris:1\n", "  config:\n    BATCH: 32\n"),
        &[
            "svc.yaml:5:1: spec: missing required field `image`",
            "svc.yaml:10:5: spec.config.BATCH: must be a string; quote numbers and booleans, e.g. \"32\" or \"true\"",
        ],
    );
}

#[test]
fn missing_secrets_file() {
    assert_errors(
        &GOOD.replace(
            "  image: example/iris:1\n",
            "  image: example/iris:1\n  secrets:\n    file: secrets/iris.enc.yaml\n",
        ),
        &["svc.yaml:11:5: spec.secrets.file: file not found in the repo: secrets/iris.enc.yaml"],
    );
}

#[test]
fn duplicate_key_in_a_mapping() {
    assert_errors(
        &GOOD.replace(
            "  image: example/iris:1\n",
            "  image: example/iris:1\n  image: example/iris:2\n",
        ),
        &["svc.yaml:10:3: invalid YAML: duplicate key \"image\" (first at line 9)"],
    );
}

#[test]
fn every_error_of_every_document_is_reported() {
    let first = GOOD.replace("  image:", "  port: 0\n  image:");
    let second = GOOD
        .replace("name: iris\n", "name: iris-two\n")
        .replace("cpu: 500m", "cpu: lots");
    assert_errors(
        &format!("{first}---\n{second}"),
        &[
            "svc.yaml:9:3: spec.port: must be a port number from 1 to 65535",
            "svc.yaml:34:7: spec.resources.limits.cpu: must be a Kubernetes quantity such as 100m, 0.5, 512Mi or 2Gi",
        ],
    );
}

#[test]
fn duplicate_service_names_across_files() {
    let dir = repo(&[("a.yaml", GOOD), ("b/c.yaml", GOOD)]);
    let (code, lines) = validate(dir.path());
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        vec![
            "b/c.yaml:4:3: metadata.name: duplicate service default/iris: also defined at a.yaml:4",
            "0 valid service(s), 1 invalid, 1 error(s)",
        ]
    );
}

#[test]
fn not_a_mapping_and_garbage_do_not_panic() {
    assert_errors(
        "- a\n- b\n",
        &["svc.yaml:1:1: must be a mapping with apiVersion, kind, metadata and spec"],
    );
    assert_errors(
        "just a string\n",
        &["svc.yaml:1:1: must be a mapping with apiVersion, kind, metadata and spec"],
    );
    let dir = repo(&[]);
    std::fs::write(dir.path().join("bin.yaml"), [0xffu8, 0xfe, 0x00, 0x41]).unwrap();
    let (code, lines) = validate(dir.path());
    assert_eq!(
        lines,
        [
            "bin.yaml:1:1: not UTF-8 text (invalid byte 0xff)",
            "0 valid service(s), 0 invalid, 1 error(s)"
        ]
    );
    assert_eq!(code, 1, "a file that is not text is one more problem");
}

#[test]
fn missing_repo_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["validate", "--repo", "/nonexistent/mlsync-repo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("failed to read config repo /nonexistent/mlsync-repo"),
        "{stderr}"
    );
}

#[test]
fn secrets_files_and_hidden_dirs_are_not_specs() {
    let dir = repo(&[
        ("svc.yaml", GOOD),
        (
            "secrets/iris.enc.yaml",
            "DB_PASS: ENC[AES256_GCM,data:xx]\nsops: {version: 3.8.1}\n",
        ),
        (
            "other/plain-sops.yaml",
            "A: ENC[x]\nsops:\n  version: 3.8.1\n",
        ),
        (".github/workflows/ci.yaml", "on: push\n"),
    ]);
    let (code, lines) = validate(dir.path());
    assert_eq!(
        (code, lines),
        (
            0,
            vec!["1 valid service(s), 0 invalid, 0 error(s)".to_owned()]
        )
    );
}

#[test]
fn invalid_repo_config() {
    let dir = repo(&[("mlsync.yaml", "defaultNamespce: ml\n"), ("svc.yaml", GOOD)]);
    let (code, lines) = validate(dir.path());
    assert_eq!(code, 1);
    assert_eq!(
        lines[0],
        "mlsync.yaml:1:1: defaultNamespce: unknown field `defaultNamespce`; did you mean `defaultNamespace`?"
    );
}
