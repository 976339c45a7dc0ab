//! The in-cluster agent manifests in `deploy/` are accepted by a real API server
//! (`kubectl apply --dry-run=server -k deploy/`) and meet the pod hardening the project promises.

use crate::deploy_support;
use crate::support;

use std::collections::BTreeSet;

use deploy_support::{deploy_dir, ensure_namespaces, kubectl};
use support::cluster;

/// The objects `kubectl apply -k deploy/` manages, as kubectl names them.
const OBJECTS: [&str; 10] = [
    "namespace/mlsync-system",
    "namespace/ml-demo",
    "serviceaccount/mlsync",
    "clusterrole.rbac.authorization.k8s.io/mlsync-target",
    "role.rbac.authorization.k8s.io/mlsync-home",
    "rolebinding.rbac.authorization.k8s.io/mlsync-home",
    "rolebinding.rbac.authorization.k8s.io/mlsync-target",
    "configmap/mlsync-config",
    "service/mlsync",
    "deployment.apps/mlsync",
];

/// `kubectl kustomize deploy/` as a list of JSON objects.
fn rendered() -> Vec<serde_json::Value> {
    let out = support::cluster()
        .kubectl()
        .args(["kustomize"])
        .arg(deploy_dir())
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split("\n---\n")
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect()
}

#[test]
fn server_dry_run_accepts_every_manifest() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.blocking_lock();
    let admin = cluster().kubeconfig_path();
    // A server dry run cannot create namespaced objects in a namespace that does not exist yet.
    ensure_namespaces(admin, &["mlsync-system", "ml-demo"]);
    let dir = deploy_dir();
    let out = kubectl(
        admin,
        &["apply", "--dry-run=server", "-k", dir.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dry run failed:\n{stdout}{stderr}");
    for object in OBJECTS {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("{object} ")) && l.ends_with("(server dry run)")),
            "{object} missing from the dry run:\n{stdout}"
        );
    }
    assert!(!stderr.contains("Warning"), "dry run warned:\n{stderr}");
}

#[test]
fn server_dry_run_rejects_an_invalid_manifest() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.blocking_lock();
    // Guards the test above: the API server really validates what the dry run sends.
    let admin = cluster().kubeconfig_path();
    ensure_namespaces(admin, &["mlsync-system"]);
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(deploy_dir().join("deployment.yaml")).unwrap();
    let broken = text.replace("type: RuntimeDefault", "type: NoSuchProfile");
    assert_ne!(text, broken);
    let path = tmp.path().join("deployment.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = kubectl(
        admin,
        &["apply", "--dry-run=server", "-f", path.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("seccompProfile"), "{stderr}");
}

#[test]
fn kustomization_lists_every_manifest_in_deploy() {
    let kustomization: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).unwrap(),
    )
    .unwrap();
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml" && !n.contains("example"))
        .collect();
    assert_eq!(listed, on_disk);
}

#[test]
fn agent_pod_is_hardened() {
    let objects = rendered();
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment in deploy/");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "mlsync");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc["capabilities"]["add"].is_null());
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            assert!(c["resources"][kind][res].is_string(), "no {kind}.{res}");
        }
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let env = c["env"].as_array().unwrap();
    let admin_addr = env
        .iter()
        .find(|e| e["name"] == "MLSYNC_ADMIN_ADDR")
        .expect("MLSYNC_ADMIN_ADDR set");
    assert_eq!(admin_addr["value"], "0.0.0.0:9090");
    // State on an emptyDir; secrets only as files, never as environment values.
    let volumes = pod["volumes"].as_array().unwrap();
    let state = volumes.iter().find(|v| v["name"] == "state").unwrap();
    assert!(state["emptyDir"].is_object());
    assert!(
        env.iter().all(|e| e["valueFrom"]["secretKeyRef"].is_null()),
        "a Secret is passed through the environment"
    );
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == "mlsync-age-key")
    );
}

#[test]
fn target_role_grants_only_what_mlsync_uses() {
    let objects = rendered();
    let role = objects
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "mlsync-target")
        .expect("ClusterRole mlsync-target");
    for rule in role["rules"].as_array().unwrap() {
        if rule["resources"] == serde_json::json!(["namespaces"]) {
            assert_eq!(rule["verbs"], serde_json::json!(["get"]), "{rule}");
        }
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for verb in &verbs {
            assert!(
                ["get", "list", "watch", "create", "patch", "delete"].contains(verb),
                "unexpected verb {verb} in {rule}"
            );
        }
        assert!(
            !rule["resources"].to_string().contains('*'),
            "wildcard in {rule}"
        );
    }
    // Bound per namespace, never cluster-wide.
    assert!(
        !objects.iter().any(|o| o["kind"] == "ClusterRoleBinding"),
        "deploy/ binds a ClusterRole cluster-wide"
    );
}
