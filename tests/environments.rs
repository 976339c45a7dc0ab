//! Environments and their overlays, as a user meets them: `render --env` per merge rule
//! (golden files), `validate` on a corpus of bad overlays (the exact lines), and the defaults
//! (namespace, ownership id) and refusals (unknown environment, a directory leading out).
//!
//! Goldens are rewritten with `MLSYNC_BLESS=1 cargo test --test environments`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/environments")
        .join(name)
}

/// Runs mlsync with `args`; returns (exit code, stdout, stderr).
fn mlsync(args: &[&str], repo: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(args)
        .arg("--repo")
        .arg(repo)
        .env_remove("RUST_LOG")
        .env_remove("MLSYNC_ENV")
        .env_remove("MLSYNC_SOURCE_ID")
        .output()
        .expect("run mlsync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compares `got` with the golden file `path` (or rewrites it under MLSYNC_BLESS).
fn golden(path: &Path, got: &str) {
    if std::env::var_os("MLSYNC_BLESS").is_some() {
        std::fs::write(path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(got, want, "output differs from {}", path.display());
}

/// The value of `key: value` lines of the rendered object of `kind`.
fn object<'a>(rendered: &'a str, kind: &str) -> &'a str {
    rendered
        .split("---\n")
        .find(|d| d.contains(&format!("kind: {kind}\n")))
        .unwrap_or("")
}

fn render(env: &str) -> String {
    let (code, out, err) = mlsync(&["render", "--env", env], &data("merge"));
    assert_eq!(code, 0, "render --env {env}: {err}");
    golden(&data("merge").join(format!("golden/{env}.yaml")), &out);
    out
}

#[test]
fn maps_merge_key_by_key() {
    let out = render("maps");
    let cm = object(&out, "ConfigMap");
    // Changed, added, and kept from the base.
    for line in [
        "LOG_LEVEL: debug",
        "EXTRA: \"yes\"",
        "MODEL_NAME: iris",
        "BATCH: \"4\"",
    ] {
        assert!(cm.contains(line), "{line} missing in\n{cm}");
    }
    let dep = object(&out, "Deployment");
    assert!(dep.contains("app.kubernetes.io/version: v2"), "{dep}");
    // The model name was not in the overlay's `model` mapping: it stays.
    assert!(dep.contains("app.kubernetes.io/name: iris"), "{dep}");
    let hpa = object(&out, "HorizontalPodAutoscaler");
    assert!(
        hpa.contains("maxReplicas: 10") && hpa.contains("minReplicas: 2"),
        "{hpa}"
    );
    // The environment's namespace and ownership id (the repo's id + "-maps").
    assert!(dep.contains("namespace: ml-maps"), "{dep}");
    assert!(dep.contains("mlsync.dev/source: merge-rules-maps"), "{dep}");
}

#[test]
fn lists_replace() {
    let out = render("lists");
    let dep = object(&out, "Deployment");
    assert!(dep.contains("key: dedicated"), "{dep}");
    assert!(
        !dep.contains("key: gpu") && !dep.contains("key: spot"),
        "{dep}"
    );
}

#[test]
fn scalars_replace_and_the_environment_source_id_wins() {
    let out = render("scalars");
    let dep = object(&out, "Deployment");
    assert!(dep.contains("image: registry.local/iris:2.0"), "{dep}");
    assert!(dep.contains("containerPort: 8080"), "{dep}");
    assert!(dep.contains("mlsync.dev/source: scalars-owner"), "{dep}");
    // No namespace of its own: the repo's default.
    assert!(dep.contains("namespace: ml-base"), "{dep}");
}

#[test]
fn null_removes() {
    let out = render("nulls");
    let cm = object(&out, "ConfigMap");
    assert!(!cm.contains("BATCH"), "{cm}");
    assert!(cm.contains("LOG_LEVEL: info"), "{cm}");
    let dep = object(&out, "Deployment");
    assert!(!dep.contains("tolerations"), "{dep}");
    assert!(dep.contains("replicas: 3"), "{dep}");
    assert!(object(&out, "HorizontalPodAutoscaler").is_empty(), "{out}");
}

#[test]
fn without_env_the_base_renders_unchanged_and_overlay_files_are_not_specs() {
    let (code, out, err) = mlsync(&["render"], &data("merge"));
    assert_eq!(code, 0, "{err}");
    let dep = object(&out, "Deployment");
    assert!(dep.contains("image: registry.local/iris:1.0"), "{dep}");
    assert!(dep.contains("mlsync.dev/source: merge-rules\n"), "{dep}");
    assert_eq!(out.matches("\nkind: Deployment\n").count(), 1, "{out}");
}

#[test]
fn validate_checks_the_base_and_every_environment() {
    let (code, out, _) = mlsync(&["validate"], &data("merge"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "base: 1 valid service(s), 0 invalid, 0 error(s)\n\
         environment lists: 1 valid service(s), 0 invalid, 0 error(s)\n\
         environment maps: 1 valid service(s), 0 invalid, 0 error(s)\n\
         environment nulls: 1 valid service(s), 0 invalid, 0 error(s)\n\
         environment scalars: 1 valid service(s), 0 invalid, 0 error(s)\n"
    );
    let (code, out, _) = mlsync(&["validate", "--env", "maps"], &data("merge"));
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "environment maps: 1 valid service(s), 0 invalid, 0 error(s)\n"
        )
    );
}

#[test]
fn bad_overlays_are_reported_where_they_are_written() {
    let (code, out, _) = mlsync(&["validate"], &data("bad"));
    assert_eq!(code, 1, "{out}");
    golden(&data("bad").join("expected.txt"), &out);
}

#[test]
fn a_service_with_a_broken_overlay_is_not_rendered_for_that_environment() {
    // Applying the base alone would put the wrong values into the environment.
    let (code, out, err) = mlsync(&["render", "--env", "not-yaml"], &data("bad"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("kind: Deployment"), "{out}");
    assert!(
        err.contains("environments/not-yaml/iris-classifier.yaml:2:10: invalid YAML"),
        "{err}"
    );
}

#[test]
fn an_unknown_environment_is_an_error_naming_the_declared_ones() {
    for cmd in ["validate", "render"] {
        let (code, out, err) = mlsync(&[cmd, "--env", "prd"], &data("merge"));
        assert_eq!(code, 2, "{cmd}: {out}{err}");
        assert!(
            err.contains(
                "failed to use environment \"prd\": mlsync.yaml declares only: lists, maps, nulls, scalars"
            ),
            "{cmd}: {err}"
        );
    }
}

#[test]
fn an_overlay_directory_leading_out_of_the_repo_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::copy(
        data("merge").join("services/iris.yaml"),
        repo.join("services/iris.yaml"),
    )
    .unwrap();
    std::fs::write(
        repo.join("mlsync.yaml"),
        "paths: [services]\nsourceId: t\nenvironments:\n  prod:\n    path: envs/prod\n",
    )
    .unwrap();
    std::fs::create_dir_all(repo.join("envs")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.join("envs/prod")).unwrap();
    std::fs::write(
        outside.path().join("iris.yaml"),
        "spec: {image: evil/iris:1}\n",
    )
    .unwrap();
    let (code, out, err) = mlsync(&["render", "--env", "prod"], repo);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("evil/iris"), "{out}");
    assert!(!out.contains("kind: Deployment"), "{out}");
    assert!(
        err.contains("mlsync.yaml:5:5: environments.prod.path: must stay inside the repo (the symbolic link envs/prod points outside it)"),
        "{err}"
    );
}

