//! The in-cluster agent's configuration, end to end as far as it can run here (no kubelet):
//! `mlsync run` with the settings of `deploy/deployment.yaml` and `deploy/config.yaml` (git
//! mode, leader election with the Lease in `mlsync-system`, admin on `0.0.0.0`) and only the
//! `mlsync-system/mlsync` ServiceAccount's token, reconciles the example repo, holds and then
//! releases its Lease, and exits 0 on SIGTERM.

use crate::deploy_support;
use crate::support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use deploy_support::{deploy_dir, kubectl_ok, service_account_kubeconfig};
use support::cluster;

/// Bound for waiting on the daemon, only so a broken daemon fails the test instead of hanging.
const ATTEMPTS: u32 = 1800;

fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn agent_daemon_reconciles_and_leads_with_deploy_rbac() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.blocking_lock();
    let admin = cluster().kubeconfig_path();
    kubectl_ok(admin, &["apply", "-k", deploy_dir().to_str().unwrap()]);
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(admin, "mlsync-system", "mlsync", tmp.path());

    // The age identity as the Deployment mounts it: a file named by SOPS_AGE_KEY_FILE.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let age_dir = tmp.path().join("age");
    std::fs::create_dir(&age_dir).unwrap();
    let age_key = age_dir.join("age-key");
    std::fs::copy(root.join("example-repo/demo-age-key.txt"), &age_key).unwrap();
    std::fs::set_permissions(
        &age_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o400),
    )
    .unwrap();

    // The config repo, followed over git like the remote in config.yaml.
    let repo = tmp.path().join("repo");
    support::example::example_repo_git(&repo);
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", tmp.path())
        // deploy/config.yaml
        .env("MLSYNC_REPO", &repo)
        .env("MLSYNC_BRANCH", "main")
        .env("MLSYNC_INTERVAL", "1h")
        .env("MLSYNC_LOG_FORMAT", "json")
        .env("MLSYNC_SOURCE_ID", "example-repo")
        // deploy/deployment.yaml
        .env("POD_NAME", "mlsync-test-pod")
        .env("POD_NAMESPACE", "mlsync-system")
        .env("MLSYNC_LEADER_ELECTION", "true")
        .env("MLSYNC_STATE_DIR", &state)
        .env("SOPS_AGE_KEY_FILE", &age_key)
        .env("MLSYNC_ADMIN_ADDR", format!("0.0.0.0:{port}"))
        // In the pod: the ServiceAccount token; here: a kubeconfig holding only that token.
        .env("MLSYNC_KUBECONFIG", &kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());

    let ready = (0..ATTEMPTS).any(|_| {
        let ok = http_status(port, "/readyz") == Some(200);
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    let holder = || {
        kubectl_ok(
            admin,
            &[
                "-n",
                "mlsync-system",
                "get",
                "lease",
                "mlsync-example-repo",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ],
        )
    };
    let held_by = if ready { holder() } else { String::new() };

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let log = log.join().unwrap();
    assert!(ready, "/readyz never answered 200 as the agent:\n{log}");
    assert!(
        held_by.starts_with("mlsync-test-pod"),
        "lease holder {held_by:?}\n{log}"
    );
    assert!(status.success(), "exit {status} after SIGTERM:\n{log}");
    assert_eq!(
        holder(),
        "",
        "the lease was not released on shutdown\n{log}"
    );
    assert!(!log.to_lowercase().contains("forbidden"), "{log}");

    let names = kubectl_ok(
        admin,
        &["-n", "ml-demo", "get", "deployments,secrets", "-o", "name"],
    );
    for object in [
        "deployment.apps/iris-classifier",
        "secret/image-classifier-secrets",
    ] {
        assert!(
            names.lines().any(|l| l == object),
            "{object} missing\n{log}"
        );
    }
}
