//! Helpers for the tests of the shipped manifests in `deploy/`: run the real `kubectl`, and
//! build a kubeconfig that authenticates as a ServiceAccount with a TokenRequest token.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Runs `kubectl --kubeconfig <kubeconfig> <args>`.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    crate::support::cluster()
        .kubectl()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl")
}

/// Runs kubectl and returns stdout, panicking with stderr when it fails.
pub fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl(kubeconfig, args);
    assert!(
        out.status.success(),
        "kubectl {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates each namespace unless it exists (with `--save-config`, so a later
/// `kubectl apply` of the same Namespace neither warns nor conflicts).
pub fn ensure_namespaces(kubeconfig: &Path, names: &[&str]) {
    for name in names {
        let exists = kubectl(kubeconfig, &["get", "namespace", name])
            .status
            .success();
        if !exists {
            let out = kubectl(kubeconfig, &["create", "namespace", name, "--save-config"]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Another test in this binary may have created it in the meantime.
            assert!(
                out.status.success() || stderr.contains("AlreadyExists"),
                "create namespace {name}: {stderr}"
            );
        }
    }
}

/// Writes `<dir>/<user>.kubeconfig` for the admin kubeconfig's current cluster, authenticating
/// with a token for ServiceAccount `namespace/name` from the TokenRequest API. The request is
/// POSTed with `kubectl create --raw` (what `kubectl create token` does; that command only exists
/// from kubectl 1.24, and the tests' kubectl for Kubernetes 1.20 is 1.20). The file holds no
/// other credentials.
pub fn service_account_kubeconfig(
    admin: &Path,
    namespace: &str,
    name: &str,
    dir: &Path,
) -> PathBuf {
    let request = dir.join(format!("{name}.token-request.json"));
    let body = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": { "expirationSeconds": 3600 },
    });
    std::fs::write(&request, body.to_string()).unwrap();
    let uri = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token");
    let response = kubectl_ok(
        admin,
        &["create", "--raw", &uri, "-f", request.to_str().unwrap()],
    );
    std::fs::remove_file(&request).unwrap();
    let response: serde_json::Value = serde_json::from_str(&response).unwrap();
    let token = response["status"]["token"].as_str().unwrap_or_default();
    assert!(!token.is_empty(), "the TokenRequest returned no token");
    let field = |path: &str| {
        kubectl_ok(
            admin,
            &[
                "config",
                "view",
                "--raw",
                "--minify",
                "-o",
                &format!("jsonpath={{.clusters[0].cluster.{path}}}"),
            ],
        )
    };
    let server = field("server");
    let ca = field("certificate-authority-data");
    assert!(
        !server.is_empty() && !ca.is_empty(),
        "admin kubeconfig lacks server or CA data"
    );
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "test", "cluster": {
            "server": server, "certificate-authority-data": ca } }],
        "users": [{ "name": name, "user": { "token": token } }],
        "contexts": [{ "name": name, "context": { "cluster": "test", "user": name } }],
        "current-context": name,
    });
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, serde_json::to_vec_pretty(&kubeconfig).unwrap()).unwrap();
    path
}