#[test]
fn the_shortest_environment_config_uses_the_defaults() {
    // `environments: {prod: {}}` and one overlay in environments/prod: the namespace is the
    // repo default ("default"), the ownership id the repo's plus "-prod".
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    std::fs::create_dir_all(repo.join("environments/prod")).unwrap();
    std::fs::copy(
        data("merge").join("services/iris.yaml"),
        repo.join("iris.yaml"),
    )
    .unwrap();
    std::fs::write(
        repo.join("mlsync.yaml"),
        "sourceId: shop\nenvironments: {prod: {}}\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("environments/prod/iris.yaml"),
        "spec: {model: {version: v9}}\n",
    )
    .unwrap();
    let (code, out, err) = mlsync(&["render", "--env", "prod"], repo);
    assert_eq!(code, 0, "{err}");
    let dep = object(&out, "Deployment");
    assert!(dep.contains("namespace: default"), "{dep}");
    assert!(dep.contains("mlsync.dev/source: shop-prod"), "{dep}");
    assert!(dep.contains("app.kubernetes.io/version: v9"), "{dep}");
    assert_eq!(out.matches("\nkind: Deployment\n").count(), 1, "{out}");
    let (code, out, _) = mlsync(&["validate"], repo);
    assert_eq!(code, 0, "{out}");
}

/// The ```sh blocks of docs/environments.md, each as its command lines.
pub fn doc_blocks() -> Vec<Vec<String>> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/environments.md"))
            .unwrap();
    doc.split("```sh\n")
        .skip(1)
        .map(|b| {
            b.split("```")
                .next()
                .unwrap_or("")
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn the_docs_commands_without_a_cluster_run_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("example-repo");
    let status = Command::new("cp")
        .arg("-r")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let bin = Path::new(env!("CARGO_BIN_EXE_mlsync")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let blocks = doc_blocks();
    let mut outputs = Vec::new();
    for line in &blocks[0] {
        let out = Command::new("sh")
            .args(["-c", line])
            .current_dir(tmp.path())
            .env("PATH", &path)
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("MLSYNC_ENV")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{line}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(stdout);
    }
    // validate prints what the docs show; render shows prod's values.
    assert!(
        outputs[1].starts_with("base: 2 valid service(s)"),
        "{}",
        outputs[1]
    );
    let dep = object(&outputs[2], "Deployment");
    assert!(dep.contains("namespace: ml-prod"), "{dep}");
    assert!(
        dep.contains("mlsync.dev/source: example-repo-prod"),
        "{dep}"
    );
    let hpa = object(&outputs[2], "HorizontalPodAutoscaler");
    assert!(
        hpa.contains("maxReplicas: 10") && hpa.contains("minReplicas: 3"),
        "{hpa}"
    );
}
