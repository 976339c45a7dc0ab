//! The README's first command, `scripts/quickstart.sh`, run as written, as a new user would:
//! once on a machine where kubectl reaches no cluster (the script builds mlsync in release mode,
//! starts a local control plane and applies the example repo), then again with that cluster as
//! "your cluster" (the kubeconfig branch), where the second apply changes nothing.
//!
//! The control plane is the script's own (tests/cluster/start.sh into a temporary directory), not
//! the shared test cluster; it is stopped when the test ends, pass or fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Stops the quick start's control plane when the test ends, however it ends.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("tests/cluster/stop.sh").arg(&self.0).status();
    }
}

fn run_quickstart(env: &[(&str, &Path)], path: &str) -> Output {
    let mut cmd = Command::new("scripts/quickstart.sh");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path);
    // The user's secrets environment must not leak in; the script sets the demo key itself.
    cmd.env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run scripts/quickstart.sh");
    let text = format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scripts/quickstart.sh failed: {text}");
    out
}

fn assert_example_applied(stdout: &str) {
    // `kubectl get configmap,secret,deployment,service,hpa -n ml-demo` as the script prints it.
    for object in [
        "configmap/iris-classifier-config",
        "secret/iris-classifier-secrets",
        "deployment.apps/iris-classifier",
        "service/iris-classifier",
        "horizontalpodautoscaler.autoscaling/iris-classifier",
        "deployment.apps/image-classifier",
    ] {
        assert!(
            stdout.contains(object),
            "`{object}` missing from the kubectl listing:\n{stdout}"
        );
    }
    assert!(stdout.trim_end().ends_with("unchanged"), "{stdout}");
}

#[test]
fn quickstart_applies_the_example_with_and_without_a_cluster() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cp_dir = tmp.path().join("control-plane");
    let _stop = StopOnDrop(cp_dir.clone());
    let system_path = std::env::var("PATH").unwrap_or_default();

    // 1. No cluster reachable: no kubeconfig, so kubectl (if installed at all) finds nothing.
    let nothing = tmp.path().join("no-kubeconfig");
    let out = run_quickstart(
        &[("KUBECONFIG", &nothing), ("MLSYNC_QUICKSTART_DIR", &cp_dir)],
        &system_path,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("== no cluster reachable: starting a local control plane"),
        "{stdout}"
    );
    assert!(stdout.contains("== mlsync apply"), "{stdout}");
    assert_example_applied(&stdout);
    assert!(
        cp_dir.join("kubeconfig").is_file(),
        "the control plane was left running"
    );

    // 2. That control plane is now "your cluster": the script uses it and changes nothing.
    let path = format!("{}:{system_path}", cp_dir.join("bin").display());
    let kubeconfig = cp_dir.join("kubeconfig");
    let out = run_quickstart(&[("KUBECONFIG", &kubeconfig)], &path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("== using the cluster of your current kubeconfig context"),
        "{stdout}"
    );
    assert!(!stdout.contains("no cluster reachable"), "{stdout}");
    assert_example_applied(&stdout);
}
